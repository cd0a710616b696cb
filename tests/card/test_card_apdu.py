"""APDU builders: the exact bytes the reference's cookbook (§7.1) lists."""

from __future__ import annotations

import pytest

from device.card import apdu
from device.card.layout import Application


def test_select_jpki_matches_cookbook() -> None:
    assert apdu.select_aid(Application.JPKI.aid) == bytes.fromhex(
        "00A4040C0AD392F000260100000001"
    )


def test_select_ef_and_reads() -> None:
    assert apdu.select_ef(0x0011) == bytes.fromhex("00A4020C020011")
    assert apdu.read_binary(0, 256) == bytes.fromhex("00B0000000")
    assert apdu.read_binary(7, 0x20) == bytes.fromhex("00B0000720")
    assert apdu.read_binary(0x0107, 256) == bytes.fromhex("00B0010700")
    assert apdu.read_binary(0, 65536, extended=True) == bytes.fromhex("00B00000000000")
    assert apdu.read_binary(0, 336, extended=True) == bytes.fromhex("00B00000000150")
    assert apdu.read_binary_sfi(0x0A, 0, 256) == bytes.fromhex("00B08A0000")


def test_record_challenge_data_and_signature() -> None:
    assert apdu.read_record(1, sfi=1) == bytes.fromhex("00B2010C00")
    assert apdu.read_record(1) == bytes.fromhex("00B2010400")
    assert apdu.get_challenge(8) == bytes.fromhex("0084000008")
    assert apdu.get_data(0x00F2) == bytes.fromhex("00CA00F200")
    assert apdu.compute_signature(b"\x01\x02", p2=0x00) == bytes.fromhex("802A000002010200")


def test_verify_query_is_case_1() -> None:
    assert apdu.verify_query() == bytes.fromhex("00200080")


def test_secret_commands_are_wipeable_bytearrays() -> None:
    command = apdu.verify(bytearray(b"1234"))
    assert isinstance(command, bytearray)
    assert bytes(command) == bytes.fromhex("002000800431323334")
    apdu.wipe(command)
    assert set(command) == {0}
    assert bytes(apdu.change_reference_data(b"5678")) == bytes.fromhex("002401800435363738")
    assert bytes(apdu.change_key(b"5678")) == bytes.fromhex("803200800435363738")


@pytest.mark.parametrize(
    ("build", "args"),
    [
        (apdu.read_binary, (0x8000, 1)),
        (apdu.read_binary, (0, 0)),
        (apdu.read_binary, (0, 257)),
        (apdu.read_binary_sfi, (31, 0, 1)),
        (apdu.read_binary_sfi, (1, 256, 1)),
        (apdu.select_aid, (b"",)),
        (apdu.select_ef, (0x10000,)),
        (apdu.get_challenge, (0,)),
    ],
)
def test_builders_refuse_out_of_range(build: object, args: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        build(*args)  # type: ignore[operator]
