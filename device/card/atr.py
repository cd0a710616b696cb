"""What an ATR says about the card's command set (ISO 7816-3 / 7816-4 §12.1.1).

A contact ATR of a My Number card ends its historical bytes with a card
capabilities object (compact-TLV tag 7), e.g. ``73 C6 01 C0``: byte 1 bit 3 =
short EF identifiers supported, byte 3 bit 7 = extended Lc/Le supported. A
contactless reader builds its own ATR from the ATQB, which says nothing of
either, so :class:`Capabilities` fields stay ``None`` ("not advertised") and the
session may ask for the contact ATR with GET DATA ``5F51``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Card capabilities; ``None`` = the card did not say."""

    short_ef_ids: bool | None = None
    extended_length: bool | None = None

    @property
    def known(self) -> bool:
        return self.short_ef_ids is not None and self.extended_length is not None


def historical_bytes(atr: bytes) -> bytes | None:
    """The historical bytes of ``atr``, or ``None`` when it does not parse."""
    if len(atr) < 2 or atr[0] not in (0x3B, 0x3F):
        return None
    t0 = atr[1]
    count = t0 & 0x0F
    offset = 2
    indicator = t0 >> 4
    while True:
        # TA, TB, TC present per bits 1..3; TD (bit 4) continues the chain.
        offset += bin(indicator & 0x07).count("1")
        if not indicator & 0x08:
            break
        if offset >= len(atr):
            return None
        indicator = atr[offset] >> 4
        offset += 1
    if offset + count > len(atr):
        return None
    return bytes(atr[offset : offset + count])


def parse_capabilities(atr: bytes) -> Capabilities:
    """Read the card-capabilities object from an ATR's compact-TLV historical bytes."""
    history = historical_bytes(atr)
    if not history or history[0] not in (0x00, 0x80):
        return Capabilities()
    # Category 00 puts three status bytes at the end; 80 may carry status as tag 8.
    body = history[1:-3] if history[0] == 0x00 else history[1:]
    offset = 0
    while offset < len(body):
        tag, length = body[offset] >> 4, body[offset] & 0x0F
        value = body[offset + 1 : offset + 1 + length]
        offset += 1 + length
        if len(value) != length:
            return Capabilities()
        if tag == 0x7 and length >= 1:
            sfi = bool(value[0] & 0x04)
            extended = bool(value[2] & 0x40) if length >= 3 else False
            return Capabilities(short_ef_ids=sfi, extended_length=extended)
    return Capabilities()
