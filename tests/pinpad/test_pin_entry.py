"""The PIN entry state machine: rules, multi-tap, timeouts, wiping, and what leaks (nothing)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.pin_entry import (
    MULTITAP_GROUPS,
    SIGNATURE_PASSWORD,
    USER_AUTH_PIN,
    PinAlreadyUsedError,
    PinEntry,
    PinEntryEvent,
    PinEntryState,
    PinEntryStateError,
    PinEventKind,
    PinHandle,
    PinProblem,
    PinSpec,
    TimeoutKind,
)
from drivers.keypad.events import KeyEvent
from drivers.keypad.keyboard import KeyboardKeypad

from .logs import log_text, without_frames


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """A PIN entry with a fake clock, recording UI events and what the consumer got."""

    def __init__(
        self,
        spec: PinSpec = USER_AUTH_PIN,
        consumer: Callable[[PinHandle], None] | None = None,
        pad: KeyboardKeypad | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.events: list[PinEntryEvent] = []
        self.received: list[bytes] = []  # test-only copies, to check the right PIN arrived
        self.handles: list[PinHandle] = []
        self.entry = PinEntry(
            spec,
            on_event=self.events.append,
            on_complete=consumer or self._consume,
            clock=self.clock,
            overall_timeout=60.0,
            inter_key_timeout=15.0,
            multitap_commit=1.0,
            pad=pad,
        )
        self.entry.start()

    def _consume(self, handle: PinHandle) -> None:
        self.handles.append(handle)
        with handle.open() as pin:
            assert isinstance(pin, bytearray)
            self.received.append(bytes(pin))

    def keys(self, keys: str, gap: float = 0.1) -> None:
        for key in keys:
            self.clock.advance(gap)
            self.entry.on_key(KeyEvent(key, True, self.clock.now))
            self.entry.on_key(KeyEvent(key, False, self.clock.now))

    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.entry.check_timeouts()

    def kinds(self) -> list[PinEventKind]:
        return [e.kind for e in self.events]


def _all_zero(buffer: bytearray) -> bool:
    return not any(buffer)


# -- 4-digit PINs ---------------------------------------------------------------

def test_four_digits_and_enter_hand_the_pin_over_once_and_wipe_everything() -> None:
    h = Harness()
    h.keys("2580#")
    assert h.received == [b"2580"]
    assert h.entry.state is PinEntryState.COMPLETE
    assert _all_zero(h.entry.buffer_bytes())
    assert _all_zero(h.handles[0].raw())
    assert h.kinds() == [PinEventKind.STARTED] + [PinEventKind.LENGTH_CHANGED] * 4 + [
        PinEventKind.COMPLETED
    ]
    assert [e.length for e in h.events] == [0, 1, 2, 3, 4, 4]


def test_enter_too_early_is_refused_and_keeps_what_was_typed() -> None:
    h = Harness()
    h.keys("25#")
    assert h.events[-1].problem is PinProblem.TOO_SHORT
    assert h.entry.state is PinEntryState.ENTERING
    h.keys("80#")
    assert h.received == [b"2580"]


def test_a_fifth_digit_is_refused() -> None:
    h = Harness()
    h.keys("25801")
    assert h.events[-1].kind is PinEventKind.REJECTED
    assert h.events[-1].problem is PinProblem.TOO_LONG
    h.keys("#")
    assert h.received == [b"2580"]


def test_backspace_and_clear() -> None:
    h = Harness()
    h.keys("259*80#")  # * is backspace on the 4x3 pad
    assert h.received == [b"2580"]
    h = Harness()
    h.keys("99C2580D")  # C clears, D is Enter on the 4x4 pad
    assert h.received == [b"2580"]
    assert h.events[3].length == 0


def test_programmatic_controls() -> None:
    h = Harness()
    h.keys("123")
    h.entry.backspace()
    assert h.entry.length == 2
    h.entry.clear()
    assert h.entry.length == 0
    assert _all_zero(h.entry.buffer_bytes())
    h.keys("1234")
    h.entry.enter()
    assert h.received == [b"1234"]


def test_unused_key_is_reported_without_naming_it() -> None:
    spec = PinSpec("test", 4, 4)
    h = Harness(spec)
    h.entry.on_key(KeyEvent("X", True, h.clock.now))
    assert h.events[-1].problem is PinProblem.KEY_NOT_USED


def test_start_twice_is_an_error() -> None:
    h = Harness()
    with pytest.raises(PinEntryStateError):
        h.entry.start()


# -- every exit wipes -------------------------------------------------------------

EXITS: dict[str, Callable[[Harness], None]] = {
    "cancel key": lambda h: h.keys("A"),
    "cancel()": lambda h: h.entry.cancel(),
    "card removed": lambda h: h.entry.card_removed(),
    "inter-key timeout": lambda h: h.wait(15.0),
    "overall timeout": lambda h: [h.keys("*1", gap=9.0) for _ in range(4)] and None,
}


@pytest.mark.parametrize("exit_path", list(EXITS), ids=list(EXITS))
def test_every_way_out_wipes_the_buffer(exit_path: str) -> None:
    keyboard = KeyboardKeypad()
    h = Harness(pad=keyboard)
    assert keyboard.prompt_active
    h.keys("975")
    assert any(h.entry.buffer_bytes())
    EXITS[exit_path](h)
    assert h.entry.state.finished
    assert h.entry.state is not PinEntryState.COMPLETE
    assert _all_zero(h.entry.buffer_bytes())
    assert h.received == []
    assert not keyboard.prompt_active  # the gate is closed again
    # keys after the end go nowhere
    before = len(h.events)
    h.keys("1#")
    assert len(h.events) == before


def test_timeouts_name_which_limit_ran_out() -> None:
    h = Harness()
    h.keys("1")
    h.wait(14.9)
    assert h.entry.state is PinEntryState.ENTERING
    h.wait(0.1)
    assert h.events[-1].kind is PinEventKind.TIMED_OUT
    assert h.events[-1].timeout is TimeoutKind.INTER_KEY

    h = Harness()
    for _ in range(7):
        h.keys("1*", gap=4.0)  # keys keep coming, but the whole entry takes too long
    h.wait(5.0)
    assert h.events[-1].timeout is TimeoutKind.OVERALL


def test_a_timeout_is_applied_before_a_late_key() -> None:
    h = Harness()
    h.keys("123")
    h.clock.advance(20.0)
    h.keys("4", gap=0.0)
    assert h.entry.state is PinEntryState.TIMED_OUT
    assert _all_zero(h.entry.buffer_bytes())


def test_next_deadline_follows_the_limits() -> None:
    h = Harness(SIGNATURE_PASSWORD)
    start = h.clock.now
    assert h.entry.next_deadline() == pytest.approx(start + 15.0)
    h.keys("2")
    assert h.entry.next_deadline() == pytest.approx(h.clock.now + 1.0)  # multi-tap commit
    h.entry.cancel()
    assert h.entry.next_deadline() is None


# -- the hand-off -------------------------------------------------------------------

def test_a_consumer_that_raises_still_leaves_everything_wiped() -> None:
    seen: list[PinHandle] = []

    def consumer(handle: PinHandle) -> None:
        seen.append(handle)
        raise RuntimeError("card went away")

    h = Harness(consumer=consumer)
    h.keys("1234#")  # reported as a FAILED event, not raised (test_consumer_failure.py)
    assert h.kinds()[-1] is PinEventKind.FAILED
    assert _all_zero(seen[0].raw())
    assert _all_zero(h.entry.buffer_bytes())


def test_a_handle_opens_once_and_a_copy_kept_by_mistake_is_zeroed() -> None:
    kept: list[bytearray] = []

    def consumer(handle: PinHandle) -> None:
        with handle.open() as pin:
            kept.append(pin)
        with pytest.raises(PinAlreadyUsedError), handle.open():
            pass

    h = Harness(consumer=consumer)
    h.keys("1234#")
    assert kept[0] == bytearray(4)
    assert "1234" not in repr(h.entry) + repr(kept) + repr(h.events)


# -- multi-tap (signature password) ------------------------------------------------

def test_multitap_types_letters_and_digits() -> None:
    h = Harness(SIGNATURE_PASSWORD)
    # A, (pause) B, (pause) C, 1, 2 (fourth tap on "2"), 3 (fourth tap on "3")
    h.keys("2")
    h.wait(1.0)
    h.keys("22")
    h.wait(1.0)
    h.keys("222")
    h.keys("1")
    h.keys("2222")
    h.keys("3333")
    h.keys("#")
    assert h.received == [b"ABC123"]
    taps = [e.tap_index for e in h.events if e.kind is PinEventKind.TAP]
    assert taps == [1, 1, 2, 1, 2, 3, 1, 2, 3]


def test_multitap_a_different_key_commits_the_pending_letter() -> None:
    h = Harness(SIGNATURE_PASSWORD)
    h.keys("23789992#")  # A D P T Y A: six letters, no digit
    assert h.events[-1].problem is PinProblem.NEEDS_LETTER_AND_DIGIT
    h.keys("*")  # backspace drops the last letter
    h.keys("0#")
    assert h.received == [b"ADPTY0"]


def test_multitap_cycle_wraps_around() -> None:
    h = Harness(SIGNATURE_PASSWORD)
    h.keys("7" * 6)  # P Q R S 7 P
    assert h.events[-1].tap_index == 0
    h.wait(1.0)
    assert h.events[-1].kind is PinEventKind.COMMITTED
    h.keys("11111#")
    assert h.received == [b"P11111"]


def test_signature_password_rules() -> None:
    h = Harness(SIGNATURE_PASSWORD)
    h.keys("11111#")
    assert h.events[-1].problem is PinProblem.TOO_SHORT
    h.keys("1#")
    assert h.events[-1].problem is PinProblem.NEEDS_LETTER_AND_DIGIT
    h.keys("1" * 10)
    h.keys("1")
    assert h.events[-1].problem is PinProblem.TOO_LONG
    assert h.entry.length == 16


# -- nothing leaks ------------------------------------------------------------------

ALLOWED_FIELDS = {"kind", "state", "length", "tap_index", "problem", "timeout", "failure"}


def _check_event(event: PinEntryEvent) -> None:
    """An event can carry no character: only enums, a length, a tap position, and on
    FAILED the consumer's error (tests/pinpad/test_consumer_failure.py)."""
    assert {f.name for f in dataclasses.fields(event)} == ALLOWED_FIELDS
    assert isinstance(event.kind, PinEventKind)
    assert isinstance(event.state, PinEntryState)
    assert type(event.length) is int
    assert event.tap_index is None or (
        type(event.tap_index) is int and 0 <= event.tap_index < 5
    )
    assert event.problem is None or isinstance(event.problem, PinProblem)
    assert event.timeout is None or isinstance(event.timeout, TimeoutKind)
    assert (event.failure is None) is (event.kind is not PinEventKind.FAILED)


