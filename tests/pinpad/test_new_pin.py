"""A new PIN typed twice on the pad: format, mismatch, advice, wiping, what leaks (nothing)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.card.errors import WrongPinError
from device.pin_entry import (
    CARD_INPUT_ASSIST_PIN,
    JUKI_PIN,
    MULTITAP_GROUPS,
    SIGNATURE_PASSWORD,
    USER_AUTH_PIN,
    NewPin,
    NewPinEntry,
    NewPinEvent,
    NewPinEventKind,
    NewPinStep,
    PinEntryEvent,
    PinEntryState,
    PinSpec,
    TimeoutKind,
    TimeoutTicker,
    birth_date_forms,
    is_easy_to_guess,
)
from drivers.keypad.events import KeyEvent
from drivers.keypad.keyboard import KeyboardKeypad

from .logs import log_text, without_frames

BIRTH = dt.date(1987, 6, 25)
#: multi-tap: character -> (key, taps)
TAPS = {chr(c): (key, i + 1) for key, group in MULTITAP_GROUPS.items() for i, c in enumerate(group)}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Flow:
    """A new-PIN entry on a fake clock; after every key it checks every buffer."""

    def __init__(
        self,
        spec: PinSpec = USER_AUTH_PIN,
        *,
        ask_current: bool = False,
        avoid: tuple[bytes, ...] = (),
        fail: Exception | None = None,
        pad: KeyboardKeypad | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.events: list[NewPinEvent] = []
        self.received: list[tuple[bytes | None, bytes]] = []  # test-only copies
        self.got: list[NewPin] = []
        self.fail = fail
        self.left_entries: list[bytearray] = []  # buffers of finished steps
        self.flow = NewPinEntry(
            spec, on_event=self.events.append, on_complete=self._consume,
            ask_current=ask_current, avoid=avoid, clock=self.clock,
            overall_timeout=60.0, inter_key_timeout=15.0, multitap_commit=1.0, pad=pad,
        )
        self.flow.start()
        self._watch()

    def _consume(self, new_pin: NewPin) -> None:
        self.got.append(new_pin)
        current = None
        if new_pin.current is not None:
            with new_pin.current.open() as pin:
                current = bytes(pin)
        with new_pin.new.open() as pin:
            assert isinstance(pin, bytearray)
            self.received.append((current, bytes(pin)))
        # nothing held by the flow while the consumer runs
        assert self.flow.held_lengths() == (0, 0)
        assert not any(self.flow.buffers()[0])
        assert not any(self.flow.buffers()[1])
        if self.fail is not None:
            raise self.fail

    def _watch(self) -> None:
        entry = self.flow.entry()
        if entry is not None and all(entry.buffer_bytes() is not b for b in self.left_entries):
            self.left_entries.append(entry.buffer_bytes())

    def check_buffers(self) -> None:
        """Every finished step's buffer is zero; the flow holds only what its step needs."""
        self._watch()
        live = self.flow.entry()
        for buffer in self.left_entries:
            if live is None or buffer is not live.buffer_bytes() or live.state.finished:
                assert not any(buffer)
        current, first = self.flow.held_lengths()
        step = self.flow.step
        if self.flow.state.finished:
            assert (current, first) == (0, 0)
            assert all(not any(b) for b in self.flow.buffers())
        else:
            assert first == 0 or step in (NewPinStep.ADVICE, NewPinStep.CONFIRM)
            assert current == 0 or step is not NewPinStep.CURRENT
        for handle in self.got:
            assert not any(handle.new.raw())
            assert handle.current is None or not any(handle.current.raw())

    def press(self, key: str, gap: float = 0.1) -> None:
        self.clock.now += gap
        self.flow.on_key(KeyEvent(key, True, self.clock.now))
        self.flow.on_key(KeyEvent(key, False, self.clock.now))
        self.check_buffers()

    def keys(self, keys: str) -> None:
        for key in keys:
            self.press(key)

    def password(self, text: str) -> None:
        """Type ``text`` by multi-tap, each character fixed by the pause."""
        for char in text:
            key, taps = TAPS[char]
            for _ in range(taps):
                self.press(key)
            self.clock.now += 1.1
            self.flow.check_timeouts()
            self.check_buffers()

    def wait(self, seconds: float) -> None:
        self.clock.now += seconds
        self.flow.check_timeouts()
        self.check_buffers()

    def kinds(self) -> list[NewPinEventKind]:
        return [e.kind for e in self.events if e.kind is not NewPinEventKind.ENTRY]

    def steps(self) -> list[NewPinStep]:
        return [e.step for e in self.events if e.kind is NewPinEventKind.STEP]


# -- the happy paths --------------------------------------------------------------

@pytest.mark.parametrize("spec", [USER_AUTH_PIN, CARD_INPUT_ASSIST_PIN, JUKI_PIN])
def test_a_four_digit_pin_typed_twice_is_released_once_and_wiped(spec: PinSpec) -> None:
    f = Flow(spec)
    f.keys("2580#")
    assert f.flow.step is NewPinStep.CONFIRM
    assert f.received == []
    f.keys("2580#")
    assert f.received == [(None, b"2580")]
    assert f.flow.state is PinEntryState.COMPLETE
    assert f.flow.released == 1
    assert f.kinds() == [NewPinEventKind.STEP, NewPinEventKind.STEP, NewPinEventKind.COMPLETED]
    assert f.steps() == [NewPinStep.NEW, NewPinStep.CONFIRM]


