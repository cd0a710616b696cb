"""Every status word maps to a typed error with a clear message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.card import errors
from madoguchi.errors import StatusWordError


@pytest.mark.parametrize(
    ("sw", "cls", "words"),
    [
        (0x63C2, errors.WrongPinError, "2 tries left"),
        (0x63C1, errors.WrongPinError, "1 try left"),
        (0x63C0, errors.WrongPinError, "now blocked"),
        (0x6984, errors.PinBlockedError, "blocked"),
        (0x6982, errors.SecurityStatusError, "not been verified"),
        (0x6985, errors.ConditionsNotSatisfiedError, "current state"),
        (0x6A82, errors.CardFileNotFoundError, "does not exist"),
        (0x6A86, errors.WrongParametersError, "P1/P2"),
        (0x6B00, errors.WrongParametersError, "end of the file"),
        (0x6A81, errors.FunctionNotSupportedError, "not supported"),
        (0x6D00, errors.FunctionNotSupportedError, "not supported"),
        (0x6A88, errors.DataNotFoundError, "no such data object"),
        (0x6700, errors.WrongLengthError, "wrong length"),
        (0x6C10, errors.WrongLengthError, "Le=16"),
        (0x6882, errors.SecureMessagingRefusedError, "secure messaging"),
        (0x6F00, errors.UnknownStatusWordError, "unexpected"),
    ],
)
def test_status_words_map_to_typed_errors(sw: int, cls: type[Exception], words: str) -> None:
    error = errors.status_error(sw, "VERIFY of the JPKI PIN")
    assert type(error) is cls
    assert words in str(error)
    assert f"SW {sw:04X}" in str(error)
    assert error.sw == sw


def test_wrong_pin_carries_remaining() -> None:
    error = errors.status_error(0x63C2, "x")
    assert isinstance(error, errors.WrongPinError)
    assert error.remaining == 2


@given(st.integers(min_value=0, max_value=0xFFFF).filter(lambda sw: sw != 0x9000))
def test_any_status_word_gives_a_status_word_error(sw: int) -> None:
    error = errors.status_error(sw, "READ BINARY")
    assert isinstance(error, StatusWordError)
    assert str(error)
