"""TLV and file parsers: good files parse; malformed, truncated, lying or oversized data
raise MalformedResponseError and nothing else (fuzzed with hypothesis)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.card import chip, data, tlv
from device.card.atr import parse_capabilities
from madoguchi.errors import MalformedResponseError


def enc(tag: int, value: bytes) -> bytes:
    """Minimal DER encoding, written independently of the parser under test."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82]) + n.to_bytes(2, "big")
    return tag_bytes + length + value


NAME = "番号　花子".encode()
ADDRESS = "東京都千代田区永田町１－２－３".encode()


def basic4_file() -> bytes:
    inner = enc(0xDF22, NAME) + enc(0xDF23, ADDRESS) + enc(0xDF24, b"19850401") + enc(0xDF25, b"2")
    return enc(0xFF20, enc(0xDF21, bytes(8)) + inner)


def test_basic4_parses_and_hides_values() -> None:
    info = data.parse_basic4(basic4_file())
    assert info.name == "番号　花子"
    assert info.address.endswith("１－２－３")
    assert info.birth_date == dt.date(1985, 4, 1)
    assert info.sex is data.Sex.FEMALE
    assert "花子" not in repr(info)
    assert info.signed_part.startswith(bytes.fromhex("DF22"))


def test_file_filler_is_ignored_but_garbage_is_not() -> None:
    assert data.parse_basic4(basic4_file() + b"\xff\xff\x00").name == "番号　花子"
    with pytest.raises(MalformedResponseError, match="after"):
        data.parse_basic4(basic4_file() + b"\x01")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "data ended"),
        (bytes.fromhex("FF"), "cut off"),
        (bytes.fromhex("FF20"), "no length"),
        (bytes.fromhex("FF2080"), "indefinite"),
        (bytes.fromhex("FF2084FFFFFFFF"), "4-byte length"),
        (bytes.fromhex("FF208201"), "cut off"),
        (bytes.fromhex("FF200500"), "claims 5 bytes"),
        (bytes.fromhex("FF2003DF2105"), "claims 5 bytes"),
        (bytes.fromhex("FFFFFFFF0100"), "too long"),
        (bytes.fromhex("FF2000"), "lacks tag DF22"),
    ],
)
def test_malformed_basic4(raw: bytes, message: str) -> None:
    with pytest.raises(MalformedResponseError, match=message):
        data.parse_basic4(raw)


def test_nesting_limit() -> None:
    deep = b"\x01"
    for _ in range(tlv.MAX_DEPTH + 2):
        deep = enc(0x30, deep) if len(deep) < 120 else deep
    with pytest.raises(MalformedResponseError, match="nesting"):
        tlv.parse_one(deep)


def test_token_and_presence_and_record() -> None:
    token = data.parse_token_info(b"JPKIAPICCTOKEN2".ljust(32))
    assert token.token_type is data.TokenType.MY_NUMBER_CARD
    token = data.parse_token_info(b"JPKIAPICCTOKEN".ljust(32))
    assert token.token_type is data.TokenType.JUKI_CARD
    assert data.parse_token_info(b"SOMETHINGELSE").token_type is data.TokenType.UNKNOWN
    presence = data.parse_certificate_presence(bytes.fromhex("008F00"))
    assert (presence.sign, presence.auth) == (False, True)
    record = data.parse_common_record(b"\x01\x1c" + b"202404010000001" + b"13101" + b"20340401")
    assert record.expiry == dt.date(2034, 4, 1)
    with pytest.raises(MalformedResponseError):
        data.parse_common_record(b"\x01\x1c" + b"2024040100000X1" + b"13101" + b"20340401")
    with pytest.raises(MalformedResponseError, match="valid date"):
        data.parse_expiry_data(b"20341301")


def test_capabilities_from_atr() -> None:
    caps = parse_capabilities(bytes.fromhex("3BDA13FF8131FB468012392F31C173C601C03B"))
    assert (caps.short_ef_ids, caps.extended_length) == (True, True)
    caps = parse_capabilities(bytes.fromhex("3BC5FF8131FB458073C6010000"))
    assert (caps.short_ef_ids, caps.extended_length) == (True, False)
    assert not parse_capabilities(bytes.fromhex("3BE000FF8131FE4514")).known
    assert not parse_capabilities(bytes.fromhex("3B888001000005E0B381A1007F")).known
    assert not parse_capabilities(b"\x3b").known


PARSERS: list[Callable[[bytes], object]] = [
    data.parse_basic4,
    data.parse_card_face,
    data.parse_integrity_record,
    data.parse_token_info,
    data.parse_certificate_presence,
    data.parse_common_record,
    data.parse_expiry_data,
    chip.parse_cv_certificate,
    tlv.parse_all,
    lambda raw: tlv.parse_file(raw, 0xFF20),
    parse_capabilities,
]


def tlv_like() -> st.SearchStrategy[bytes]:
    """Bytes that often look like card TLV: known tags, lying lengths, truncation."""
    tags = st.sampled_from([b"\xff\x20", b"\xff\x30", b"\x7f\x21", b"\x5f\x4e", b"\x5f\x37",
                            b"\xdf\x21", b"\xdf\x22", b"\xdf\x24", b"\xdf\x25", b"\x90", b"\x91",
                            b"\x1f", b"\xff\xff"])
    lengths = st.one_of(
        st.integers(0, 0x7F).map(lambda n: bytes([n])),
        st.integers(0, 0xFF).map(lambda n: bytes([0x81, n])),
        st.integers(0, 0xFFFF).map(lambda n: b"\x82" + n.to_bytes(2, "big")),
        st.sampled_from([b"\x80", b"\x83\xff\xff\xff", b"\x84\x00\x00\x00\x01", b"\x82"]),
    )
    piece = st.tuples(tags, lengths, st.binary(max_size=40)).map(b"".join)
    return st.lists(piece, max_size=6).map(b"".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(st.binary(max_size=300), tlv_like()), which=st.integers(0, len(PARSERS) - 1))
def test_parsers_only_raise_malformed(raw: bytes, which: int) -> None:
    try:
        PARSERS[which](raw)
    except MalformedResponseError as exc:
        message = str(exc)
        assert message, "a malformed-response error must say what is wrong"


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=200))
def test_nested_well_formed_values_roundtrip(value: bytes) -> None:
    raw = enc(0xFF20, enc(0xDF22, value) + enc(0xDF25, b"1"))
    top = tlv.parse_file(raw, 0xFF20)
    fields = tlv.children_by_tag(top)
    assert fields[0xDF22] == value
    assert top.raw == raw