KEYS_4X4 = "0123456789*#ABCD"


@settings(max_examples=150, deadline=None)
@given(
    spec=st.sampled_from([USER_AUTH_PIN, SIGNATURE_PASSWORD]),
    steps=st.lists(
        st.tuples(st.sampled_from(KEYS_4X4), st.sampled_from([0.05, 0.3, 1.2, 16.0])),
        max_size=40,
    ),
)
def test_random_typing_keeps_every_invariant(
    spec: PinSpec, steps: list[tuple[str, float]]
) -> None:
    h = Harness(spec)
    for key, gap in steps:
        h.keys(key, gap=gap)
        buf = h.entry.buffer_bytes()
        assert len(buf) == spec.max_length  # never reallocated
        assert not any(buf[h.entry.length :])  # nothing beyond the typed length
        assert h.entry.length <= spec.max_length
    h.entry.cancel()
    assert _all_zero(h.entry.buffer_bytes())
    for handle in h.handles:
        assert _all_zero(handle.raw())
    for event in h.events:
        _check_event(event)
    for pin in h.received:
        assert spec.check(pin) is None


def test_no_pin_reaches_the_ui_events_or_any_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keyboard = KeyboardKeypad(clock=lambda: 0.0)  # no digits from timestamps in the logs
    ui_messages: list[PinEntryEvent] = []
    received: list[bytes] = []

    def consumer(handle: PinHandle) -> None:
        with handle.open() as pin:
            received.append(bytes(pin))
            logging.getLogger("madoguchi.test").info("consumer got %r", handle)

    entry = PinEntry(USER_AUTH_PIN, on_event=ui_messages.append, on_complete=consumer,
                     pad=keyboard)
    keyboard.add_listener(lambda e: logging.getLogger("drivers.test").debug("key %s", e))
    keyboard.add_listener(lambda e: 1 / 0)  # a failing listener is logged, masked
    entry.start()
    for key in "9731":
        assert keyboard.feed(key)
    assert keyboard.feed("enter")
    assert received == [b"9731"]
    for event in ui_messages:
        _check_event(event)
        assert "9731" not in repr(event)
    text = without_frames(log_text(caplog))
    assert caplog.records  # the flow does log, just never the PIN
    assert "ZeroDivisionError: division by zero" in text  # with its message
    for digit in "9731":  # not the PIN, and not one of its digits either
        assert digit not in text


