"""Audit A-1: what the PIN's consumer raises reaches the UI as a FAILED event.

The consumer runs VERIFY; a wrong PIN, a refused last try or a removed card is
an answer the applicant and the clerk must see. On the GPIO pad the consumer
runs on the scan thread, where nobody would catch it, so PIN entry itself
turns the error into a :attr:`PinEventKind.FAILED` event (type, message, tries
left; never a PIN character) and the buffers are wiped as on every way out.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable

import pytest
from gpiozero.pins.mock import MockFactory

from device.card.errors import LastTryNotConfirmedError, WrongPinError
from device.pin_entry import (
    SIGNATURE_PASSWORD,
    USER_AUTH_PIN,
    ConsumerFailure,
    PinEntry,
    PinEntryEvent,
    PinEntryState,
    PinEventKind,
    PinHandle,
    PinSpec,
)
from drivers.keypad.events import KeyDispatcher, KeyEvent
from drivers.keypad.keyboard import KeyboardKeypad
from drivers.keypad.matrix import MatrixKeypad
from drivers.keypad.matrix_model import KeypadMatrixModel
from madoguchi.errors import CardRemovedError

from .logs import log_text, without_frames
from .rig import COLS, ROWS

PIN = "9731"


class KeyboardRun:
    """One PIN prompt on the keyboard pad: keys typed, events recorded."""

    def __init__(
        self,
        consumer: Callable[[PinHandle], None],
        keys: Iterable[str],
        *,
        spec: PinSpec = USER_AUTH_PIN,
        on_event: Callable[[PinEntryEvent], None] | None = None,
    ) -> None:
        self.events: list[PinEntryEvent] = []
        self.pad = KeyboardKeypad(clock=lambda: 0.0)  # no digits from timestamps in logs
        self.entry = PinEntry(spec, on_event=on_event or self.events.append,
                              on_complete=consumer, pad=self.pad)
        self.entry.start()
        for key in keys:
            self.pad.feed(key)  # nothing may escape into the pad's dispatcher

    def failure(self) -> ConsumerFailure:
        """The FAILED event's failure, which must be the last event."""
        last = self.events[-1]
        assert last.kind is PinEventKind.FAILED
        assert last.failure is not None
        return last.failure


def _wrong_pin(handle: PinHandle) -> None:
    with handle.open():
        raise WrongPinError("VERIFY of the 利用者証明用 PIN: wrong; 2 tries left",
                            sw=0x63C2, remaining=2)


def test_a_wrong_pin_on_the_keyboard_pad_reaches_the_ui_with_the_tries_left() -> None:
    handles: list[PinHandle] = []

    def consumer(handle: PinHandle) -> None:
        handles.append(handle)
        _wrong_pin(handle)

    run = KeyboardRun(consumer, [*PIN, "enter"])
    failure = run.failure()
    assert run.events[-2].kind is PinEventKind.COMPLETED
    assert failure.error_type is WrongPinError
    assert failure.remaining == 2
    assert failure.expected
    assert "2 tries left" in failure.message
    assert run.events[-1].state is PinEntryState.COMPLETE
    assert PIN not in repr(run.events[-1])
    assert not any(run.entry.buffer_bytes())
    assert not any(handles[0].raw())
    assert not run.pad.prompt_active


@pytest.mark.parametrize(
    "error",
    [
        LastTryNotConfirmedError("the last try of the 利用者証明用 PIN needs confirmation"),
        CardRemovedError("the card was taken off the reader"),
    ],
    ids=["last try not confirmed", "card removed"],
)
def test_an_error_raised_before_the_pin_is_opened_still_wipes_and_reports(
    error: Exception,
) -> None:
    handles: list[PinHandle] = []

    def consumer(handle: PinHandle) -> None:
        handles.append(handle)
        raise error

    failure = KeyboardRun(consumer, [*PIN, "enter"]).failure()
    assert failure.error_type is type(error)
    assert failure.message == str(error)
    assert failure.remaining is None
    assert not any(handles[0].raw())  # never opened, wiped all the same


