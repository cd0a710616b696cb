"""The applicant's GPIO matrix keypad, as a gpiozero composite device.

Wiring: rows are outputs, columns are inputs with pull-ups. At rest every row
is driven low, so pressing any key pulls its column low and the column's edge
wakes the scan thread; nothing polls while no key is down. A scan drives one
row low at a time with the other rows left floating (high impedance, so two keys
in one column never short a high row against a low one) and reads the columns.

Scans go through :class:`~drivers.keypad.debounce.MatrixDebouncer` (debounce,
ghost-key rejection) and the confirmed transitions become
:class:`~drivers.keypad.events.KeyEvent` objects for the listeners, on the scan
thread. Nothing here logs a key label.

On a counter this runs on the pin factory :func:`drivers.keypad.pins.counter_pin_factory`
chose (lgpio on a Raspberry Pi; never the mock or native one); in tests on ``MockFactory``
together with :class:`~drivers.keypad.matrix_model.KeypadMatrixModel`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from gpiozero import CompositeDevice, DigitalInputDevice, GPIODevice

from drivers.keypad.debounce import MatrixDebouncer
from drivers.keypad.events import KeyDispatcher, KeyEvent, KeySource
from drivers.keypad.layouts import resolve_keymap
from madoguchi.errors import ConfigError, KeypadError

log = logging.getLogger(__name__)

PinName = int | str


class MatrixRow(GPIODevice):  # type: ignore[misc]  # gpiozero is untyped
    """One row line of a key matrix: driven low, or released to high impedance.

    A push-pull output would fight another row through two pressed keys in the
    same column; releasing the pin to an input avoids that.
    """

    def __init__(self, pin: PinName, *, pin_factory: Any = None) -> None:
        super().__init__(pin, pin_factory=pin_factory)
        self.drive()

    def drive(self) -> None:
        """Drive the row low, so keys on it pull their columns low."""
        self.pin.function = "output"
        self.pin.state = False

    def release(self) -> None:
        """Leave the row floating."""
        self.pin.function = "input"

    @property
    def value(self) -> int:
        """1 while the row is driven."""
        return int(self.pin.function == "output")


class MatrixKeypad(KeySource, CompositeDevice):  # type: ignore[misc]  # gpiozero is untyped
    """A row/column matrix keypad (4x3 or 4x4) with debounce and ghost rejection.

    :param rows: GPIO pins of the row lines, top to bottom.
    :param cols: GPIO pins of the column lines, left to right.
    :param layout: ``"4x3"`` or ``"4x4"``.
    :param keymap: rows of key labels overriding the layout's printed labels.
    :param debounce_time: seconds a contact must be steady to count.
    :param scan_interval: seconds between scans while a change is pending.
    :param hold_interval: seconds between scans while keys are held steady.
    :param start: start the scan thread (``False`` lets a caller drive
        :meth:`poll` with its own clock, as the tests and the benchmark do).
    :param pin_factory: see gpiozero's pin factories.

    Example::

        pad = MatrixKeypad(rows=[5, 6, 13, 19], cols=[12, 16, 20])
        pad.add_listener(print_event)
        pad.set_prompt_active(True)
    """

    simulated = False
    label = "PIN pad"

    def __init__(
        self,
        rows: Sequence[PinName],
        cols: Sequence[PinName],
        *,
        layout: str = "4x3",
        keymap: Sequence[str] = (),
        debounce_time: float = 0.01,
        scan_interval: float = 0.001,
        hold_interval: float = 0.01,
        start: bool = True,
        pin_factory: Any = None,
    ) -> None:
        labels = resolve_keymap(layout, keymap)
        if len(rows) != len(labels) or len(cols) != len(labels[0]):
            raise ConfigError(
                f"layout {layout} needs {len(labels)} row pins and {len(labels[0])} column "
                f"pins, got {len(rows)} and {len(cols)}"
            )
        if scan_interval <= 0 or hold_interval <= 0:
            raise ConfigError("keypad scan intervals must be positive")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        row_devices: list[MatrixRow] = []
        col_devices: list[Any] = []
        try:
            for pin in rows:
                row_devices.append(MatrixRow(pin, pin_factory=pin_factory))
            for pin in cols:
                col = DigitalInputDevice(pin, pull_up=True, bounce_time=None,
                                         pin_factory=pin_factory)
                col.when_activated = self._wake.set
                col.when_deactivated = self._wake.set
                col_devices.append(col)
        except Exception as exc:
            for device in (*row_devices, *col_devices):
                device.close()
            raise KeypadError(f"cannot set up keypad pins: {exc}") from exc
        super().__init__(*row_devices, *col_devices, pin_factory=pin_factory)
        self._rows = tuple(row_devices)
        self._cols = tuple(col_devices)
        # read the pins directly in the scan loop: it runs a thousand times a second
        self._col_pins = tuple(col.pin for col in col_devices)
        self._labels = "".join(labels)
        self._debouncer = MatrixDebouncer(len(rows), len(cols), debounce_time)
        self._dispatcher = KeyDispatcher()
        self._scan_interval = scan_interval
        self._hold_interval = hold_interval
        #: number of full matrix scans so far (for tests and the benchmark)
        self.scans = 0
        if start:
            self._thread = threading.Thread(target=self._run, name="keypad-scan", daemon=True)
            self._thread.start()

    # -- state ---------------------------------------------------------------
    @property
    def pin_factory_name(self) -> str:
        """gpiozero's name of the pin factory driving the pins (``"lgpio"``, ``"mock"`` ...)."""
        from drivers.keypad.pins import factory_name

        return factory_name(self.pin_factory)

    @property
    def keys(self) -> str:
        """Every key label, row by row."""
        return self._labels

    @property
    def pressed_keys(self) -> frozenset[str]:
        """Labels of the keys whose debounced state is down."""
        return frozenset(self._labels[i] for i in self._debouncer.pressed)

    @property
    def value(self) -> tuple[int, ...]:
        """One 0/1 per key, row by row (1 = down), like ``ButtonBoard.value``."""
        pressed = self._debouncer.pressed
        return tuple(int(i in pressed) for i in range(len(self._labels)))

    @property
    def is_active(self) -> bool:
        """True while any key is down."""
        return bool(self._debouncer.pressed)

    @property
    def ghost_scans(self) -> int:
        """How many scans were thrown away as ambiguous (ghosting)."""
        return self._debouncer.ghost_scans

    # -- scanning ------------------------------------------------------------
    def scan(self) -> list[int]:
        """Read the raw matrix: one column bit mask per row. Rows end up driven."""
        masks: list[int] = []
        rows = self._rows
        # from rest (all driven): keep only the first row driven, then walk down
        for row in rows[1:]:
            row.release()
        for index, row in enumerate(rows):
            if index:
                rows[index - 1].release()
                row.drive()
            mask = 0
            for bit, pin in enumerate(self._col_pins):
                if not pin.state:  # pulled up: a closed key reads low
                    mask |= 1 << bit
            masks.append(mask)
        for row in rows[:-1]:
            row.drive()
        self.scans += 1
        return masks

    def poll(self, now: float) -> float | None:
        """Scan once at ``now``, dispatch confirmed events, say when to scan next.

        Returns the delay in seconds until the next scan is needed, or ``None``
        when the matrix is at rest (no key down, nothing pending): the next scan
        then waits for a column edge.
        """
        masks = self.scan()
        # The scan's own row switching makes column edges while a key is down; forget
        # them. A real edge from now on wakes the thread early (see _run).
        self._wake.clear()
        # Every row is driven again: a column low now is a key down, even one pressed
        # during the scan after its row was read, whose edge was just forgotten.
        line_low = any(not pin.state for pin in self._col_pins)
        for transition in self._debouncer.update(now, masks):
            self._dispatcher.dispatch(
                KeyEvent(self._labels[transition.index], transition.pressed, transition.monotonic)
            )
        if not self._debouncer.settled:
            # sample densely until the change is confirmed, so chatter is seen
            return self._scan_interval
        if any(masks) or line_low:
            # a held key: its release wakes us by an edge, but a second key in its
            # column makes none, so look again now and then
            return self._hold_interval
        return None

    @property
    def scan_thread_id(self) -> int | None:
        """``threading`` ident of the scan thread (for per-thread CPU accounting)."""
        return self._thread.ident if self._thread is not None else None

    @property
    def woken(self) -> bool:
        """True if a column edge arrived since the end of the last :meth:`poll`'s scan."""
        return self._wake.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            while not self._stop.is_set():
                try:
                    delay = self.poll(time.monotonic())
                except Exception as exc:
                    log.error("keypad scan failed: %s", type(exc).__name__)
                    delay = 0.1
                if delay is None:
                    break
                # an edge (a release, a key in another column) ends the wait early
                self._wake.wait(delay)

    def close(self) -> None:
        """Stop the scan thread and release every pin."""
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
            self._wake.set()
            if self._thread is not None and self._thread is not threading.current_thread():
                self._thread.join(timeout=1.0)
        super().close()
