"""Command APDU builders for the commands a My Number card answers (ISO 7816-4 / JICSAP).

Pure functions returning ``bytes``, except the ones that carry a secret
(:func:`verify`, :func:`change_reference_data`, :func:`change_key`), which return a
fresh ``bytearray`` so the caller can wipe it after sending.
"""

from __future__ import annotations

#: Largest Le a short APDU can ask for (encoded as ``00``).
SHORT_MAX = 256
#: Largest Le an extended APDU can ask for (encoded as ``00 00``).
EXTENDED_MAX = 65536


def _le_short(le: int) -> bytes:
    if not 1 <= le <= SHORT_MAX:
        raise ValueError(f"short Le must be 1..{SHORT_MAX}, not {le}")
    return bytes([le & 0xFF])


def _le_extended(le: int) -> bytes:
    if not 1 <= le <= EXTENDED_MAX:
        raise ValueError(f"extended Le must be 1..{EXTENDED_MAX}, not {le}")
    return b"\x00" + (le & 0xFFFF).to_bytes(2, "big")


def _fid(fid: int) -> bytes:
    if not 0 <= fid <= 0xFFFF:
        raise ValueError(f"file id must be 2 bytes, not {fid:#x}")
    return fid.to_bytes(2, "big")


def select_aid(aid: bytes) -> bytes:
    """SELECT by DF name, no FCI: ``00 A4 04 0C Lc AID``."""
    if not 1 <= len(aid) <= 16:
        raise ValueError("an AID has 1 to 16 bytes")
    return bytes([0x00, 0xA4, 0x04, 0x0C, len(aid)]) + aid


def select_ef(fid: int) -> bytes:
    """SELECT an EF under the current DF, no FCI: ``00 A4 02 0C 02 FID``."""
    return b"\x00\xa4\x02\x0c\x02" + _fid(fid)


def read_binary(offset: int, le: int, *, extended: bool = False) -> bytes:
    """READ BINARY of the current EF: ``00 B0 off(15 bits) Le``."""
    if not 0 <= offset <= 0x7FFF:
        raise ValueError(f"READ BINARY offset must be 0..32767, not {offset}")
    le_bytes = _le_extended(le) if extended else _le_short(le)
    return b"\x00\xb0" + offset.to_bytes(2, "big") + le_bytes


def read_binary_sfi(sfi: int, offset: int, le: int, *, extended: bool = False) -> bytes:
    """READ BINARY by short EF id (selects the EF too): ``00 B0 80|SFI off(8 bits) Le``."""
    if not 1 <= sfi <= 30:
        raise ValueError(f"SFI must be 1..30, not {sfi}")
    if not 0 <= offset <= 0xFF:
        raise ValueError(f"SFI READ BINARY offset must be 0..255, not {offset}")
    le_bytes = _le_extended(le) if extended else _le_short(le)
    return bytes([0x00, 0xB0, 0x80 | sfi, offset]) + le_bytes


def read_record(record: int, *, sfi: int | None = None, le: int = SHORT_MAX) -> bytes:
    """READ RECORD ``record`` of the current EF (``P2=04``) or of ``sfi`` (``P2=SFI<<3|4``)."""
    if not 1 <= record <= 0xFE:
        raise ValueError(f"record number must be 1..254, not {record}")
    p2 = 0x04 if sfi is None else (sfi << 3) | 0x04
    return bytes([0x00, 0xB2, record, p2]) + _le_short(le)


def get_data(tag: int, le: int = SHORT_MAX, *, extended: bool = False) -> bytes:
    """GET DATA of a 2-byte tag: ``00 CA tag Le``."""
    le_bytes = _le_extended(le) if extended else _le_short(le)
    return b"\x00\xca" + _fid(tag) + le_bytes


def verify_query() -> bytes:
    """VERIFY with no data (case 1): asks the tries left of the current key EF, spends none."""
    return b"\x00\x20\x00\x80"


def _with_secret(header: bytes, secret: bytes | bytearray) -> bytearray:
    if not 1 <= len(secret) <= 255:
        raise ValueError("a key value has 1 to 255 bytes")
    command = bytearray(header)
    command.append(len(secret))
    command += secret
    return command


def verify(secret: bytes | bytearray) -> bytearray:
    """VERIFY the current key EF: ``00 20 00 80 Lc value``. Wipe the result after use."""
    return _with_secret(b"\x00\x20\x00\x80", secret)


def change_reference_data(new: bytes | bytearray) -> bytearray:
    """CHANGE REFERENCE DATA after VERIFY (JPKI, 入力補助): ``00 24 01 80 Lc new``."""
    return _with_secret(b"\x00\x24\x01\x80", new)


def change_key(new: bytes | bytearray) -> bytearray:
    """JICSAP CHANGE KEY after VERIFY (住基 / 共通 APs): ``80 32 00 80 Lc new``."""
    return _with_secret(b"\x80\x32\x00\x80", new)


def external_authenticate(proof: bytes) -> bytes:
    """EXTERNAL AUTHENTICATE of a terminal: ``00 82 00 80 Lc proof`` (modelled key, see
    :mod:`device.card.pin_writer`)."""
    if not 1 <= len(proof) <= 255:
        raise ValueError("an authentication proof has 1 to 255 bytes")
    return bytes([0x00, 0x82, 0x00, 0x80, len(proof)]) + proof


def reset_retry_counter(new: bytes | bytearray) -> bytearray:
    """RESET RETRY COUNTER with new reference data: ``00 2C 02 80 Lc new``. Wipe after use."""
    return _with_secret(b"\x00\x2c\x02\x80", new)


def get_challenge(length: int = 8) -> bytes:
    """GET CHALLENGE of ``length`` random bytes (short form; the extended one gives 6985)."""
    return b"\x00\x84\x00\x00" + _le_short(length)


def compute_signature(digest_info: bytes, *, p1: int = 0x00, p2: int = 0x80) -> bytes:
    """COMPUTE DIGITAL SIGNATURE ``80 2A p1 p2 Lc data 00`` (P2=80: key in the current EF)."""
    if not 1 <= len(digest_info) <= 255:
        raise ValueError("signature input has 1 to 255 bytes")
    return bytes([0x80, 0x2A, p1, p2, len(digest_info)]) + digest_info + b"\x00"


def wipe(buffer: bytearray) -> None:
    """Overwrite a secret-bearing buffer in place."""
    for index in range(len(buffer)):
        buffer[index] = 0
