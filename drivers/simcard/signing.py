"""Raw RSA signing the way the card does it: EMSA-PKCS1-v1_5 over bytes it is handed.

``cryptography`` signs a message or a prehashed digest of a known algorithm; the card instead pads
whatever DigestInfo (or bare hash) the terminal sends, and the 券面AP card face signs a DigestInfo
that holds three concatenated digests. Both need the padding done here and the private-key
operation done on the padded integer, with the CRT values ``cryptography`` exposes.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

#: The DER prefix of a SHA-256 DigestInfo for a 32-byte digest (reference §7.1).
SHA256_DIGEST_INFO_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


class PaddingError(ValueError):
    """The data does not fit in one EMSA-PKCS1-v1_5 block of this key."""


def key_bytes(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> int:
    """Modulus size in bytes (256 for RSA-2048)."""
    return (key.key_size + 7) // 8


def sha256_digest_info(digest: bytes) -> bytes:
    """A DigestInfo with the SHA-256 algorithm id around ``digest`` of any length below 0x70.

    The card face signature puts three digests (96 bytes) in one DigestInfo, so the length
    is taken from ``digest`` rather than fixed at 32.
    """
    algorithm = bytes.fromhex("300d06096086480165030402010500")
    octets = bytes([0x04, len(digest)]) + digest
    body = algorithm + octets
    return bytes([0x30, len(body)]) + body


def pkcs1_v15_pad(data: bytes, k: int) -> bytes:
    """``00 01 FF..FF 00 || data`` in a k-byte block (at least 8 bytes of FF)."""
    if not data or len(data) > k - 11:
        raise PaddingError(f"{len(data)} bytes do not fit a {k}-byte PKCS#1 v1.5 block")
    return b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data


def raw_sign(key: rsa.RSAPrivateKey, block: bytes) -> bytes:
    """The RSA private operation on a k-byte block, with CRT."""
    numbers = key.private_numbers()
    k = key_bytes(key)
    m = int.from_bytes(block, "big")
    n = numbers.public_numbers.n
    if m >= n:
        raise PaddingError("block is not below the modulus")
    s1 = pow(m, numbers.dmp1, numbers.p)
    s2 = pow(m, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (s1 - s2)) % numbers.p
    s = s2 + h * numbers.q
    return s.to_bytes(k, "big")


def sign_padded(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """EMSA-PKCS1-v1_5 pad ``data`` (normally a DigestInfo) and sign it."""
    return raw_sign(key, pkcs1_v15_pad(data, key_bytes(key)))


def sign_sha256(key: rsa.RSAPrivateKey, message: bytes) -> bytes:
    """PKCS#1 v1.5 signature with SHA-256 over ``message`` (what the chip records carry)."""
    return sign_padded(key, sha256_digest_info(hashlib.sha256(message).digest()))


def sign_pss_prehashed(key: rsa.RSAPrivateKey, digest: bytes) -> bytes:
    """RSASSA-PSS over a SHA-256 digest (MGF1-SHA-256, 32-byte salt)."""
    from cryptography.hazmat.primitives.asymmetric import utils

    return key.sign(
        digest,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        utils.Prehashed(hashes.SHA256()),
    )