def test_the_gpio_pad_reports_a_wrong_pin_and_its_scan_thread_carries_on(
    mock_factory: MockFactory,
) -> None:
    model = KeypadMatrixModel(mock_factory, ROWS, COLS["4x3"])
    pad = MatrixKeypad(ROWS, COLS["4x3"], pin_factory=mock_factory)
    ui: queue.Queue[PinEntryEvent] = queue.Queue()
    threads: list[str] = []

    def consumer(handle: PinHandle) -> None:
        threads.append(threading.current_thread().name)
        _wrong_pin(handle)

    def type_keys(keys: str) -> None:
        for key in keys:
            model.press(key)
            time.sleep(0.03)
            model.release(key)
            time.sleep(0.03)

    def drain_until(kind: PinEventKind) -> PinEntryEvent:
        while True:
            event = ui.get(timeout=10)
            if event.kind is kind:
                return event

    try:
        first = PinEntry(USER_AUTH_PIN, on_event=ui.put, on_complete=consumer, pad=pad)
        first.start()
        type_keys(PIN + "#")
        failed = drain_until(PinEventKind.FAILED)
        assert failed.failure is not None
        assert failed.failure.remaining == 2
        assert threads == ["keypad-scan"]
        assert not any(first.buffer_bytes())
        # the next try on the same pad: the scan thread is still serving keys
        second = PinEntry(USER_AUTH_PIN, on_event=ui.put, on_complete=consumer, pad=pad)
        second.start()
        type_keys(PIN + "#")
        assert drain_until(PinEventKind.FAILED).failure is not None
    finally:
        pad.close()
    assert threads == ["keypad-scan", "keypad-scan"]


def test_an_unexpected_consumer_error_is_reported_and_logged_without_the_pin(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    def buggy_consumer(handle: PinHandle) -> None:
        with handle.open() as pin:
            # a bug that quotes what it holds: the report must not pass it on
            raise RuntimeError(f"could not use {pin.decode()}")

    run = KeyboardRun(buggy_consumer, [*PIN, "enter"])
    failure = run.failure()
    assert failure.error_type is RuntimeError
    assert not failure.expected
    assert PIN not in failure.message
    assert "could not use" in failure.message
    text = log_text(caplog)
    assert "Traceback" in text
    assert "buggy_consumer" in text
    assert "could not use" in text  # and with its message
    for digit in PIN:
        assert digit not in without_frames(text)
    assert not any(run.entry.buffer_bytes())


def test_an_unexpected_error_quoting_a_signature_password_is_masked_letters_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    def buggy_consumer(handle: PinHandle) -> None:
        with handle.open() as password:
            raise ValueError(f"refused {password.decode()}")

    # one tap on each key types "ADGJ10"
    failure = KeyboardRun(buggy_consumer, [*"234510", "enter"], spec=SIGNATURE_PASSWORD).failure()
    assert "refused" in failure.message
    assert not any(c.isupper() or c.isdigit() for c in failure.message)
    logged = without_frames(log_text(caplog))
    assert "refused" in logged
    assert "ADGJ10" not in logged
    assert "refused #" in logged


def test_a_failing_ui_callback_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    def broken_ui(event: PinEntryEvent) -> None:
        raise LookupError("no such widget: #pin-mask")

    received: list[bytes] = []

    def consumer(handle: PinHandle) -> None:
        with handle.open() as pin:
            received.append(bytes(pin))

    KeyboardRun(consumer, [*PIN, "enter"], on_event=broken_ui)
    assert received == [PIN.encode()]  # the entry itself went on
    text = log_text(caplog)
    assert "no such widget" in text
    assert "broken_ui" in text


def test_the_dispatcher_logs_a_listener_failure_with_message_and_traceback_digits_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dispatcher = KeyDispatcher()
    got: list[str] = []

    def failing_listener(event: KeyEvent) -> None:
        raise KeyError(f"no role for key {event.key}")

    dispatcher.add_listener(failing_listener)
    dispatcher.add_listener(lambda event: got.append(event.key))
    dispatcher.set_prompt_active(True)
    assert dispatcher.dispatch(KeyEvent("7", True, 0.0))
    assert got == ["7"]  # the next listener still ran
    text = log_text(caplog)
    assert "Traceback" in text
    assert "failing_listener" in text
    assert "KeyError" in text
    assert "no role for key" in text
    assert "7" not in without_frames(text)
