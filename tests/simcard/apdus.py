"""C-APDUs the tests send, built from the reference's cookbook (jpki-card-protocol.md §7)."""

from __future__ import annotations

import hashlib

JPKI = bytes.fromhex("D392F000260100000001")
SUPPORT = bytes.fromhex("D3921000310001010408")
FACE = bytes.fromhex("D3921000310001010402")
JUKI = bytes.fromhex("D3921000310001010401")
COMMON = bytes.fromhex("D3921000310001010100")
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def select_aid(aid: bytes) -> bytes:
    return bytes([0x00, 0xA4, 0x04, 0x0C, len(aid)]) + aid


def select_ef(fid: int) -> bytes:
    return bytes([0x00, 0xA4, 0x02, 0x0C, 0x02]) + fid.to_bytes(2, "big")


def read_binary(offset: int = 0, le: int = 0) -> bytes:
    return bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, le & 0xFF])


def read_binary_extended(offset: int = 0, le: int = 0) -> bytes:
    return bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, 0x00]) + le.to_bytes(2, "big")


def verify(value: str | None = None) -> bytes:
    if value is None:
        return bytes.fromhex("00200080")
    raw = value.encode("ascii")
    return bytes([0x00, 0x20, 0x00, 0x80, len(raw)]) + raw


def change_reference_data(new: str) -> bytes:
    raw = new.encode("ascii")
    return bytes([0x00, 0x24, 0x01, 0x80, len(raw)]) + raw


def change_key(new: str) -> bytes:
    raw = new.encode("ascii")
    return bytes([0x80, 0x32, 0x00, 0x80, len(raw)]) + raw


def digest_info(message: bytes) -> bytes:
    return SHA256_PREFIX + hashlib.sha256(message).digest()


def compute_signature(data: bytes, p1: int = 0x00, p2: int = 0x80) -> bytes:
    return bytes([0x80, 0x2A, p1, p2, len(data)]) + data + b"\x00"


def get_challenge(le: int = 8) -> bytes:
    return bytes([0x00, 0x84, 0x00, 0x00, le & 0xFF])


def get_data(tag: int) -> bytes:
    return bytes([0x00, 0xCA, tag >> 8, tag & 0xFF, 0x00])


def split(response: bytes) -> tuple[bytes, int]:
    """(data, SW) of a raw response."""
    return response[:-2], int.from_bytes(response[-2:], "big")


def _header(value: bytes, i: int) -> tuple[int, int, int]:
    """(tag, header length, value length) of the BER object starting at ``value[i]``."""
    start = i
    tag = value[i]
    i += 1
    if tag & 0x1F == 0x1F:
        tag = (tag << 8) | value[i]
        i += 1
    length = value[i]
    i += 1
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(value[i:i + n], "big")
        i += n
    return tag, i - start, length


def tlv_raw(value: bytes, *, first_only: bool = False) -> list[tuple[int, bytes, int]]:
    """(tag, raw object bytes, start offset within ``value``) for each object.

    A minimal BER reader, independent of the card's own builder. Stops at ``00``/``FF``
    filler, except for the first object when ``first_only`` (outer tags such as ``FF20``
    start with ``FF``).
    """
    out: list[tuple[int, bytes, int]] = []
    i = 0
    while i < len(value) and (first_only or value[i] not in (0x00, 0xFF)):
        tag, header, length = _header(value, i)
        out.append((tag, value[i:i + header + length], i))
        i += header + length
        if first_only:
            break
    return out


def tlv_children(value: bytes) -> dict[int, bytes]:
    """Tag -> value of each object in ``value``."""
    return {tag: raw[_header(raw, 0)[1]:] for tag, raw, _ in tlv_raw(value)}


def unwrap(file: bytes) -> tuple[int, bytes, int]:
    """(outer tag, outer value, header length) of a file holding one object."""
    [(tag, raw, _)] = tlv_raw(file, first_only=True)
    header = _header(raw, 0)[1]
    return tag, raw[header:], header
