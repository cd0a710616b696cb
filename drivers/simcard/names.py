"""Profile and PIN names, importable without loading the card (the CLI parser uses them)."""

from __future__ import annotations

PROFILES: tuple[str, ...] = (
    "standard",
    "face-auth",
    "expired",
    "pin-blocked",
    "under-15",
    "juki-card",
    "android",
    "counterfeit",
    "slow",
    "flaky",
    "defective",
)

#: What a ``defective`` card gets wrong (issue 14: cards that are not the project's own).
#: ``cv-*`` apply to the CV certificates (EF 0004) of both the 入力補助AP and the 券面AP.
DEFECTS: dict[str, str] = {
    "cv-refused": "READ BINARY of EF 0004 answers 6986 (command not allowed)",
    "cv-absent": "EF 0004 does not exist (6A82)",
    "cv-malformed": "EF 0004's key ids hold no digits",
    "cv-unknown-issuer": "EF 0004 names CV issuers 5000033 / 5000023 (production ids)",
    "cv-bad-signature": "EF 0004 is signed by a key that is not the CV issuer's",
    "basic4-absent": "入力補助 EF 0002 (基本4情報) does not exist",
    "face-absent": "券面 EF 0002 (the card face) does not exist",
    "photo-absent": "the card face has no photo (DF27)",
    "photo-swapped": "the photo (DF27) is another face than the one the issuer signed",
    "photo-undecodable": "the photo (DF27) is signed but is not a decodable JPEG 2000",
}

#: How a card answers a holder PIN that was never set (face-auth, under-15's signature
#: password): SOL saw 6984; another card answered 6A88 (issue 14).
UNSET_PIN_ANSWERS: dict[str, int] = {"6984": 0x6984, "6A88": 0x6A88}

#: Holder PINs a pin-blocked card can have blocked (and the counters each one blocks).
BLOCKABLE_PINS: dict[str, tuple[str, ...]] = {
    "juki": ("juki", "juki_common"),
    "jpki_auth": ("jpki_auth",),
    "jpki_sign": ("jpki_sign",),
    "support": ("support",),
}