def test_a_change_asks_the_current_pin_first_and_releases_both() -> None:
    f = Flow(ask_current=True)
    f.keys("1234#")
    assert f.flow.step is NewPinStep.NEW
    assert f.flow.held_lengths() == (4, 0)
    f.keys("9157#9157#")
    assert f.received == [(b"1234", b"9157")]
    assert f.steps() == [NewPinStep.CURRENT, NewPinStep.NEW, NewPinStep.CONFIRM]


def test_the_signature_password_by_multi_tap_twice() -> None:
    f = Flow(SIGNATURE_PASSWORD)
    f.password("KAZE5MORI")
    f.press("#")
    assert f.flow.step is NewPinStep.CONFIRM
    f.password("KAZE5MORI")
    f.press("#")
    assert f.received == [(None, b"KAZE5MORI")]


# -- format, mismatch ---------------------------------------------------------------

def test_a_short_pin_is_refused_at_the_first_step_and_kept_for_correction() -> None:
    f = Flow()
    f.keys("258#")
    assert f.flow.step is NewPinStep.NEW
    refused = [e.entry for e in f.events if e.entry is not None and e.entry.problem]
    assert refused
    assert refused[-1].length == 3
    f.keys("0#")
    assert f.steps()[-1] is NewPinStep.CONFIRM


def test_a_password_without_a_digit_never_reaches_the_confirmation() -> None:
    f = Flow(SIGNATURE_PASSWORD)
    f.password("KAZEMORI")
    f.press("#")
    assert f.flow.step is NewPinStep.NEW
    assert f.received == []


def test_a_mismatch_wipes_both_and_asks_for_both_again_sending_nothing() -> None:
    f = Flow(ask_current=True)
    f.keys("1234#2580#2581#")
    assert f.received == []
    assert f.flow.mismatches == 1
    assert f.flow.step is NewPinStep.NEW
    assert f.flow.held_lengths() == (4, 0)  # the current PIN is not asked again
    assert NewPinEventKind.MISMATCH in f.kinds()
    f.keys("3691#3691#")
    assert f.received == [(b"1234", b"3691")]
    assert [e.mismatches for e in f.events][-1] == 1


# -- advice -------------------------------------------------------------------------

@pytest.mark.parametrize("pin", ["1111", "1234", "4321", "7890", "0625", "1987", "2506"])
def test_easy_choices_get_advice_which_enter_keeps(pin: str) -> None:
    f = Flow(avoid=birth_date_forms(BIRTH))
    f.keys(pin + "#")
    assert f.flow.step is NewPinStep.ADVICE
    assert f.kinds()[-1] is NewPinEventKind.ADVICE
    f.press("5")  # neither choice: a reminder, nothing typed
    assert f.kinds()[-1] is NewPinEventKind.ADVICE
    f.keys("#" + pin + "#")
    assert f.received == [(None, pin.encode())]


def test_advice_clear_chooses_again_and_the_first_choice_is_wiped() -> None:
    f = Flow()
    f.keys("0000#")
    assert f.flow.held_lengths() == (0, 4)
    f.press("*")
    assert f.flow.step is NewPinStep.NEW
    assert f.flow.held_lengths() == (0, 0)
    f.keys("2580#2580#")
    assert f.received == [(None, b"2580")]


def test_advice_never_says_why() -> None:
    f = Flow(avoid=birth_date_forms(BIRTH))
    f.keys("0625#")
    advice = [e for e in f.events if e.kind is NewPinEventKind.ADVICE]
    assert advice == [NewPinEvent(NewPinEventKind.ADVICE, NewPinStep.ADVICE)]


def test_advice_rules() -> None:
    forms = birth_date_forms(BIRTH)
    assert forms == (b"1987", b"0625", b"2506", b"870625", b"19870625")
    for weak in (b"9999", b"0123", b"9876", b"8901", b"AAAAAA"):
        assert is_easy_to_guess(bytearray(weak))
    for fine in (b"2580", b"1357", b"0626", b"KAZE5MORI", b"A1B2C3"):
        assert not is_easy_to_guess(bytearray(fine), avoid=forms)
    assert is_easy_to_guess(bytearray(b"ABC19870625"), avoid=forms)
    assert is_easy_to_guess(bytearray(b"SORA0625"), avoid=forms)
    assert not is_easy_to_guess(bytearray(b"1987"))  # a year alone without the card


def test_the_advice_step_times_out_and_wipes() -> None:
    f = Flow()
    f.keys("1111#")
    assert f.flow.time_left() == 15.0
    f.wait(5)
    assert f.flow.time_left() == 10.0
    f.wait(16)
    assert f.flow.state is PinEntryState.TIMED_OUT
    assert f.events[-1].timeout is TimeoutKind.INTER_KEY


# -- every other way out --------------------------------------------------------------

