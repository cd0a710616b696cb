"""The PIN scan the screen, log and record tests share (``tests/pin_scan.py``).

It must pass the screens as they are at any date and hour (the home screen's last send,
the card's expiry, the today screen's times) and still fail a frame that shows the PIN,
however the PIN is written and whatever dates stand next to it.
"""

from __future__ import annotations

import pytest

from tests.pin_scan import (
    MASK,
    assert_no_pin,
    assert_no_pin_while_typing,
    mask_dates_and_times,
    old_rule_trips,
    pin_leaks,
)

PIN = "1234"


def home(last_send: str, *, extra: str = "") -> str:
    """The part of the home screen that carries dates, as tmux captures it."""
    return (
        "│ 個人番号カード                │ 送信待ち    0 件\n"
        "│ 有効期限  2034-04-01          │ 最終送信    " + last_send + "\n"
        "│ 住基用暗証番号  残り 3 回     │ 接続中\n"
        "│ 受付 " + extra + "\n"
    )


@pytest.mark.parametrize(
    "last_send",
    ["12月3日 06:05", "12月12日 12:34", "12月31日 23:59", "2023年1月1日 00:00", "12/31 23:59",
     "1/12/2027 12:34"],
)
def test_dates_and_times_on_the_home_screen_are_not_the_pin(last_send: str) -> None:
    frame = home(last_send)
    assert old_rule_trips(PIN, frame), "the old rule must trip on this frame (issue 18)"
    assert pin_leaks(PIN, frame) == []
    for typed in range(5):
        assert pin_leaks(PIN, frame, typed) == []


@pytest.mark.parametrize(
    "echo",
    ["1234", "PIN 1234", "1 2 3 4", "1-2-3-4", "１２３４", "１ ２ ３ ４", "01234567"],
)
def test_the_whole_pin_is_found_next_to_dates(echo: str) -> None:
    frame = home("12月12日 12:34", extra=echo)
    assert pin_leaks(PIN, frame) == [PIN]
    with pytest.raises(AssertionError, match="the PIN's digits"):
        assert_no_pin(PIN, [frame])


def test_the_pin_typed_right_against_a_date_is_still_found() -> None:
    # A masked field never swallows the digits around it.
    for glued in ("12月12日 12:341234", "2026-12-12T03:34:00+00:001234", "1234 12月12日"):
        assert pin_leaks(PIN, glued) == [PIN], glued
    assert MASK in mask_dates_and_times("12月12日 12:34")


def test_the_digits_typed_so_far_are_found_on_the_prompt() -> None:
    frame = home("12月12日 12:34", extra="入力  12")
    assert pin_leaks(PIN, frame, typed=2) == ["12"]
    assert pin_leaks(PIN, home("12月12日 12:34", extra="入力  1 2 3"), typed=3) == ["123"]
    with pytest.raises(AssertionError, match=r"\['12'\]"):
        assert_no_pin_while_typing(PIN, [(1, home("12月3日")), (2, frame)])
    # The masks the prompt really shows pass at every step.
    assert_no_pin_while_typing(PIN, [(n, home("12月12日 12:34", extra="●" * n)) for n in range(5)])


def test_a_record_or_log_line_with_times_and_ids_is_not_the_pin() -> None:
    line = (
        '2026-12-12 03:34:56,123 INFO madoguchi.sync: sent {"transaction_id": '
        '"1234abcd-1234-4234-9234-123412341234", '
        '"completed_at": "2026-12-12T03:12:34.123456+00:00"}'
    )
    assert old_rule_trips(PIN, line)
    assert pin_leaks(PIN, line) == []
    assert pin_leaks(PIN, line + ' "pin": "1234"') == [PIN]


def test_a_scan_of_nothing_fails() -> None:
    with pytest.raises(AssertionError, match="nothing to scan"):
        assert_no_pin(PIN, [])
    with pytest.raises(ValueError):
        pin_leaks("1", "1")


def test_an_apdu_trace_duration_is_not_a_leak_but_a_pin_beside_it_is() -> None:
    # A CI run found the birth date's 0401 in "-> 2 B in 0.401 ms" (an APDU trace line).
    trace = "00 A4 04 0C +11B -> 2 B in 0.401 ms"
    assert_no_pin("0401", [trace])
    with pytest.raises(AssertionError):
        assert_no_pin("0401", [trace + " PIN 0401"])
