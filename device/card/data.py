"""Parsers for the card's files: token name, certificate flags, expiry, 基本4情報, card face.

Each parser takes the bytes a READ returned and either gives a typed value or
raises :class:`~madoguchi.errors.MalformedResponseError`; nothing else escapes.
Personal values keep their text out of ``repr`` so a stray log line shows sizes only.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from device.card.tlv import children_by_tag, parse_file, require
from madoguchi.errors import MalformedResponseError


class TokenType(enum.Enum):
    """The JPKI token name in EF 0006 (reference §11.1)."""

    MY_NUMBER_CARD = "JPKIAPICCTOKEN2"
    JUKI_CARD = "JPKIAPICCTOKEN"
    ANDROID = "JPKIAPGPSETOKEN"
    IPHONE = "JPKIAPIOSTOKEN"
    UNKNOWN = "unknown"

    @property
    def smartphone(self) -> bool:
        return self in (TokenType.ANDROID, TokenType.IPHONE)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """The token type and the printable name the card gave."""

    token_type: TokenType
    name: str


def parse_token_info(data: bytes) -> TokenInfo:
    """Parse the first bytes of JPKI EF 0006 (ASCII, space or NUL padded)."""
    if not data:
        raise MalformedResponseError("token info (JPKI EF 0006) is empty")
    raw = data.rstrip(b" \x00\xff")
    if not raw or any(byte < 0x20 or byte > 0x7E for byte in raw):
        raise MalformedResponseError("token info (JPKI EF 0006) is not printable ASCII")
    name = raw.decode("ascii")
    try:
        token_type = TokenType(name)
    except ValueError:
        token_type = TokenType.UNKNOWN
    return TokenInfo(token_type, name)


#: Byte value SOL observed in EF 0008 for a loaded certificate.
CERT_LOADED = 0x8F


@dataclass(frozen=True, slots=True)
class CertificatePresence:
    """Which JPKI certificates EF 0008 flags as loaded (byte 0 = sign, byte 1 = auth)."""

    sign: bool
    auth: bool
    raw: bytes


def parse_certificate_presence(data: bytes) -> CertificatePresence:
    """Parse JPKI EF 0008. Only ``8F`` counts as loaded (one-card evidence, reference §3)."""
    if len(data) < 2:
        raise MalformedResponseError(f"certificate flags (JPKI EF 0008) have {len(data)} byte(s)")
    return CertificatePresence(
        sign=data[0] == CERT_LOADED, auth=data[1] == CERT_LOADED, raw=bytes(data[:3])
    )


def parse_yyyymmdd(text: bytes, what: str) -> dt.date:
    """An 8-digit ASCII date; anything else is malformed."""
    if len(text) != 8 or not text.isdigit():
        raise MalformedResponseError(f"{what} is not an 8-digit date")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise MalformedResponseError(f"{what} is not a valid date") from None


@dataclass(frozen=True, slots=True)
class CommonRecord:
    """共通AP EF 0001 record 1: card serial, municipality code, card expiry."""

    serial: str
    municipality: str
    expiry: dt.date


def parse_common_record(record: bytes) -> CommonRecord:
    """``01 1C`` + 15-digit serial + 5-digit municipality + YYYYMMDD (simple-TLV)."""
    if len(record) < 2 or record[0] != 0x01:
        raise MalformedResponseError("共通AP record 1 does not start with tag 01")
    length = record[1]
    body = record[2 : 2 + length]
    if length != 28 or len(body) != 28:
        raise MalformedResponseError("共通AP record 1 is not 28 bytes long")
    serial, municipality = body[:15], body[15:20]
    if not (serial.isdigit() and municipality.isdigit()):
        raise MalformedResponseError("共通AP record 1 holds non-digits")
    return CommonRecord(
        serial.decode("ascii"), municipality.decode("ascii"),
        parse_yyyymmdd(body[20:28], "card expiry"),
    )


def parse_expiry_data(data: bytes) -> dt.date:
    """MF GET DATA ``00F2``: the card expiry as 8 ASCII digits."""
    return parse_yyyymmdd(bytes(data), "card expiry (GET DATA 00F2)")


def _utf8(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedResponseError(f"{what} is not UTF-8") from None


class Sex(enum.Enum):
    """ISO 5218 / JIS X 0303 sex code as the card stores it."""

    UNKNOWN = "0"
    MALE = "1"
    FEMALE = "2"
    NOT_APPLICABLE = "9"


def _sex(value: bytes) -> Sex:
    try:
        return Sex(value.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedResponseError("sex code is not 0, 1, 2 or 9") from None


@dataclass(frozen=True, slots=True)
class Basic4Info:
    """基本4情報 from 入力補助 EF 0002. ``repr`` hides the values."""

    name: str
    address: str
    birth_date: dt.date
    sex: Sex
    #: The file's FF20 value without the DF21 offsets, as signed by DF32 of EF 0003.
    signed_part: bytes = field(repr=False)

    def __repr__(self) -> str:
        return "Basic4Info(<personal data hidden>)"


def parse_basic4(data: bytes) -> Basic4Info:
    """Parse 入力補助 EF 0002: ``FF20 { DF21 · DF22 name · DF23 address · DF24 · DF25 }``."""
    top = parse_file(data, 0xFF20)
    fields = children_by_tag(top)
    where = "基本4情報 (入力補助 EF 0002)"
    signed = b"".join(child.raw for child in top.children() if child.tag != 0xDF21)
    return Basic4Info(
        name=_utf8(require(fields, 0xDF22, where), "name"),
        address=_utf8(require(fields, 0xDF23, where), "address"),
        birth_date=parse_yyyymmdd(require(fields, 0xDF24, where), "birth date"),
        sex=_sex(require(fields, 0xDF25, where)),
        signed_part=signed,
    )


@dataclass(frozen=True, slots=True)
class CardFace:
    """券面AP EF 0002: what is printed on the card face, plus the chip's signature.

    The images, the photo, the card key and the signature are ``None`` when the card
    face lacks them: the rest is still shown (marked), and the signature check then
    reports that the card cannot be shown genuine (issue 14: piece by piece).
    """

    birth_date: dt.date
    sex: Sex
    expiry: dt.date | None
    name_image: bytes | None = field(repr=False)
    address_image: bytes | None = field(repr=False)
    photo: bytes | None = field(repr=False)
    public_key: bytes | None = field(repr=False)
    signature: bytes | None = field(repr=False)
    #: The raw DF22..DF27 objects the DF28 signature covers, by tag.
    signed_fields: dict[int, bytes] = field(repr=False)
    #: The 追記欄 text (DF2B), e.g. 「顔認証」; ``None`` when the card has none.
    endorsement: str | None = None

    def __repr__(self) -> str:
        size = "no photo" if self.photo is None else f"photo {len(self.photo)} bytes"
        return f"CardFace(<personal data hidden>, {size})"

    @property
    def missing(self) -> tuple[str, ...]:
        """The pieces this card face lacks: ``name_image``, ``address_image``, ``photo``…"""
        pieces = (("name_image", self.name_image), ("address_image", self.address_image),
                  ("photo", self.photo), ("public_key", self.public_key),
                  ("signature", self.signature))
        return tuple(name for name, value in pieces if value is None)


def parse_card_face(data: bytes) -> CardFace:
    """Parse 券面AP EF 0002 ``FF20 { DF21 … DF2A }`` (reference §5).

    The birth date and sex are required (the text the clerk compares); the images,
    photo, key and signature may be absent (see :attr:`CardFace.missing`).
    """
    top = parse_file(data, 0xFF20)
    fields = children_by_tag(top)
    where = "card face (券面AP EF 0002)"
    expiry_raw = fields.get(0xDF29)
    signed = {tag: child.raw for child in top.children() if 0xDF22 <= (tag := child.tag) <= 0xDF27}
    return CardFace(
        birth_date=parse_yyyymmdd(require(fields, 0xDF22, where), "birth date"),
        sex=_sex(require(fields, 0xDF23, where)),
        expiry=None if expiry_raw is None else parse_yyyymmdd(expiry_raw, "card expiry"),
        name_image=fields.get(0xDF25),
        address_image=fields.get(0xDF26),
        photo=fields.get(0xDF27),
        public_key=fields.get(0xDF24),
        signature=fields.get(0xDF28),
        signed_fields=signed,
        endorsement=None if 0xDF2B not in fields else _utf8(fields[0xDF2B], "追記欄"),
    )


@dataclass(frozen=True, slots=True)
class IntegrityRecord:
    """入力補助 EF 0003: digests of EF 0001 and EF 0002 and their signature."""

    my_number_digest: bytes = field(repr=False)
    basic4_digest: bytes
    signature: bytes = field(repr=False)
    #: The DF31 and DF32 objects as encoded: what DF33 signs.
    signed_part: bytes = field(repr=False)


def parse_integrity_record(data: bytes) -> IntegrityRecord:
    """Parse ``FF30 { DF31 · DF32 · DF33 }``."""
    top = parse_file(data, 0xFF30)
    fields = children_by_tag(top)
    where = "integrity record (入力補助 EF 0003)"
    raw = {child.tag: child.raw for child in top.children()}
    record = IntegrityRecord(
        my_number_digest=require(fields, 0xDF31, where),
        basic4_digest=require(fields, 0xDF32, where),
        signature=require(fields, 0xDF33, where),
        signed_part=raw[0xDF31] + raw[0xDF32],
    )
    if len(record.my_number_digest) != 32 or len(record.basic4_digest) != 32:
        raise MalformedResponseError(f"{where}: digests are not SHA-256 sized")
    return record
