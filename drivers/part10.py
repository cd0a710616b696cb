"""PC/SC Part 10 secure PIN entry: pure builders and parsers, no I/O.

When the card reader has its own PIN pad and advertises
``FEATURE_VERIFY_PIN_DIRECT``, the PIN is typed on the reader and inserted into
the VERIFY APDU by the reader itself, so it never passes through the Pi. The
host sends a ``PIN_VERIFY_STRUCTURE`` with ``SCardControl`` and receives only the
card's status word.

Layout of ``PIN_VERIFY_STRUCTURE`` (PC/SC Part 10; pcsc-lite ``reader.h``,
packed, multi-byte fields little-endian)::

    off size field
      0  1   bTimerOut                 seconds, 0 = reader default
      1  1   bTimerOut2                seconds after the first key
      2  1   bmFormatString            units, PIN position, justification, format
      3  1   bmPINBlockString          length-field bits (7-4), PIN block bytes (3-0)
      4  1   bmPINLengthFormat         units, position of the length field
      5  2   wPINMaxExtraDigit         0xXXYY: XX = minimum, YY = maximum digits
      7  1   bEntryValidationCondition 0x02 = validation key pressed
      8  1   bNumberMessage
      9  2   wLangId
     11  1   bMsgIndex
     12  3   bTeoPrologue              zeros (T=1 prologue filled by the driver)
     15  4   ulDataLength              length of abData
     19  n   abData                    the VERIFY APDU with room for the PIN

This module only builds and parses bytes. The lead's ``drivers/transport/pcsc.py``
sends them (``SCardControl`` on the ``PcscReader``'s card handle); see
``docs/pinpad.md`` for the call sequence.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from madoguchi.errors import ReaderError

#: Part 10 feature tags (pcsc-lite ``reader.h``)
FEATURE_VERIFY_PIN_DIRECT = 0x06
FEATURE_MODIFY_PIN_DIRECT = 0x07
FEATURE_IFD_PIN_PROPERTIES = 0x0A
FEATURE_GET_TLV_PROPERTIES = 0x12


def scard_ctl_code(code: int) -> int:
    """``SCARD_CTL_CODE(code)`` as pcsc-lite defines it (Linux, the Pi)."""
    return 0x42000000 + code


#: ``CM_IOCTL_GET_FEATURE_REQUEST``: the control code that lists the features
CM_IOCTL_GET_FEATURE_REQUEST = scard_ctl_code(3400)

#: ``bEntryValidationCondition``: entry ends when the validation key is pressed
ENTRY_VALIDATION_KEY = 0x02

_HEADER = struct.Struct("<BBBBBHBBHB3sI")


class Part10AnswerError(ReaderError, ValueError):
    """A Part 10 answer from the reader (feature list, VERIFY result) does not parse."""


class PinFormat(enum.IntEnum):
    """How the reader encodes each PIN digit (``bmFormatString`` bits 1-0)."""

    BINARY = 0
    BCD = 1
    ASCII = 2


def format_string(
    fmt: PinFormat, *, position: int = 0, units_bytes: bool = True, right_justify: bool = False
) -> int:
    """Compose ``bmFormatString``.

    :param fmt: digit encoding.
    :param position: where the PIN starts in the APDU data field (in units).
    :param units_bytes: position counted in bytes (else bits).
    :param right_justify: right-justify the PIN in its block.
    """
    if not 0 <= position <= 15:
        raise ValueError("PIN position must be 0..15 units")
    return (units_bytes << 7) | (position << 3) | (right_justify << 2) | int(fmt)


def build_verify_pin_direct(
    apdu_header: bytes,
    *,
    min_digits: int,
    max_digits: int,
    pin_block_size: int,
    fmt: PinFormat = PinFormat.ASCII,
    timeout: int = 0,
    timeout_after_first_key: int = 0,
    lang_id: int = 0x0411,
    number_message: int = 1,
    message_index: int = 0,
    length_field_bits: int = 0,
    length_format: int = 0,
    pad_byte: int = 0x00,
    entry_validation: int = ENTRY_VALIDATION_KEY,
) -> bytes:
    """Build a ``PIN_VERIFY_STRUCTURE`` for a VERIFY whose PIN the reader fills in.

    :param apdu_header: CLA INS P1 P2 of the VERIFY (JPKI: ``00 20 00 80``).
    :param min_digits: fewest digits the reader accepts.
    :param max_digits: most digits the reader accepts.
    :param pin_block_size: bytes reserved for the PIN in the APDU (becomes Lc).
    :param fmt: how digits are encoded (JPKI: ASCII).
    :param timeout: ``bTimerOut``, seconds, 0 = reader default.
    :param timeout_after_first_key: ``bTimerOut2``, seconds.
    :param lang_id: ``wLangId`` for the reader's display (0x0411 = Japanese).
    :param number_message: ``bNumberMessage``.
    :param message_index: ``bMsgIndex``.
    :param length_field_bits: bits 7-4 of ``bmPINBlockString`` (0 = no length in the APDU).
    :param length_format: ``bmPINLengthFormat``.
    :param pad_byte: filler for the PIN block the reader overwrites.
    :param entry_validation: ``bEntryValidationCondition``.
    :raises ValueError: a field is out of its range.
    """
    if len(apdu_header) != 4:
        raise ValueError("apdu_header must be CLA INS P1 P2 (4 bytes)")
    if not 1 <= min_digits <= max_digits <= 0xFF:
        raise ValueError("need 1 <= min_digits <= max_digits <= 255")
    if not 1 <= pin_block_size <= 15:
        raise ValueError("pin_block_size must be 1..15 bytes (4 bits in bmPINBlockString)")
    if not 0 <= length_field_bits <= 15:
        raise ValueError("length_field_bits must be 0..15")
    if entry_validation not in range(1, 8):
        # CCID readers misbehave on 0 or > 7 (the CCID driver forces 0x02)
        raise ValueError("entry_validation must be 1..7")
    for name, value in (
        ("timeout", timeout),
        ("timeout_after_first_key", timeout_after_first_key),
        ("number_message", number_message),
        ("message_index", message_index),
        ("length_format", length_format),
        ("pad_byte", pad_byte),
    ):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"{name} must fit in one byte")
    if not 0 <= lang_id <= 0xFFFF:
        raise ValueError("lang_id must fit in two bytes")
    apdu = bytes(apdu_header) + bytes([pin_block_size]) + bytes([pad_byte]) * pin_block_size
    header = _HEADER.pack(
        timeout,
        timeout_after_first_key,
        format_string(fmt),
        (length_field_bits << 4) | pin_block_size,
        length_format,
        (min_digits << 8) | max_digits,
        entry_validation,
        number_message,
        lang_id,
        message_index,
        b"\x00\x00\x00",
        len(apdu),
    )
    return header + apdu


def build_jpki_verify_pin_direct(
    *, digits: int = 4, timeout: int = 30, timeout_after_first_key: int = 15
) -> bytes:
    """The structure for a 4-digit JPKI PIN (``00 20 00 80 04`` + 4 ASCII digits).

    The JPKI signature password (letters) cannot be typed on a numeric reader
    pad; it always goes through the GPIO pad's multi-tap entry.
    """
    return build_verify_pin_direct(
        bytes.fromhex("00200080"),
        min_digits=digits,
        max_digits=digits,
        pin_block_size=digits,
        fmt=PinFormat.ASCII,
        timeout=timeout,
        timeout_after_first_key=timeout_after_first_key,
    )


@dataclass(frozen=True, slots=True)
class VerifyPinDirect:
    """What a ``PIN_VERIFY_STRUCTURE`` asks the reader to do (:func:`parse_verify_pin_direct`)."""

    min_digits: int
    max_digits: int
    pin_block_size: int
    apdu: bytes
    """``abData``: the command the reader sends with the typed PIN filled in."""


def parse_verify_pin_direct(structure: bytes) -> VerifyPinDirect:
    """Read back a ``PIN_VERIFY_STRUCTURE`` (the inverse of :func:`build_verify_pin_direct`).

    :raises ValueError: shorter than the header, or ``ulDataLength`` does not match
        the bytes that follow it.
    """
    if len(structure) < _HEADER.size:
        raise ValueError(f"PIN_VERIFY_STRUCTURE has {len(structure)} bytes, fewer than "
                         f"its {_HEADER.size}-byte header")
    fields = _HEADER.unpack_from(structure)
    block_string, extra_digit, data_length = fields[3], fields[5], fields[11]
    apdu = bytes(structure[_HEADER.size :])
    if data_length != len(apdu):
        raise ValueError(f"ulDataLength says {data_length} bytes of APDU, {len(apdu)} follow")
    return VerifyPinDirect(
        min_digits=extra_digit >> 8,
        max_digits=extra_digit & 0xFF,
        pin_block_size=block_string & 0x0F,
        apdu=apdu,
    )


def parse_features(answer: bytes) -> dict[int, int]:
    """Parse the GET_FEATURE_REQUEST answer: tag -> control code.

    Each entry is a tag byte, a length byte (4) and a big-endian control code.

    :raises Part10AnswerError: a truncated entry or a length other than 4.
    """
    features: dict[int, int] = {}
    offset = 0
    while offset < len(answer):
        if offset + 2 > len(answer):
            raise Part10AnswerError(f"feature list truncated at byte {offset}")
        tag, length = answer[offset], answer[offset + 1]
        if length != 4:
            raise Part10AnswerError(f"feature 0x{tag:02X} has length {length}, expected 4")
        end = offset + 2 + length
        if end > len(answer):
            raise Part10AnswerError(f"feature 0x{tag:02X} truncated")
        features[tag] = int.from_bytes(answer[offset + 2 : end], "big")
        offset = end
    return features


#: status words a pinpad reader returns instead of the card's
PINPAD_TIMEOUT_SW = 0x6400
PINPAD_CANCELLED_SW = 0x6401


def parse_verify_result(answer: bytes) -> int:
    """The status word from the reader's answer to VERIFY_PIN_DIRECT.

    ``0x6400`` means the applicant took too long, ``0x6401`` that they pressed
    Cancel on the reader; anything else is the card's own answer to VERIFY.

    :raises Part10AnswerError: the answer is not exactly two bytes.
    """
    if len(answer) != 2:
        raise Part10AnswerError(f"VERIFY_PIN_DIRECT answer has {len(answer)} bytes, expected 2")
    return int.from_bytes(answer, "big")
