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
)

#: Holder PINs a pin-blocked card can have blocked (and the counters each one blocks).
BLOCKABLE_PINS: dict[str, tuple[str, ...]] = {
    "juki": ("juki", "juki_common"),
    "jpki_auth": ("jpki_auth",),
    "jpki_sign": ("jpki_sign",),
    "support": ("support",),
}