# -- the keyboard stand-in ------------------------------------------------------------

def test_keyboard_pad_is_labelled_simulated_and_takes_keys_only_during_a_prompt() -> None:
    keyboard = KeyboardKeypad(clock=lambda: 5.0)
    assert keyboard.simulated is True
    assert "Simulated" in keyboard.label
    got: list[KeyEvent] = []
    keyboard.add_listener(got.append)
    assert keyboard.feed("1") is False  # no prompt: the TUI keeps the key
    keyboard.set_prompt_active(True)
    assert keyboard.feed("1") is True
    assert keyboard.feed("x") is False
    assert keyboard.feed("١") is False  # a non-ASCII digit is not a pad key
    assert keyboard.feed("escape") is True
    assert [(e.key, e.pressed, e.monotonic) for e in got] == [
        ("1", True, 5.0), ("1", False, 5.0), ("A", True, 5.0), ("A", False, 5.0)
    ]
    keyboard.remove_listener(got.append)
    keyboard.close()
    assert keyboard.feed("2") is False


def test_an_entry_subscribes_on_start_and_unsubscribes_when_done() -> None:
    keyboard = KeyboardKeypad()
    first = Harness(pad=keyboard)
    for key in "1234":
        keyboard.feed(key)
    keyboard.feed("enter")
    assert first.received == [b"1234"]
    second = Harness(pad=keyboard)  # the next prompt on the same pad
    for key in "5678":
        keyboard.feed(key)
    keyboard.feed("escape")
    assert second.entry.state is PinEntryState.CANCELLED
    assert first.received == [b"1234"]  # the finished entry heard none of it
    keyboard.set_prompt_active(True)  # even with the gate forced open
    events_before = len(first.events) + len(second.events)
    keyboard.feed("9")
    assert len(first.events) + len(second.events) == events_before


