"""A strict BER-TLV reader for what the card stores (``FF20 { DF21 … }``, ``7F21 { 5F4E … }``).

Strict on purpose: a length that points past the data, a tag that never ends, an
indefinite length or a nesting deeper than the card ever uses raise
:class:`~madoguchi.errors.MalformedResponseError` with the offset, never an
``IndexError`` or a silent truncation. Values are ``bytes`` slices; nothing is
decoded here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from madoguchi.errors import MalformedResponseError

#: Deepest nesting accepted (the card uses 2: ``FF20 { DF2x }``, ``A1 { 90 · 91 }``).
MAX_DEPTH = 8
#: Longest length field accepted (``83 LL LL LL``): files are far below 16 MiB.
MAX_LENGTH_BYTES = 3
#: Longest tag accepted, in bytes.
MAX_TAG_BYTES = 3


@dataclass(frozen=True, slots=True)
class Tlv:
    """One BER-TLV object: its tag as an int (``0xDF22``), constructed flag, value and encoding.

    ``raw`` is the object exactly as the card encoded it (tag, length, value):
    signatures cover those bytes, so they are kept rather than re-encoded.
    """

    tag: int
    value: bytes
    constructed: bool
    raw: bytes

    def children(self) -> list[Tlv]:
        """The objects inside a constructed value (all bytes must parse)."""
        if not self.constructed:
            raise MalformedResponseError(f"tag {self.tag:X} is primitive and has no children")
        return parse_all(self.value)

    def __repr__(self) -> str:
        # Values can be personal data: show the size only.
        return f"Tlv({self.tag:X}, {len(self.value)} bytes)"


@dataclass(frozen=True, slots=True)
class Header:
    """The tag and length of a TLV object, and where its value starts."""

    tag: int
    constructed: bool
    header_length: int
    value_length: int

    @property
    def total_length(self) -> int:
        return self.header_length + self.value_length


def read_header(data: bytes, offset: int = 0) -> Header:
    """Parse the tag and length fields at ``offset`` (the value need not be present)."""
    start = offset
    end = len(data)
    if offset >= end:
        raise MalformedResponseError(f"TLV expected at offset {start}, but the data ended")
    first = data[offset]
    constructed = bool(first & 0x20)
    tag = first
    offset += 1
    if first & 0x1F == 0x1F:
        for count in range(MAX_TAG_BYTES):
            if offset >= end:
                raise MalformedResponseError(f"TLV tag at offset {start} is cut off")
            byte = data[offset]
            tag = (tag << 8) | byte
            offset += 1
            if not byte & 0x80:
                break
            if count == MAX_TAG_BYTES - 1:
                raise MalformedResponseError(f"TLV tag at offset {start} is too long")
    if offset >= end:
        raise MalformedResponseError(f"TLV at offset {start} has no length field")
    length = data[offset]
    offset += 1
    if length == 0x80:
        raise MalformedResponseError(f"TLV at offset {start} has an indefinite length")
    if length > 0x80:
        count = length & 0x7F
        if count > MAX_LENGTH_BYTES:
            raise MalformedResponseError(
                f"TLV at offset {start} has a {count}-byte length field (max {MAX_LENGTH_BYTES})"
            )
        if offset + count > end:
            raise MalformedResponseError(f"TLV length at offset {start} is cut off")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    return Header(tag, constructed, offset - start, length)


def parse_one(data: bytes, offset: int = 0, *, depth: int = 0) -> tuple[Tlv, int]:
    """Parse one object at ``offset``; returns it and the offset just after it."""
    if depth > MAX_DEPTH:
        raise MalformedResponseError(f"TLV nesting deeper than {MAX_DEPTH}")
    header = read_header(data, offset)
    value_start = offset + header.header_length
    value_end = value_start + header.value_length
    if value_end > len(data):
        raise MalformedResponseError(
            f"TLV {header.tag:X} at offset {offset} claims {header.value_length} bytes, "
            f"only {len(data) - value_start} present"
        )
    tlv = Tlv(
        header.tag,
        bytes(data[value_start:value_end]),
        header.constructed,
        bytes(data[offset:value_end]),
    )
    if header.constructed:
        _check_nested(tlv.value, depth + 1)
    return tlv, value_end


def _check_nested(value: bytes, depth: int) -> None:
    """Validate a constructed value eagerly, so a bad file fails at read time."""
    offset = 0
    while offset < len(value):
        _, offset = parse_one(value, offset, depth=depth)


def parse_all(data: bytes) -> list[Tlv]:
    """Parse a sequence of objects that fills ``data`` exactly."""
    return list(iter_tlv(data))


def iter_tlv(data: bytes) -> Iterator[Tlv]:
    """Yield the objects of ``data`` in order; every byte must belong to one."""
    offset = 0
    while offset < len(data):
        tlv, offset = parse_one(data, offset)
        yield tlv


def parse_file(data: bytes, tag: int) -> Tlv:
    """Parse a file holding one object ``tag`` followed by ``FF``/``00`` filler."""
    tlv, end = parse_one(data)
    if tlv.tag != tag:
        raise MalformedResponseError(f"expected tag {tag:X}, found {tlv.tag:X}")
    if any(byte not in (0x00, 0xFF) for byte in data[end:]):
        raise MalformedResponseError(f"unexpected bytes after the {tag:X} object")
    return tlv


def children_by_tag(tlv: Tlv) -> dict[int, bytes]:
    """The children of ``tlv`` by tag; a repeated tag is malformed."""
    result: dict[int, bytes] = {}
    for child in tlv.children():
        if child.tag in result:
            raise MalformedResponseError(f"tag {child.tag:X} repeats inside {tlv.tag:X}")
        result[child.tag] = child.value
    return result


def require(fields: dict[int, bytes], tag: int, where: str) -> bytes:
    """``fields[tag]``, or a clear error naming what is missing."""
    try:
        return fields[tag]
    except KeyError:
        raise MalformedResponseError(f"{where} lacks tag {tag:X}") from None
