"""Runs a PIN entry's timeouts on the appliance (tests call ``check_timeouts`` themselves)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol


class Timed(Protocol):
    """What the ticker drives: a :class:`~device.pin_entry.machine.PinEntry` or a
    :class:`~device.pin_entry.new_pin.NewPinEntry`."""

    @property
    def clock(self) -> Callable[[], float]: ...

    def next_deadline(self) -> float | None: ...

    def check_timeouts(self) -> None: ...


class TimeoutTicker:
    """A daemon thread that wakes at the entry's next deadline and applies it.

    It stops by itself when the entry finishes; :meth:`stop` ends it early.

    :param entry: the PIN entry (or new-PIN entry) to watch.
    :param max_wait: longest sleep in seconds, so a clock jump is noticed.
    """

    def __init__(self, entry: Timed, *, max_wait: float = 0.25) -> None:
        self._entry = entry
        self._max_wait = max_wait
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pin-timeouts", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and wait for the thread to end."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread.is_alive()

    def _run(self) -> None:
        clock = self._entry.clock
        while not self._stop.is_set():
            deadline = self._entry.next_deadline()
            if deadline is None:
                return  # the entry finished
            wait = min(max(deadline - clock(), 0.0), self._max_wait)
            if self._stop.wait(wait):
                return
            self._entry.check_timeouts()
