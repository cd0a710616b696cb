"""The pure debouncer and ghost detector, fed with exact timestamps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.keypad.debounce import MatrixDebouncer, is_ghosted


@pytest.mark.parametrize(
    ("masks", "ghosted"),
    [
        ([0, 0, 0, 0], False),
        ([0b001, 0, 0, 0], False),
        ([0b011, 0, 0, 0], False),  # two keys in one row
        ([0b001, 0b001, 0, 0], False),  # two keys in one column
        ([0b011, 0b011, 0, 0], True),  # a rectangle: one corner may be a phantom
        ([0b101, 0, 0b101, 0], True),
        ([0b111, 0b100, 0b010, 0], False),
    ],
)
def test_ghost_detection(masks: list[int], ghosted: bool) -> None:
    assert is_ghosted(masks) is ghosted


def test_a_change_counts_only_after_the_debounce_time() -> None:
    deb = MatrixDebouncer(1, 1, 0.010)
    assert deb.update(0.000, [1]) == []
    assert deb.update(0.009, [1]) == []
    (t,) = deb.update(0.010, [1])
    assert (t.index, t.pressed, t.monotonic) == (0, True, 0.010)
    assert deb.pressed == {0}
    assert deb.settled


def test_short_chatter_adds_no_latency() -> None:
    deb = MatrixDebouncer(1, 1, 0.010)  # settle time 5 ms
    deb.update(0.000, [1])
    deb.update(0.002, [0])
    deb.update(0.004, [1])  # chatter over after 4 ms
    assert deb.update(0.0099, [1]) == []
    assert [t.monotonic for t in deb.update(0.010, [1])] == [0.010]


def test_long_chatter_waits_until_the_reading_is_steady() -> None:
    deb = MatrixDebouncer(1, 1, 0.010)
    deb.update(0.000, [1])
    deb.update(0.004, [0])
    deb.update(0.008, [1])  # last edge at 8 ms
    assert deb.update(0.012, [1]) == []  # 12 ms old, but steady only 4 ms
    assert [t.pressed for t in deb.update(0.0131, [1])] == [True]


def test_a_glitch_is_forgotten_once_the_line_is_steady_again() -> None:
    deb = MatrixDebouncer(1, 1, 0.010)
    deb.update(0.000, [1])
    deb.update(0.001, [0])  # a 1 ms spike
    assert not deb.settled
    deb.update(0.0061, [0])
    assert deb.settled  # the open change was dropped after the settle time
    deb.update(0.100, [1])  # a real press much later starts its own window
    assert deb.update(0.105, [1]) == []
    assert [t.pressed for t in deb.update(0.1101, [1])] == [True]


def test_settle_time_must_fit_in_the_debounce_time() -> None:
    with pytest.raises(ValueError, match="settle_time"):
        MatrixDebouncer(1, 1, 0.010, settle_time=0.02)


def test_a_ghosted_scan_changes_nothing() -> None:
    deb = MatrixDebouncer(2, 2, 0.005)
    deb.update(0.0, [0b01, 0])
    assert deb.update(0.003, [0b11, 0b11]) == []
    assert deb.update(0.010, [0b11, 0b11]) == []
    assert not deb.settled
    assert deb.ghost_scans == 2
    assert [t.index for t in deb.update(0.011, [0b01, 0])] == [0]


def test_releases_are_reported_before_presses_in_one_scan() -> None:
    deb = MatrixDebouncer(1, 2, 0.0)
    deb.update(0.0, [0b01])
    transitions = deb.update(1.0, [0b10])
    assert [(t.index, t.pressed) for t in transitions] == [(0, False), (1, True)]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="negative"):
        MatrixDebouncer(1, 1, -1)
    with pytest.raises(ValueError, match="row masks"):
        MatrixDebouncer(2, 1, 0.01).update(0.0, [0])


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.floats(0.0001, 0.0049), min_size=0, max_size=20),
    hold=st.floats(0.011, 0.2),
)
def test_any_chatter_shorter_than_the_window_gives_one_press_and_one_release(
    gaps: list[float], hold: float
) -> None:
    """Chatter is toggles less than 5 ms apart; then the contact holds."""
    deb = MatrixDebouncer(1, 1, 0.010)
    now, state, events = 0.0, 1, []
    for phase_end_state in (1, 0):
        state = phase_end_state
        events += deb.update(now, [state])
        for gap in gaps:
            now += gap
            state ^= 1
            events += deb.update(now, [state])
        if state != phase_end_state:
            now += 0.0001
            state = phase_end_state
            events += deb.update(now, [state])
        end = now + hold
        while now < end:
            now += 0.001
            events += deb.update(now, [state])
    assert [t.pressed for t in events] == [True, False]
