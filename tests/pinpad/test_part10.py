"""PC/SC Part 10 PIN_VERIFY_STRUCTURE and feature list, checked byte by byte."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.part10 import (
    CM_IOCTL_GET_FEATURE_REQUEST,
    FEATURE_IFD_PIN_PROPERTIES,
    FEATURE_VERIFY_PIN_DIRECT,
    PINPAD_CANCELLED_SW,
    Part10AnswerError,
    PinFormat,
    build_jpki_verify_pin_direct,
    build_verify_pin_direct,
    format_string,
    parse_features,
    parse_verify_result,
)
from madoguchi.errors import ReaderError


def test_jpki_structure_matches_the_spec_layout_field_by_field() -> None:
    raw = build_jpki_verify_pin_direct(timeout=30, timeout_after_first_key=15)
    expected = bytes(
        [
            30,  # bTimerOut
            15,  # bTimerOut2
            0x82,  # bmFormatString: bytes, position 0, left, ASCII
            0x04,  # bmPINBlockString: no length field, 4-byte block
            0x00,  # bmPINLengthFormat
            0x04, 0x04,  # wPINMaxExtraDigit 0x0404, little-endian (max, then min)
            0x02,  # bEntryValidationCondition: validation key
            0x01,  # bNumberMessage
            0x11, 0x04,  # wLangId 0x0411 (Japanese), little-endian
            0x00,  # bMsgIndex
            0x00, 0x00, 0x00,  # bTeoPrologue
            0x09, 0x00, 0x00, 0x00,  # ulDataLength = 9, little-endian
            0x00, 0x20, 0x00, 0x80, 0x04,  # VERIFY, key EF in the current DF, Lc 4
            0x00, 0x00, 0x00, 0x00,  # PIN block the reader fills
        ]
    )
    assert raw == expected
    assert len(raw) == 19 + 9  # 19-byte header, then abData


def test_the_pyscard_sample_layout_is_reproduced() -> None:
    """The shape of pyscard's worked example: 4..8 digits, an 8-byte block, US English."""
    apdu_block = 8
    raw = build_verify_pin_direct(
        bytes.fromhex("00200000"),
        min_digits=4,
        max_digits=8,
        pin_block_size=apdu_block,
        fmt=PinFormat.ASCII,
        lang_id=0x0409,
        pad_byte=0x30,
    )
    header = struct.unpack("<BBBBBHBBHB3sI", raw[:19])
    assert header == (0, 0, 0x82, 0x08, 0, 0x0408, 0x02, 1, 0x0409, 0, b"\0\0\0", 13)
    assert raw[5:7] == b"\x08\x04"  # the spec's 0xXXYY (min XX, max YY) stored little-endian
    assert raw[19:] == bytes.fromhex("0020000008") + b"0" * 8


def test_format_string_bits() -> None:
    assert format_string(PinFormat.BCD, position=1) == 0x89
    assert format_string(PinFormat.BINARY, units_bytes=False, right_justify=True) == 0x04
    with pytest.raises(ValueError, match="position"):
        format_string(PinFormat.ASCII, position=16)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"apdu_header": b"\x00\x20"}, "4 bytes"),
        ({"min_digits": 5, "max_digits": 4}, "min_digits"),
        ({"pin_block_size": 16}, "pin_block_size"),
        ({"entry_validation": 0}, "entry_validation"),
        ({"timeout": 256}, "timeout"),
        ({"lang_id": 0x10000}, "lang_id"),
        ({"length_field_bits": 16}, "length_field_bits"),
    ],
)
def test_out_of_range_fields_are_refused(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "apdu_header": bytes.fromhex("00200080"),
        "min_digits": 4,
        "max_digits": 4,
        "pin_block_size": 4,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        build_verify_pin_direct(**args)  # type: ignore[arg-type]


def test_feature_list_parses_tag_to_big_endian_control_code() -> None:
    answer = bytes.fromhex("06 04 42 33 00 06  0A 04 42 33 00 0A".replace(" ", ""))
    features = parse_features(answer)
    assert features == {
        FEATURE_VERIFY_PIN_DIRECT: 0x42330006,
        FEATURE_IFD_PIN_PROPERTIES: 0x4233000A,
    }
    assert parse_features(b"") == {}


@pytest.mark.parametrize("answer", ["06", "0604423300", "06024233"])
def test_malformed_feature_lists_are_typed_errors(answer: str) -> None:
    with pytest.raises(Part10AnswerError) as info:
        parse_features(bytes.fromhex(answer))
    assert isinstance(info.value, ReaderError)
    assert isinstance(info.value, ValueError)


@given(st.dictionaries(st.integers(1, 0x20), st.integers(0, 2**32 - 1), max_size=8))
def test_feature_list_round_trip(features: dict[int, int]) -> None:
    answer = b"".join(bytes([tag, 4]) + code.to_bytes(4, "big") for tag, code in features.items())
    assert parse_features(answer) == features


def test_control_code_and_verify_result() -> None:
    assert CM_IOCTL_GET_FEATURE_REQUEST == 0x42000000 + 3400
    assert parse_verify_result(b"\x90\x00") == 0x9000
    assert parse_verify_result(b"\x64\x01") == PINPAD_CANCELLED_SW
    with pytest.raises(Part10AnswerError):
        parse_verify_result(b"\x90")
