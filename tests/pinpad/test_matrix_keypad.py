"""The GPIO matrix keypad on gpiozero's MockFactory, through the electrical model.

Most tests drive :meth:`MatrixKeypad.poll` with a fake clock, so debounce and
ghosting are checked with exact, timestamped contact edges; the threaded tests
at the end check the real scan thread and its hand-off to a listener.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.keypad.events import KeyEvent
from drivers.keypad.layouts import LAYOUTS
from drivers.keypad.matrix import MatrixKeypad
from drivers.keypad.matrix_model import KeypadMatrixModel, bounce_schedule
from madoguchi.errors import ConfigError

from .rig import COLS, ROWS, Rig


def test_every_key_of_the_layout_decodes_to_its_label(rig: Rig) -> None:
    for key in rig.pad.keys:
        rig.tap(key)
    assert rig.downs() == list(rig.pad.keys)
    assert [e.key for e in rig.events if not e.pressed] == list(rig.pad.keys)
    assert rig.model.shorts == 0


def test_layouts_have_the_printed_labels() -> None:
    assert "".join(LAYOUTS["4x3"]) == "123456789*0#"
    assert "".join(LAYOUTS["4x4"]) == "123A456B789C*0#D"


def test_events_carry_monotonic_timestamps_in_order(rig: Rig) -> None:
    rig.tap("5")
    rig.tap("0")
    stamps = [e.monotonic for e in rig.events]
    assert stamps == sorted(stamps)
    assert all(100.0 < s <= rig.now for s in stamps)


def test_a_press_wakes_the_scan_and_the_matrix_returns_to_rest(rig: Rig) -> None:
    assert not rig.pad.woken
    rig.model.press("8")
    assert rig.pad.woken  # the column edge, not a timer, starts scanning
    assert rig.run(0.02) is not None  # held: keep scanning
    rig.model.release("8")
    assert rig.run(0.02) is None  # at rest: wait for the next edge
    # at rest every row is driven low again, so the next press makes an edge
    assert all(pin.function == "output" and not pin.state for pin in rig.model.rows)


def test_a_press_shorter_than_the_debounce_time_is_ignored(rig: Rig) -> None:
    rig.model.press("3")
    rig.run(0.005)
    rig.model.release("3")
    rig.run(0.03)
    assert rig.events == []


def test_bounce_on_press_and_release_gives_exactly_one_event_each(rig: Rig) -> None:
    rng = random.Random(7)
    for key in rig.pad.keys:
        for closed in (True, False):
            start = rig.now
            for offset, state in bounce_schedule(closed, rng):
                rig.run(start + offset - rig.now, step=0.0002)
                rig.model.set_switch(key, state)
            rig.run(0.04)
    assert rig.downs() == list(rig.pad.keys)
    assert len(rig.events) == 2 * len(rig.pad.keys)


@settings(max_examples=60, deadline=None)
@given(
    layout=st.sampled_from(["4x3", "4x4"]),
    keys=st.lists(st.integers(0, 15), min_size=1, max_size=12),
    seed=st.integers(0, 2**32 - 1),
    step=st.sampled_from([0.0003, 0.001, 0.002]),
)
def test_bounce_never_doubles_or_loses_a_key(
    layout: str, keys: list[int], seed: int, step: float
) -> None:
    rig = Rig(MockFactory(), layout)
    labels = rig.pad.keys
    typed = [labels[k % len(labels)] for k in keys]
    rng = random.Random(seed)
    try:
        for key in typed:
            for closed, hold in ((True, rng.uniform(0.02, 0.06)), (False, rng.uniform(0.02, 0.06))):
                start = rig.now
                for offset, state in bounce_schedule(closed, rng):
                    rig.run(start + offset - rig.now, step=step)
                    rig.model.set_switch(key, state)
                rig.run(hold, step=step)
        assert rig.downs() == typed
    finally:
        rig.pad.close()


@settings(max_examples=80, deadline=None)
@given(layout=st.sampled_from(["4x3", "4x4"]), data=st.data())
def test_two_keys_down_decode_exactly_those_two(layout: str, data: st.DataObject) -> None:
    rig = Rig(MockFactory(), layout)
    try:
        pair = data.draw(st.lists(st.sampled_from(rig.pad.keys), min_size=2, max_size=2,
                                  unique=True))
        for key in pair:
            rig.model.press(key)
            rig.run(0.02)
        assert rig.pad.pressed_keys == set(pair)
        assert sorted(rig.downs()) == sorted(pair)
        assert rig.model.shorts == 0
    finally:
        rig.pad.close()


def test_three_keys_on_a_rectangle_never_report_the_phantom_fourth(
    mock_factory: MockFactory,
) -> None:
    rig = Rig(mock_factory, "4x3")
    # "1", "2" and "4" close the loop that makes "5" read as pressed
    for key in "124":
        rig.model.press(key)
        rig.run(0.02)
    assert "5" not in rig.pad.pressed_keys
    assert "5" not in rig.downs()
    assert rig.pad.ghost_scans > 0
    for key in "124":
        rig.model.release(key)
    rig.run(0.05)
    assert rig.pad.pressed_keys == frozenset()
    assert rig.model.shorts == 0


@settings(max_examples=80, deadline=None)
@given(layout=st.sampled_from(["4x3", "4x4"]), data=st.data())
def test_any_chord_only_ever_reports_keys_that_are_really_down(
    layout: str, data: st.DataObject
) -> None:
    rig = Rig(MockFactory(), layout)
    labels = rig.pad.keys
    try:
        actions = data.draw(st.lists(st.tuples(st.sampled_from(labels), st.booleans()),
                                     min_size=1, max_size=25))
        for key, closed in actions:
            rig.model.set_switch(key, closed)
            before = len(rig.events)
            rig.run(0.015)
            for event in rig.events[before:]:
                if event.pressed:
                    assert event.key in rig.model.closed
        for key in labels:
            rig.model.release(key)
        rig.run(0.03)
        assert rig.pad.pressed_keys == frozenset()
        assert rig.model.shorts == 0
    finally:
        rig.pad.close()


def test_keys_are_dropped_while_no_prompt_is_active(rig: Rig) -> None:
    rig.pad.set_prompt_active(False)
    rig.tap("1")
    assert rig.events == []
    rig.pad.set_prompt_active(True)
    rig.tap("2")
    assert rig.downs() == ["2"]


def test_key_event_repr_hides_the_label() -> None:
    event = KeyEvent("7", True, 1.5)
    assert "7" not in repr(event).replace("1.5", "")
    assert "<hidden>" in str(event)


def test_custom_keymap_relabels_keys(mock_factory: MockFactory) -> None:
    keymap = ("ABC", "DEF", "GHI", "JKL")
    KeypadMatrixModel(mock_factory, ROWS, COLS["4x3"], keymap=keymap)
    pad = MatrixKeypad(ROWS, COLS["4x3"], keymap=keymap, start=False, pin_factory=mock_factory)
    assert pad.keys == "ABCDEFGHIJKL"
    pad.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layout": "5x5"}, "unknown keypad layout"),
        ({"layout": "4x4"}, "4 column pins"),
        ({"keymap": ("123", "456")}, "must have 4 rows"),
        ({"keymap": ("123", "456", "789", "*0*")}, "twice"),
        ({"scan_interval": 0}, "positive"),
    ],
)
def test_bad_configuration_is_a_config_error(
    mock_factory: MockFactory, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        MatrixKeypad(ROWS, COLS["4x3"], start=False, pin_factory=mock_factory, **kwargs)


def test_a_pin_already_in_use_is_a_keypad_error(mock_factory: MockFactory) -> None:
    from madoguchi.errors import KeypadError

    with pytest.raises(KeypadError):
        MatrixKeypad(ROWS, (12, 16, 12), start=False, pin_factory=mock_factory)


# -- the real scan thread ---------------------------------------------------

def _wait_for(predicate: object, timeout: float = 5.0) -> bool:
    assert callable(predicate)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())


def test_scan_thread_delivers_events_on_its_own_thread(mock_factory: MockFactory) -> None:
    KeypadMatrixModel(mock_factory, ROWS, COLS["4x3"])
    pad = MatrixKeypad(ROWS, COLS["4x3"], pin_factory=mock_factory)
    seen: list[tuple[str, bool, str]] = []
    lock = threading.Lock()

    def listener(event: KeyEvent) -> None:
        with lock:
            seen.append((event.key, event.pressed, threading.current_thread().name))

    pad.add_listener(listener)
    pad.set_prompt_active(True)
    rng = random.Random(3)
    chatter_model = _model_of(mock_factory)
    try:
        for key in "1590#":
            chatter_model.chatter(key, True, rng)
            time.sleep(0.03)
            chatter_model.chatter(key, False, rng)
            time.sleep(0.03)
        assert _wait_for(lambda: len(seen) == 10)
        assert [k for k, down, _ in seen if down] == list("1590#")
        assert {name for _, _, name in seen} == {"keypad-scan"}
    finally:
        pad.close()


def _model_of(factory: MockFactory) -> KeypadMatrixModel:
    pin = next(p for p in factory.pins.values() if hasattr(p, "model"))
    model = pin.model
    assert isinstance(model, KeypadMatrixModel)
    return model


def test_scan_thread_sleeps_at_rest(mock_factory: MockFactory) -> None:
    KeypadMatrixModel(mock_factory, ROWS, COLS["4x3"])
    pad = MatrixKeypad(ROWS, COLS["4x3"], pin_factory=mock_factory)
    try:
        time.sleep(0.05)
        scans = pad.scans
        time.sleep(0.2)
        assert pad.scans == scans  # no polling without a key
        _model_of(mock_factory).press("4")
        assert _wait_for(lambda: pad.pressed_keys == {"4"})
        _model_of(mock_factory).release("4")
        assert _wait_for(lambda: pad.pressed_keys == frozenset())
    finally:
        pad.close()


def test_the_same_key_again_soon_after_a_long_hold_is_never_merged() -> None:
    """A release found late (between hold-time scans) must still be confirmed before
    a quick second press of the same key; stepped like the scan thread, by the bench's loop."""
    from madoguchi.bench.pinpad import _SimulatedScanLoop

    factory = MockFactory()
    model = KeypadMatrixModel(factory, ROWS, COLS["4x3"])
    pad = MatrixKeypad(ROWS, COLS["4x3"], start=False, pin_factory=factory)
    pad.set_prompt_active(True)
    downs: list[str] = []
    pad.add_listener(lambda e: downs.append(e.key) if e.pressed else None)
    loop = _SimulatedScanLoop(pad)
    loop.advance(474.0)  # far from zero, where float subtraction loses bits
    rng = random.Random(5)
    try:
        for _ in range(300):
            hold, gap = rng.uniform(0.02, 0.08), rng.uniform(0.02, 0.03)
            for closed, pause in ((True, hold), (False, gap)):
                elapsed = 0.0
                for offset, state in bounce_schedule(closed, rng):
                    loop.advance(offset - elapsed)
                    elapsed = offset
                    model.set_switch("2", state)
                loop.advance(pause)
    finally:
        pad.close()
    assert downs == ["2"] * 300


def test_a_held_key_does_not_make_the_scan_thread_spin(mock_factory: MockFactory) -> None:
    KeypadMatrixModel(mock_factory, ROWS, COLS["4x3"])
    pad = MatrixKeypad(ROWS, COLS["4x3"], pin_factory=mock_factory)
    try:
        _model_of(mock_factory).press("6")
        assert _wait_for(lambda: pad.pressed_keys == {"6"})
        before = pad.scans
        time.sleep(0.3)
        # one scan per hold interval (10 ms); a loop woken by its own scans would make thousands
        assert pad.scans - before < 300
        _model_of(mock_factory).release("6")
        assert _wait_for(lambda: pad.pressed_keys == frozenset())
    finally:
        pad.close()
