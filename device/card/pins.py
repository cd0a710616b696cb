"""PIN counters and PIN form checks: the parts of PIN safety that need no card.

A :class:`PinStatus` is what one non-consuming query (``00 20 00 80``) said.
:func:`check_form` refuses a PIN of the wrong shape before any APDU, so a typo
that the card would count as a wrong try never reaches it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from device.card.errors import PinFormatError, ReaderPinStructureError, status_error
from device.card.layout import KeyFormat, PinKind
from drivers import part10
from madoguchi.errors import StatusWordError

#: What a holder PIN that was never set (or is blocked) answers: SOL saw ``6984``
#: ("reference data not usable"); another card answered ``6A88`` ("reference data not
#: found") for its unset PINs (issue 14). Both mean "not set or blocked".
UNSET_OR_BLOCKED = (0x6984, 0x6A88)


def unset_or_blocked(kind: PinKind, sw: int) -> bool:
    """Whether ``sw`` from ``kind``'s key says "not set or blocked".

    ``6A88`` counts only for the holder's PINs (and the 住基AP twin of the 住基 PIN):
    on a 照合番号 key, which every card sets, it is an unexpected answer.
    """
    if sw == 0x6984:
        return True
    return sw == 0x6A88 and (kind.holder_pin or kind is PinKind.JUKI_LEGACY)


class PinState(enum.Enum):
    """What a try-counter query found."""

    AVAILABLE = "available"  # tries left > 1
    LAST_TRY = "last_try"  # exactly 1 left: VERIFY needs confirmation
    BLOCKED = "blocked"  # 0 left (63C0): never VERIFY
    #: 6984 (or 6A88 for a holder PIN): blocked or never set (face-auth); the card does not
    #: say which.
    UNUSABLE = "unusable"
    VERIFIED = "verified"  # card answered 9000: already verified, count not reported
    NO_LIMIT = "no_limit"  # 6300: the key has no counter
    ABSENT = "absent"  # no such key on this card (6A82)


@dataclass(frozen=True, slots=True)
class PinStatus:
    """Tries left of one key, as the card reported them just now."""

    kind: PinKind
    state: PinState
    remaining: int | None
    max_tries: int | None

    @property
    def usable(self) -> bool:
        """Whether a VERIFY may be sent at all (the last try still needs confirmation)."""
        return self.state in (PinState.AVAILABLE, PinState.LAST_TRY, PinState.NO_LIMIT)


def status_from_query(kind: PinKind, sw: int) -> PinStatus:
    """Interpret the status word of an empty VERIFY on ``kind``'s key EF.

    Raises the typed :class:`StatusWordError` for answers that are not a count.
    """
    max_tries = kind.key.max_tries
    if sw >> 4 == 0x63C:
        remaining = sw & 0x0F
        if remaining == 0:
            state = PinState.BLOCKED
        elif remaining == 1:
            state = PinState.LAST_TRY
        else:
            state = PinState.AVAILABLE
        return PinStatus(kind, state, remaining, max_tries)
    if unset_or_blocked(kind, sw):
        # Reference §14.6/§14.8: a blocked key may answer 6984, and so may an unset one;
        # some cards answer 6A88 for an unset holder PIN.
        return PinStatus(kind, PinState.UNUSABLE, 0, max_tries)
    if sw == 0x9000:
        return PinStatus(kind, PinState.VERIFIED, None, max_tries)
    if sw == 0x6300:
        return PinStatus(kind, PinState.NO_LIMIT, None, None)
    if sw == 0x6A82:
        return PinStatus(kind, PinState.ABSENT, None, max_tries)
    error: StatusWordError = status_error(sw, f"try-counter query of the {kind.key.label}")
    raise error


def _is_digits(secret: bytearray) -> bool:
    return all(0x30 <= byte <= 0x39 for byte in secret)


def check_form(kind: PinKind, secret: bytearray) -> None:
    """Refuse a PIN of the wrong form. Upper-cases a signature password in place.

    The message names the key and the rule, never the value.
    """
    if not isinstance(secret, bytearray):
        raise PinFormatError("a PIN must be passed as a bytearray so that it can be wiped")
    form = kind.key.form
    label = kind.key.label
    if form is KeyFormat.DIGITS4:
        if len(secret) != 4 or not _is_digits(secret):
            raise PinFormatError(f"the {label} must be {form.value}")
    elif form is KeyFormat.COLLATION_B:
        if len(secret) != 14 or not _is_digits(secret):
            raise PinFormatError(f"the {label} must be {form.value}")
    else:
        for index, byte in enumerate(secret):
            if 0x61 <= byte <= 0x7A:  # the card stores upper case; MYNA upper-cases too
                secret[index] = byte - 0x20
        has_letter = any(0x41 <= byte <= 0x5A for byte in secret)
        has_digit = any(0x30 <= byte <= 0x39 for byte in secret)
        allowed = all(0x41 <= byte <= 0x5A or 0x30 <= byte <= 0x39 for byte in secret)
        if not (6 <= len(secret) <= 16 and allowed and has_letter and has_digit):
            raise PinFormatError(
                f"the {label} must be {form.value}, with at least one letter and one digit"
            )


#: The VERIFY of the current key EF: the only command a reader's PIN pad may send for us.
VERIFY_CURRENT_KEY = b"\x00\x20\x00\x80"
#: PIN lengths each key form accepts (fewest, most).
FORM_LENGTHS = {KeyFormat.DIGITS4: (4, 4), KeyFormat.COLLATION_B: (14, 14),
                KeyFormat.SIGN_PASSWORD: (6, 16)}


def check_reader_structure(kind: PinKind, structure: bytes) -> None:
    """Refuse a Part 10 ``PIN_VERIFY_STRUCTURE`` that does not VERIFY ``kind``'s key.

    The session's tries-left query selects ``kind``'s key EF right before the
    structure goes to the reader, so the command must be ``00 20 00 80`` (VERIFY
    of the current key EF, never another command or key reference), with ``Lc``
    equal to the PIN block the reader fills in, and the digits the reader accepts
    within the lengths the key takes. Checked before any APDU; names the key, not
    the bytes.
    """
    label = kind.key.label
    try:
        asked = part10.parse_verify_pin_direct(structure)
    except ValueError as exc:
        raise ReaderPinStructureError(f"the reader PIN structure for the {label} is "
                                      f"malformed: {exc}") from None
    command = asked.apdu
    if command[:4] != VERIFY_CURRENT_KEY:
        raise ReaderPinStructureError(
            f"the reader PIN structure is not the VERIFY of the {label} "
            f"(its command starts {command[:4].hex(' ')}, expected 00 20 00 80)")
    block = asked.pin_block_size
    if len(command) != 5 + block or command[4] != block:
        raise ReaderPinStructureError(
            f"the reader PIN structure for the {label} has a Lc or length that does not "
            f"match its {block}-byte PIN block")
    shortest, longest = FORM_LENGTHS[kind.key.form]
    if not shortest <= asked.min_digits <= asked.max_digits <= min(longest, block):
        raise ReaderPinStructureError(
            f"the reader would accept {asked.min_digits}-{asked.max_digits} characters, "
            f"the {label} takes {shortest}-{longest}")