def _taps_for(password: bytes) -> list[tuple[str, float]]:
    """The key presses (and the pause before each) that type ``password`` by multi-tap."""
    where = {char: (key, i) for key, group in MULTITAP_GROUPS.items() for i, char in
             enumerate(group)}
    steps: list[tuple[str, float]] = []
    previous = ""
    for char in password:
        key, index = where[char]
        pause = 1.0 if key == previous else 0.1  # same key again: wait for the commit
        steps.append((key, pause))
        steps.extend((key, 0.1) for _ in range(index))
        previous = key
    return steps


@settings(max_examples=100, deadline=None)
@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=6, max_size=16).filter(
        lambda p: any(c.isdigit() for c in p) and any(c.isalpha() for c in p)
    )
)
def test_any_valid_signature_password_can_be_typed_by_multitap(password: str) -> None:
    h = Harness(SIGNATURE_PASSWORD)
    for key, pause in _taps_for(password.encode()):
        h.keys(key, gap=pause)
    h.keys("#")
    assert h.received == [password.encode()]
    assert _all_zero(h.entry.buffer_bytes())


def test_cancel_from_another_thread_while_keys_arrive_leaves_nothing() -> None:
    import threading

    for _ in range(20):
        h = Harness(SIGNATURE_PASSWORD)
        go = threading.Event()

        def typist(harness: Harness = h, go: threading.Event = go) -> None:
            go.wait()
            for _ in range(200):
                harness.entry.on_key(KeyEvent("7", True, harness.clock.now))

        thread = threading.Thread(target=typist)
        thread.start()
        go.set()
        h.entry.cancel()
        thread.join()
        assert h.entry.state is PinEntryState.CANCELLED
        assert _all_zero(h.entry.buffer_bytes())
