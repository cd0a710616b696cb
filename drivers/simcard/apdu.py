"""Parsing command APDUs into the four ISO 7816-4 cases, short and extended.

The card answers any byte string, so parsing never raises: a command that fits no case comes
back as the status word ``6700`` (wrong length) for the card to send.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Largest R-APDU data field the card sends: a vpcd frame carries at most 65,535 bytes,
#: and two of them are the status word (test-stack.md, pitfall 2).
MAX_RESPONSE_DATA = 65_533

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed C-APDU. ``ne`` is the expected response length (``None`` when no Le)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    ne: int | None
    extended: bool

    @property
    def has_data(self) -> bool:
        return bool(self.data)


def parse_command(raw: bytes) -> Command | int:  # noqa: PLR0911 - one exit per ISO case
    """Split ``raw`` into a :class:`Command`, or return ``6700`` when it fits no case."""
    n = len(raw)
    if n < 4:
        return SW_WRONG_LENGTH
    cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]

    def make(data: bytes, ne: int | None, extended: bool) -> Command:
        return Command(cla, ins, p1, p2, data, ne, extended)

    if n == 4:
        return make(b"", None, False)  # case 1
    b4 = raw[4]
    if n == 5:
        return make(b"", b4 or 256, False)  # case 2 short
    if b4 != 0:
        lc = b4
        if n == 5 + lc:
            return make(raw[5:], None, False)  # case 3 short
        if n == 6 + lc:
            return make(raw[5:-1], raw[-1] or 256, False)  # case 4 short
        return SW_WRONG_LENGTH
    # b4 == 0 and more than 5 bytes: extended length.
    if n < 7:
        return SW_WRONG_LENGTH
    if n == 7:
        le = int.from_bytes(raw[5:7], "big")
        return make(b"", le or 65_536, True)  # case 2 extended
    lc = int.from_bytes(raw[5:7], "big")
    if lc == 0:
        return SW_WRONG_LENGTH
    if n == 7 + lc:
        return make(raw[7:], None, True)  # case 3 extended
    if n == 9 + lc:
        le = int.from_bytes(raw[-2:], "big")
        return make(raw[7:-2], le or 65_536, True)  # case 4 extended
    return SW_WRONG_LENGTH
