"""Placeholder images for the 券面AP: blank 1-bit PNGs and a JPEG 2000-shaped photo.

The real card renders name, address, security code and number as 1-bit PNGs and stores the
photograph as greyscale JPEG 2000 (reference §5). The simulator needs files of that shape and a
plausible size, not pictures, so the PNGs are valid but blank and the photo carries the JP2
signature and file-type boxes followed by deterministic filler (docs/virtual-card.md says so).
"""

from __future__ import annotations

import hashlib
import struct
import zlib


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def blank_png(width: int, height: int) -> bytes:
    """A white 1-bit greyscale PNG of the given size."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte 0, then white pixels
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * height, 9))
        + _chunk(b"IEND", b"")
    )


def placeholder_jp2(size: int = 3000, seed: bytes = b"madoguchi-sim photo") -> bytes:
    """JP2 signature box + ``ftyp`` box + ``size`` bytes of filler (not decodable)."""
    signature = bytes.fromhex("0000000c6a5020200d0a870a")
    ftyp = struct.pack(">I", 20) + b"ftyp" + b"jp2 " + b"\x00\x00\x00\x00" + b"jp2 "
    filler = bytearray()
    block = seed
    while len(filler) < size:
        block = hashlib.sha256(block).digest()
        filler += block
    return signature + ftyp + bytes(filler[:size])