def test_cancel_key_card_removal_and_timeouts_wipe_everything() -> None:
    for end in ("A", "card", "timeout", "clerk"):
        f = Flow(ask_current=True)
        f.keys("1234#2580#25")
        if end == "A":
            f.press("A")
            assert f.flow.state is PinEntryState.CANCELLED
        elif end == "card":
            f.flow.card_removed()
            assert f.flow.state is PinEntryState.CARD_REMOVED
        elif end == "timeout":
            f.wait(16)
            assert f.flow.state is PinEntryState.TIMED_OUT
        else:
            f.flow.cancel()
            assert f.flow.state is PinEntryState.CANCELLED
        f.check_buffers()
        assert f.received == []
        assert f.events[-1].kind.final
        assert f.flow.time_left() is None
        f.keys("80#")  # keys after the end reach nobody
        assert f.received == []


def test_a_failing_consumer_ends_the_flow_failed_and_everything_is_wiped() -> None:
    f = Flow(ask_current=True, fail=WrongPinError("VERIFY: wrong; 2 tries left", sw=0x63C2,
                                                  remaining=2))
    f.keys("1234#2580#2580#")
    assert f.flow.state is PinEntryState.COMPLETE
    last = f.events[-1]
    assert last.kind is NewPinEventKind.FAILED
    assert last.failure is not None
    assert last.failure.remaining == 2
    f.check_buffers()


def test_the_pad_gate_is_open_for_the_whole_flow_and_closed_after() -> None:
    pad = KeyboardKeypad()
    f = Flow(pad=pad)
    assert pad.prompt_active
    for key in [*"2580", "enter", *"25"]:
        assert pad.feed(key)
        f.check_buffers()
    assert pad.prompt_active  # between the two steps too
    for key in [*"80", "enter"]:
        pad.feed(key)
    assert f.received == [(None, b"2580")]
    assert not pad.prompt_active
    assert not pad.feed("1")


def test_the_ticker_drives_a_new_pin_entry() -> None:
    f = Flow()
    ticker = TimeoutTicker(f.flow, max_wait=0.01)
    ticker.start()
    f.clock.now += 61
    ticker.stop()
    f.flow.check_timeouts()
    assert f.flow.state is PinEntryState.TIMED_OUT


# -- properties -----------------------------------------------------------------------

FOUR = st.text("0123456789", min_size=0, max_size=6)
PASSWORD = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=4, max_size=17)


@settings(max_examples=150, deadline=None)
@given(first=FOUR, second=FOUR, same=st.booleans())
def test_released_only_when_both_match_and_the_format_holds(
    first: str, second: str, same: bool
) -> None:
    second = first if same else second
    f = Flow(avoid=birth_date_forms(BIRTH))
    f.keys(first + "#")
    if f.flow.step is NewPinStep.ADVICE:
        f.press("#")
    if f.flow.step is NewPinStep.CONFIRM:
        f.keys(second + "#")
    # keys beyond the maximum length are refused, so what was typed is the prefix
    first, second = first[:4], second[:4]
    ok = first == second and USER_AUTH_PIN.check(first.encode()) is None
    assert f.received == ([(None, first.encode())] if ok else [])
    assert f.flow.released == (1 if ok else 0)


@settings(max_examples=60, deadline=None)
@given(first=PASSWORD, second=PASSWORD, same=st.booleans())
def test_a_password_is_released_only_when_both_match_and_the_format_holds(
    first: str, second: str, same: bool
) -> None:
    second = first if same else second
    f = Flow(SIGNATURE_PASSWORD)
    f.password(first)
    f.press("#")
    if f.flow.step is NewPinStep.ADVICE:
        f.press("#")
    if f.flow.step is NewPinStep.CONFIRM:
        f.password(second)
        f.press("#")
    first, second = first[:16], second[:16]
    ok = first == second and SIGNATURE_PASSWORD.check(first.encode()) is None
    assert f.received == ([(None, first.encode())] if ok else [])


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    keys=st.lists(st.sampled_from([*"0123456789#*CA", "wait", "card"]), max_size=40),
    ask_current=st.booleans(),
)
def test_random_sessions_release_at_most_once_wipe_every_buffer_and_show_no_digit(
    keys: list[str], ask_current: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    f = Flow(ask_current=ask_current)
    for key in keys:
        if key == "wait":
            f.wait(7.5)
        elif key == "card":
            f.flow.card_removed()
            f.check_buffers()
        else:
            f.press(key)
    assert f.flow.released <= 1
    assert len(f.received) == f.flow.released
    # a release needs the step sequence ... NEW, CONFIRM and no mismatch after it
    if f.received:
        assert f.events[-1].kind is NewPinEventKind.COMPLETED
    f.flow.cancel()
    f.check_buffers()
    for event in f.events:
        fields = {field.name for field in dataclasses.fields(event)}
        assert fields == {"kind", "step", "entry", "timeout", "failure", "mismatches"}
        if event.entry is not None:
            assert isinstance(event.entry, PinEntryEvent)
    text = without_frames(log_text(caplog))
    assert not any(ch.isdigit() for ch in text)
