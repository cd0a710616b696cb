"""Where things live on a My Number card: applications, EFs and key references.

Facts from the protocol reference (§2–§6). Every name is the counter's word for
the thing; the hex is the card's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Application(enum.Enum):
    """The card applications, by AID."""

    JPKI = bytes.fromhex("D392F000260100000001")
    SUPPORT = bytes.fromhex("D3921000310001010408")  # 券面事項入力補助AP
    CARD_FACE = bytes.fromhex("D3921000310001010402")  # 券面事項確認AP (券面AP)
    JUKI = bytes.fromhex("D3921000310001010401")  # 住基AP (SOL's name)
    COMMON = bytes.fromhex("D3921000310001010100")  # 共通カードAP (SOL's name)

    @property
    def aid(self) -> bytes:
        return self.value

    @property
    def label(self) -> str:
        return _APP_LABELS[self]


_APP_LABELS = {
    Application.JPKI: "JPKI application",
    Application.SUPPORT: "券面事項入力補助 application",
    Application.CARD_FACE: "券面事項確認 application",
    Application.JUKI: "住基 application",
    Application.COMMON: "共通 application",
}


# --- JPKI-AP EFs ---
JPKI_SIGN_CERT = 0x0001
JPKI_SIGN_CA_CERT = 0x0002
JPKI_TOKEN_INFO = 0x0006
JPKI_CERT_PRESENCE = 0x0008
JPKI_AUTH_CERT = 0x000A
JPKI_AUTH_CA_CERT = 0x000B
JPKI_AUTH_KEY = 0x0017
JPKI_SIGN_KEY = 0x001A
#: Bytes of EF 0006 that hold the token name (space padded).
TOKEN_NAME_LENGTH = 32
#: Bytes of EF 0008.
CERT_PRESENCE_LENGTH = 3

# --- 券面事項入力補助AP EFs ---
SUPPORT_MY_NUMBER = 0x0001
SUPPORT_BASIC4 = 0x0002
SUPPORT_INTEGRITY = 0x0003
SUPPORT_CV_CERT = 0x0004
SUPPORT_AP_INFO = 0x0005

# --- 券面AP EFs ---
CARD_FACE_DATA = 0x0002
CARD_FACE_AP_INFO = 0x0003
CARD_FACE_CV_CERT = 0x0004

# --- 共通AP ---
COMMON_RECORD = 0x0001

#: MF-level GET DATA tag of the card expiry (8 ASCII digits).
GET_DATA_EXPIRY = 0x00F2
#: GET DATA tag returning the contact ATR (without ``3B``).
GET_DATA_CONTACT_ATR = 0x5F51


class KeyFormat(enum.Enum):
    """What a key accepts, checked before any APDU is sent."""

    DIGITS4 = "4 digits"
    SIGN_PASSWORD = "6-16 characters A-Z and 0-9"  # noqa: S105 - a rule, not a password
    COLLATION_B = "14 digits (birth date YYMMDD, expiry year, security code)"


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A key EF (PIN, password or 照合番号) inside an application."""

    app: Application
    fid: int
    max_tries: int | None
    form: KeyFormat
    label: str


class PinKind(enum.Enum):
    """The four holder PINs the counter reports, plus the 照合番号B keys it verifies."""

    JUKI = "juki"
    JUKI_LEGACY = "juki_legacy"
    JPKI_AUTH = "jpki_auth"
    JPKI_SIGN = "jpki_sign"
    SUPPORT = "support"
    SUPPORT_COLLATION_B = "support_collation_b"
    CARD_FACE_COLLATION_B = "card_face_collation_b"

    @property
    def key(self) -> KeyRef:
        return KEYS[self]

    @property
    def holder_pin(self) -> bool:
        """One of the four PINs the holder sets (not a 照合番号)."""
        return self in HOLDER_PINS


KEYS: dict[PinKind, KeyRef] = {
    # The 住基 PIN has two key refs with separate counters (reference §6). TRET reads the
    # My Number card's in 共通AP …0100; the old 住基カード only has the 住基AP …0401 one.
    PinKind.JUKI: KeyRef(
        Application.COMMON, 0x001C, 3, KeyFormat.DIGITS4, "住民基本台帳用暗証番号"
    ),
    PinKind.JUKI_LEGACY: KeyRef(
        Application.JUKI, 0x001C, 3, KeyFormat.DIGITS4, "住民基本台帳用暗証番号 (住基AP)"
    ),
    PinKind.JPKI_AUTH: KeyRef(
        Application.JPKI, 0x0018, 3, KeyFormat.DIGITS4, "利用者証明用電子証明書の暗証番号"
    ),
    PinKind.JPKI_SIGN: KeyRef(
        Application.JPKI, 0x001B, 5, KeyFormat.SIGN_PASSWORD, "署名用電子証明書の暗証番号"
    ),
    PinKind.SUPPORT: KeyRef(
        Application.SUPPORT, 0x0011, 3, KeyFormat.DIGITS4, "券面事項入力補助用暗証番号"
    ),
    # Retry limits of the 照合番号 keys are not public (reference §14.3).
    PinKind.SUPPORT_COLLATION_B: KeyRef(
        Application.SUPPORT, 0x0015, None, KeyFormat.COLLATION_B, "照合番号B (入力補助)"
    ),
    PinKind.CARD_FACE_COLLATION_B: KeyRef(
        Application.CARD_FACE, 0x0012, None, KeyFormat.COLLATION_B, "照合番号B (券面)"
    ),
}

HOLDER_PINS: tuple[PinKind, ...] = (
    PinKind.JUKI,
    PinKind.JPKI_AUTH,
    PinKind.JPKI_SIGN,
    PinKind.SUPPORT,
)
