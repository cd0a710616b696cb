"""Typed errors of the card-session layer, leaves of :mod:`madoguchi.errors`.

Every status word a My Number card can answer maps to one class here through
:func:`status_error`, so callers catch ``PinBlockedError`` rather than compare
``0x6984``. Messages say what happened in the counter's words and never carry a
PIN, a password, 照合番号 digits or a My Number: at most the *name* of the key
(``"JPKI user-authentication PIN"``) and counts.
"""

from __future__ import annotations

from madoguchi.errors import CardError, PinError, ReaderError, StatusWordError


class WrongPinError(StatusWordError):
    """VERIFY refused the PIN (``63Cx``); ``remaining`` tries are left (0 = now blocked)."""

    def __init__(self, message: str, *, sw: int, remaining: int) -> None:
        super().__init__(message, sw=sw)
        self.remaining = remaining


class PinBlockedError(StatusWordError):
    """The key is blocked (``6984``, or ``63C0`` on a query): no VERIFY can succeed."""


class SecurityStatusError(StatusWordError):
    """``6982``: the file or key needs a PIN (or 照合番号) that was not verified."""


class ConditionsNotSatisfiedError(StatusWordError):
    """``6985``: the command is not allowed in the card's current state."""


class CardFileNotFoundError(StatusWordError):
    """``6A82``: no such application or file on this card."""


class WrongParametersError(StatusWordError):
    """``6A86`` / ``6B00``: P1-P2 not accepted (unsupported addressing, or past end of file)."""


class FunctionNotSupportedError(StatusWordError):
    """``6A81`` / ``6D00`` / ``6E00``: the card does not implement this command or class."""


class DataNotFoundError(StatusWordError):
    """``6A88``: the GET DATA object is absent."""


class WrongLengthError(StatusWordError):
    """``6700`` / ``6Cxx``: Lc or Le not accepted."""


class SecureMessagingRefusedError(StatusWordError):
    """``6882`` / ``69FC``: a secure-messaging class byte was refused."""


class UnknownStatusWordError(StatusWordError):
    """A status word this layer has no meaning for."""


class ChipSignatureError(CardError):
    """A chip data signature or CV certificate did not verify (counterfeit suspect)."""


class TrustAnchorError(CardError):
    """No configured trust anchor matches the card's CV certificate issuer."""


class PinPolicyError(PinError):
    """The PIN-safety policy refused an action. Never carries the PIN."""


class PinCounterUnknownError(PinPolicyError):
    """The session lost track of a try counter (card pulled mid-VERIFY); re-read it first."""


class LastTryNotConfirmedError(PinPolicyError):
    """Only one try is left and the caller did not pass ``confirm_last_try=True``."""


class PinExhaustedError(PinPolicyError):
    """No tries are left: this layer never sends VERIFY to a blocked key."""


class PinFormatError(PinPolicyError, ValueError):
    """The PIN does not have the form this key accepts (checked before any APDU)."""


class ReaderPinStructureError(PinPolicyError, ValueError):
    """A PC/SC Part 10 ``PIN_VERIFY_STRUCTURE`` does not VERIFY the key it was given for.

    Refused before any APDU: its command must be the VERIFY of the key EF the
    tries-left query has just selected (``00 20 00 80``), with room for exactly the
    PIN lengths that key accepts. Otherwise the PIN typed on the reader could go to
    another key (or another command) than the one whose tries were read and
    confirmed.
    """


class PinEntryCancelledError(PinPolicyError):
    """The applicant cancelled PIN entry on the reader, or it timed out; no try was spent."""


class PinNotSetError(PinPolicyError):
    """The card reports no counter for this key (face-authentication cards set no PINs)."""


class PinChangeUncertainError(ReaderError):
    """The link failed while CHANGE REFERENCE DATA (or CHANGE KEY) was on its way.

    The current PIN had been verified; whether the card now holds the old or the new
    PIN is unknown. Nothing is resent: the holder tries the new PIN (its counter is
    read first, as for any VERIFY) to find out.
    """


_FIXED: dict[int, tuple[type[StatusWordError], str]] = {
    0x6984: (PinBlockedError, "is blocked (no tries left)"),
    0x6982: (SecurityStatusError, "needs a PIN or 照合番号 that has not been verified"),
    0x6985: (ConditionsNotSatisfiedError, "is not allowed in the card's current state"),
    0x6A82: (CardFileNotFoundError, "does not exist on this card"),
    0x6A86: (WrongParametersError, "was refused: incorrect P1/P2"),
    0x6B00: (WrongParametersError, "was refused: offset beyond the end of the file"),
    0x6A81: (FunctionNotSupportedError, "is not supported by this card"),
    0x6D00: (FunctionNotSupportedError, "is not supported by this card (instruction)"),
    0x6E00: (FunctionNotSupportedError, "is not supported by this card (class)"),
    0x6A88: (DataNotFoundError, "found no such data object"),
    0x6700: (WrongLengthError, "was refused: wrong length"),
    0x6882: (SecureMessagingRefusedError, "was refused: secure messaging not supported"),
    0x69FC: (SecureMessagingRefusedError, "was refused: secure messaging not supported"),
}


def status_error(sw: int, doing: str) -> StatusWordError:
    """The typed error for status word ``sw`` returned while ``doing`` something.

    ``doing`` names the action or key (e.g. ``"VERIFY of the JPKI signature
    password"``); it must never contain secret data.
    """
    if sw >> 4 == 0x63C:
        remaining = sw & 0x0F
        if remaining == 0:
            return WrongPinError(f"{doing}: wrong; the key is now blocked", sw=sw, remaining=0)
        tries = "try" if remaining == 1 else "tries"
        return WrongPinError(
            f"{doing}: wrong; {remaining} {tries} left", sw=sw, remaining=remaining
        )
    if sw >> 8 == 0x6C:
        return WrongLengthError(f"{doing}: card asks for Le={sw & 0xFF}", sw=sw)
    fixed = _FIXED.get(sw)
    if fixed is not None:
        cls, text = fixed
        return cls(f"{doing} {text}", sw=sw)
    return UnknownStatusWordError(f"{doing} failed with an unexpected status", sw=sw)
