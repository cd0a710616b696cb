"""The card's file model: applications holding EFs, key EFs and private keys.

Everything here is immutable and built once per profile (see :mod:`drivers.simcard.layout`);
the mutable state of a card (retry counters, selection, verified keys) lives in
:class:`drivers.simcard.card.VirtualCard`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa


class PinFormat(enum.Enum):
    """What values a key EF accepts when it is changed."""

    DIGITS4 = "4 digits"
    ALPHANUMERIC = "6-16 of A-Z 0-9"
    FIXED = "not changeable"  # 照合番号A/B, 生年月日 key, the blocked 0012


@dataclass(frozen=True)
class BinaryFile:
    """A transparent EF. ``access``: key FIDs of which any one, verified, opens it."""

    data: bytes
    access: frozenset[int] = frozenset()
    #: A status word every READ BINARY of this file answers instead (a ``defective`` card).
    refuse_sw: int | None = None


@dataclass(frozen=True)
class RecordFile:
    """A record-structured EF (records numbered from 1)."""

    records: tuple[bytes, ...]
    access: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PinSpec:
    """A key EF holding a PIN or 照合番号, and its initial state."""

    counter_name: str | None
    value: bytes | None  # None: not set on this card (face-auth)
    max_tries: int
    remaining: int
    fmt: PinFormat


@dataclass(frozen=True)
class PrivateKeyFile:
    """A key EF with an RSA private key, usable for signing once ``pin_fid`` is verified."""

    key: rsa.RSAPrivateKey
    pin_fid: int


CardFile = BinaryFile | RecordFile | PinSpec | PrivateKeyFile


class AppName(enum.Enum):
    """The applications of the card (reference §2)."""

    JPKI = "JPKI-AP"
    SUPPORT = "券面事項入力補助AP"
    FACE = "券面AP"
    JUKI = "住基AP"
    COMMON = "共通カードAP"


@dataclass(frozen=True)
class Application:
    """One AP: its AID, files, which change command it takes and its own signing key."""

    name: AppName
    aid: bytes
    files: dict[int, CardFile] = field(default_factory=dict)
    #: INS of the PIN-change command: 0x24 (CHANGE REFERENCE DATA), 0x32 (CHANGE KEY) or None.
    change_ins: int | None = None
    #: Key used by ``80 2A 00 00`` with no credential (券面AP, 入力補助AP).
    own_key: rsa.RSAPrivateKey | None = None


@dataclass(frozen=True)
class CardImage:
    """Everything a profile's card holds, before any command changes its state."""

    atr: bytes
    applications: tuple[Application, ...]
    #: GET DATA objects answered at MF level (tag -> value).
    mf_objects: dict[int, bytes]
    #: Contact ATR without ``3B`` for GET DATA 5F51 (None: not answered).
    contact_atr: bytes | None
