"""The thread hand-off: scan thread -> PIN entry -> a UI queue, with real threads.

MockPin calls back on the thread that changes a pin, so these tests type on the
test thread while the driver's own scan thread debounces and feeds PIN entry;
the "UI" reads a queue on the test thread, as Textual's call_from_thread would.
No timing is asserted, only order, content and which thread did what.
"""

from __future__ import annotations

import queue
import random
import threading
import time

from gpiozero.pins.mock import MockFactory

from device.pin_entry import (
    USER_AUTH_PIN,
    PinEntry,
    PinEntryEvent,
    PinEntryState,
    PinEventKind,
    PinHandle,
    TimeoutKind,
    TimeoutTicker,
)
from drivers.keypad.matrix import MatrixKeypad
from drivers.keypad.matrix_model import KeypadMatrixModel

from .rig import COLS, ROWS


def _drain_until(ui: queue.Queue[PinEntryEvent], kind: PinEventKind) -> list[PinEntryEvent]:
    got: list[PinEntryEvent] = []
    while True:
        event = ui.get(timeout=10)
        got.append(event)
        if event.kind is kind:
            return got


def test_pin_typed_with_bounce_reaches_the_consumer_and_only_masks_reach_the_ui(
    mock_factory: MockFactory,
) -> None:
    model = KeypadMatrixModel(mock_factory, ROWS, COLS["4x3"])
    pad = MatrixKeypad(ROWS, COLS["4x3"], pin_factory=mock_factory)
    ui: queue.Queue[PinEntryEvent] = queue.Queue()
    consumed: list[tuple[bytes, str]] = []

    def consumer(handle: PinHandle) -> None:
        with handle.open() as pin:
            consumed.append((bytes(pin), threading.current_thread().name))

    entry = PinEntry(USER_AUTH_PIN, on_event=ui.put, on_complete=consumer, pad=pad)
    rng = random.Random(11)
    try:
        entry.start()
        assert pad.prompt_active
        for key in "3141#":
            model.chatter(key, True, rng)
            time.sleep(0.03)
            model.chatter(key, False, rng)
            time.sleep(0.03)
        events = _drain_until(ui, PinEventKind.COMPLETED)
    finally:
        pad.close()
    assert consumed == [(b"3141", "keypad-scan")]
    assert [e.length for e in events if e.kind is PinEventKind.LENGTH_CHANGED] == [1, 2, 3, 4]
    assert entry.state is PinEntryState.COMPLETE
    assert not any(entry.buffer_bytes())
    assert not pad.prompt_active


def test_the_ticker_times_out_an_abandoned_entry(mock_factory: MockFactory) -> None:
    ui: queue.Queue[PinEntryEvent] = queue.Queue()
    entry = PinEntry(
        USER_AUTH_PIN,
        on_event=ui.put,
        on_complete=lambda handle: None,
        inter_key_timeout=0.05,
        overall_timeout=5.0,
    )
    ticker = TimeoutTicker(entry, max_wait=0.01)
    entry.start()
    ticker.start()
    events = _drain_until(ui, PinEventKind.TIMED_OUT)
    assert events[-1].timeout is TimeoutKind.INTER_KEY
    end = time.monotonic() + 5
    while ticker.running and time.monotonic() < end:
        time.sleep(0.01)
    assert not ticker.running  # it stops by itself once the entry is over
    ticker.stop()
