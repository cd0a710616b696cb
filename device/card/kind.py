"""Which kind of card is on the reader, from documented signals, saying so where a signal is weak.

The reference (§11, §14) is explicit that some facts have no public on-chip
signal: the 顔認証 card has no documented flag, a ``6984`` (or ``6A88``) answer to a
counter query can mean "blocked" or "never set", and EF ``0008``'s meaning is inferred
from one card. :func:`classify` never turns those into certainty: it returns the
kind it can defend plus ``uncertain`` notes that the TUI shows the clerk, who
checks the printed card (the 「顔認証」 stamp is authoritative).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from device.card.data import CardFace, TokenType
from device.card.layout import HOLDER_PINS, PinKind
from device.card.pins import PinState
from device.card.reading import IdentityReport, ReadyReport

#: The grace after the card expiry during which it still identifies its holder
#: (domain spec §4.2: 6 months; the day-count rule is open, so callers may change it).
DEFAULT_GRACE_MONTHS = 6


class CardKind(enum.Enum):
    """The card kinds ``card status`` reports."""

    STANDARD = "standard"
    FACE_AUTH = "face_auth"
    JUKI_CARD = "juki_card"
    SMARTPHONE = "smartphone"
    UNKNOWN = "unknown"


class Condition(enum.Enum):
    """States of a card that change what the counter may do with it."""

    EXPIRED_WITHIN_GRACE = "expired_within_grace"
    EXPIRED_BEYOND_GRACE = "expired_beyond_grace"
    PIN_BLOCKED = "pin_blocked"
    NO_SIGN_CERTIFICATE = "no_sign_certificate"
    COUNTERFEIT_SUSPECT = "counterfeit_suspect"
    TEST_CARD = "test_card"


@dataclass(frozen=True)
class Classification:
    """The card kind, its conditions, and what could not be decided from the chip."""

    kind: CardKind
    conditions: list[Condition] = field(default_factory=list)
    blocked_pins: list[PinKind] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, clamped to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError("unreachable")  # pragma: no cover


def expiry_condition(
    expiry: dt.date, today: dt.date, grace_months: int = DEFAULT_GRACE_MONTHS
) -> Condition | None:
    """``None`` while valid (the expiry day itself counts as valid)."""
    if today <= expiry:
        return None
    if today <= add_months(expiry, grace_months):
        return Condition.EXPIRED_WITHIN_GRACE
    return Condition.EXPIRED_BEYOND_GRACE


def _token_kind(ready: ReadyReport, uncertain: list[str]) -> CardKind:
    token = ready.token
    if token is None:
        uncertain.append("no JPKI application answered: not a My Number card, or unreadable")
        return CardKind.UNKNOWN
    if token.token_type is TokenType.MY_NUMBER_CARD:
        return CardKind.STANDARD
    if token.token_type is TokenType.JUKI_CARD:
        return CardKind.JUKI_CARD
    if token.token_type.smartphone:
        if token.token_type is TokenType.IPHONE:
            uncertain.append(
                "iPhone JPKI token: how a PC/SC terminal should use it is not documented "
                "(reference §14.9)"
            )
        return CardKind.SMARTPHONE
    uncertain.append(f"unknown JPKI token name {token.name!r}")
    return CardKind.UNKNOWN


def classify(
    ready: ReadyReport,
    *,
    today: dt.date,
    identity: IdentityReport | None = None,
    grace_months: int = DEFAULT_GRACE_MONTHS,
) -> Classification:
    """Classify from tap-to-ready signals, plus the identity check when one was run."""
    uncertain: list[str] = list(ready.notes)
    conditions: list[Condition] = []
    kind = _token_kind(ready, uncertain)

    if ready.expiry is None:
        if kind in (CardKind.STANDARD, CardKind.FACE_AUTH):
            uncertain.append("card expiry could not be read from the chip; check the card face")
    else:
        condition = expiry_condition(ready.expiry, today, grace_months)
        if condition is not None:
            conditions.append(condition)

    blocked = [k for k in HOLDER_PINS if (s := ready.pins.get(k)) and s.state is PinState.BLOCKED]
    unusable = [
        k for k in HOLDER_PINS if (s := ready.pins.get(k)) and s.state is PinState.UNUSABLE
    ]
    sign_absent = ready.certificates is not None and not ready.certificates.sign

    if kind is CardKind.STANDARD and sign_absent and unusable and set(unusable) >= {
        PinKind.JPKI_AUTH, PinKind.SUPPORT
    }:
        kind = CardKind.FACE_AUTH
        uncertain.append(
            "顔認証 card inferred from: no signature certificate and holder PINs that answer "
            "'not set or blocked' (6984 or 6A88). No public source documents an on-chip flag "
            "(reference §11.2, §14.8); confirm the 「顔認証」 stamp on the card"
        )
    elif unusable and sign_absent and PinKind.JPKI_SIGN in unusable:
        # No signature certificate, so no password was set (under 15, or not issued).
        unusable.remove(PinKind.JPKI_SIGN)
        uncertain.append(
            "jpki_sign: not usable, consistent with the missing signature certificate"
        )
    if unusable and kind is not CardKind.FACE_AUTH:
        blocked += unusable
        names = ", ".join(k.value for k in unusable)
        uncertain.append(
            f"{names}: the card answers 'blocked or not set' (6984 or 6A88); the two cannot be "
            "told apart on the chip (reference §14.6)"
        )
    if identity is not None:
        _apply_identity(identity, kind, conditions, uncertain)
        if identity.card_face is not None and face_stamp(identity.card_face):
            kind = CardKind.FACE_AUTH
    if blocked and kind is not CardKind.FACE_AUTH:
        conditions.append(Condition.PIN_BLOCKED)
    if sign_absent and kind is CardKind.STANDARD:
        conditions.append(Condition.NO_SIGN_CERTIFICATE)
        uncertain.append(
            "no signature certificate (EF 0008 byte 0): under 15, not issued, or revoked; "
            "EF 0008's meaning is known from one card only (reference §3)"
        )
    return Classification(
        kind=kind,
        conditions=conditions,
        blocked_pins=[] if kind is CardKind.FACE_AUTH else blocked,
        uncertain=uncertain,
    )


def _apply_identity(
    identity: IdentityReport, kind: CardKind, conditions: list[Condition], uncertain: list[str]
) -> None:
    del kind
    genuine = identity.genuine
    if genuine is False:
        conditions.append(Condition.COUNTERFEIT_SUSPECT)
    elif genuine is None:
        uncertain.extend(
            f"{check.name}: {check.detail}" for check in identity.checks if check.ok is None
        )
    if identity.test_card:
        conditions.append(Condition.TEST_CARD)


def face_stamp(face: CardFace) -> bool:
    """Whether the card face carries the 「顔認証」 追記欄 stamp (DF2B; simulator layout)."""
    return face.endorsement is not None and "顔認証" in face.endorsement
