"""BER-TLV building, as the card's files use it (definite lengths, 1- or 2-byte tags)."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric import rsa


def encode_length(length: int) -> bytes:
    """A BER definite length: one byte below 0x80, else ``81 xx`` or ``82 xx xx``."""
    if length < 0x80:
        return bytes([length])
    if length <= 0xFF:
        return bytes([0x81, length])
    if length <= 0xFFFF:
        return bytes([0x82]) + length.to_bytes(2, "big")
    raise ValueError(f"length {length} is too long for this card")


def tlv(tag: int, value: bytes) -> bytes:
    """One object: tag (1 or 2 bytes, as its value needs), length, value."""
    tag_bytes = tag.to_bytes(2, "big") if tag > 0xFF else bytes([tag])
    return tag_bytes + encode_length(len(value)) + value


def concat(objects: Iterable[bytes]) -> bytes:
    """Objects one after another."""
    return b"".join(objects)


def public_key_value(key: rsa.RSAPublicKey) -> bytes:
    """The card's RSA public key form: ``90`` exponent then ``91`` modulus (265 bytes for 2048)."""
    numbers = key.public_numbers()
    k = (key.key_size + 7) // 8
    exponent = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    return tlv(0x90, exponent) + tlv(0x91, numbers.n.to_bytes(k, "big"))


def offset_table_file(outer_tag: int, table_tag: int, objects: list[bytes]) -> bytes:
    """An outer object opening with a u16 offset table to each of ``objects``.

    Offsets count from the first byte of the file. The table's own size is known in advance
    (2 bytes per object), and so is the outer header once the total length is known, so the
    offsets are computed in one pass.
    """
    table_len = 2 * len(objects)
    table_obj_len = len(tlv(table_tag, bytes(table_len)))
    body_len = table_obj_len + sum(len(o) for o in objects)
    header_len = len(tlv(outer_tag, bytes(body_len))) - body_len
    offsets = bytearray()
    position = header_len + table_obj_len
    for obj in objects:
        offsets += position.to_bytes(2, "big")
        position += len(obj)
    return tlv(outer_tag, tlv(table_tag, bytes(offsets)) + b"".join(objects))
