"""The PIN types a My Number Card holder may be asked for, and their rules.

Lengths and alphabets follow the card (see the JPKI card protocol notes): the
three 4-digit PINs, and the JPKI signature password of 6–16 upper-case letters
and digits with at least one of each, typed on a numeric pad by multi-tap.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class PinProblem(enum.Enum):
    """Why a key or an Enter was refused. Says nothing about the PIN's content
    beyond the public rule it breaks."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    NEEDS_LETTER_AND_DIGIT = "needs_letter_and_digit"
    KEY_NOT_USED = "key_not_used"


@dataclass(frozen=True, slots=True)
class PinSpec:
    """What one kind of PIN looks like.

    :param name: identifier of the PIN (glossary style).
    :param min_length: fewest characters Enter accepts.
    :param max_length: most characters the buffer takes.
    :param multitap: letters are typed by multi-tap on the digit keys.
    :param letter_and_digit: at least one letter and one digit are required.
    """

    name: str
    min_length: int
    max_length: int
    multitap: bool = False
    letter_and_digit: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError(f"PIN spec {self.name}: need 1 <= min_length <= max_length")

    def check(self, pin: bytes | bytearray | memoryview) -> PinProblem | None:
        """The rule ``pin`` breaks at Enter, or ``None`` if it may be sent to the card."""
        if len(pin) < self.min_length:
            return PinProblem.TOO_SHORT
        if len(pin) > self.max_length:
            return PinProblem.TOO_LONG
        if self.letter_and_digit:
            has_digit = any(0x30 <= b <= 0x39 for b in pin)
            has_letter = any(0x41 <= b <= 0x5A for b in pin)
            if not (has_digit and has_letter):
                return PinProblem.NEEDS_LETTER_AND_DIGIT
        return None


#: 利用者証明用電子証明書 暗証番号 (JPKI user authentication, key EF 0018)
USER_AUTH_PIN = PinSpec("jpki_user_auth_pin", 4, 4)
#: 署名用電子証明書 暗証番号 (JPKI signature password, key EF 001B)
SIGNATURE_PASSWORD = PinSpec(
    "jpki_signature_password", 6, 16, multitap=True, letter_and_digit=True
)
#: 券面事項入力補助用 暗証番号 (card input assistance AP, key EF 0011)
CARD_INPUT_ASSIST_PIN = PinSpec("card_input_assist_pin", 4, 4)
#: 住民基本台帳用 暗証番号 (juki application)
JUKI_PIN = PinSpec("juki_pin", 4, 4)

PIN_SPECS: dict[str, PinSpec] = {
    spec.name: spec
    for spec in (USER_AUTH_PIN, SIGNATURE_PASSWORD, CARD_INPUT_ASSIST_PIN, JUKI_PIN)
}
