"""PIN form checks and counter interpretation (no card needed)."""

from __future__ import annotations

import pytest

from device.card.errors import PinFormatError, UnknownStatusWordError
from device.card.layout import PinKind
from device.card.pins import PinState, check_form, status_from_query


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        (PinKind.JPKI_AUTH, b"1234", True),
        (PinKind.JPKI_AUTH, b"123", False),
        (PinKind.JPKI_AUTH, b"12a4", False),
        (PinKind.JPKI_SIGN, b"ABC123", True),
        (PinKind.JPKI_SIGN, b"abc123", True),
        (PinKind.JPKI_SIGN, b"ABCDEF", False),
        (PinKind.JPKI_SIGN, b"123456", False),
        (PinKind.JPKI_SIGN, b"AB12", False),
        (PinKind.JPKI_SIGN, b"ABC-123", False),
        (PinKind.JPKI_SIGN, b"A1" * 9, False),
        (PinKind.SUPPORT_COLLATION_B, b"60040120344321", True),
        (PinKind.SUPPORT_COLLATION_B, b"6004012034432", False),
    ],
)
def test_forms(kind: PinKind, value: bytes, ok: bool) -> None:
    secret = bytearray(value)
    if ok:
        check_form(kind, secret)
    else:
        with pytest.raises(PinFormatError) as info:
            check_form(kind, secret)
        assert value.decode() not in str(info.value) or len(value) < 3


def test_sign_password_is_upper_cased_in_place() -> None:
    secret = bytearray(b"abc123")
    check_form(PinKind.JPKI_SIGN, secret)
    assert secret == bytearray(b"ABC123")


def test_pin_must_be_a_bytearray() -> None:
    with pytest.raises(PinFormatError, match="bytearray"):
        check_form(PinKind.JPKI_AUTH, b"1234")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sw", "state", "remaining"),
    [
        (0x63C3, PinState.AVAILABLE, 3),
        (0x63C1, PinState.LAST_TRY, 1),
        (0x63C0, PinState.BLOCKED, 0),
        (0x6984, PinState.UNUSABLE, 0),
        (0x9000, PinState.VERIFIED, None),
        (0x6300, PinState.NO_LIMIT, None),
    ],
)
def test_query_answers(sw: int, state: PinState, remaining: int | None) -> None:
    status = status_from_query(PinKind.JPKI_AUTH, sw)
    assert (status.state, status.remaining) == (state, remaining)


def test_unexpected_query_answer_is_typed() -> None:
    with pytest.raises(UnknownStatusWordError):
        status_from_query(PinKind.SUPPORT, 0x6F00)
