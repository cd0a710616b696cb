"""An electrical model of a key matrix on gpiozero's ``MockFactory``.

gpiozero ships no keypad model, so this one stands in for the switches: it owns
the row pins (a :class:`MatrixRowPin` reports every change of direction or
level) and drives the column pins the way the copper would. Pressing a key joins
its row and its column; every set of joined lines is one electrical node, which
reads low when a row driven low is on it and high otherwise (the columns' pull-
ups, or a row driven high). A node with one row driven low and another driven
high is a short, counted in :attr:`KeypadMatrixModel.shorts` so tests can show
the driver never causes one.

Contact bounce is injected with :func:`bounce_schedule`: a list of timed
open/close steps that ends in the wanted state, replayed either against a fake
clock (:meth:`KeypadMatrixModel.set_switch` at each step) or in real time
(:meth:`KeypadMatrixModel.chatter`).

This module imports gpiozero's mock pins and is meant for tests, the demo's
bench and ``madoguchi bench pinpad``; the appliance loads it only when told to
by ``[keypad] backend = "virtual-matrix"`` (:mod:`drivers.keypad.virtual`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin

from drivers.keypad.layouts import resolve_keymap


class MatrixRowPin(MockPin):  # type: ignore[misc]  # gpiozero is untyped
    """A mock row pin that tells its :class:`KeypadMatrixModel` about every change."""

    def __init__(self, factory: Any, info: Any, model: KeypadMatrixModel | None = None) -> None:
        super().__init__(factory, info)
        self.model = model

    def _set_function(self, value: str) -> None:
        changed = value != self._function
        super()._set_function(value)
        if changed and self.model is not None:
            self.model.settle()

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)
        if changed and self.model is not None and self._function == "output":
            self.model.settle()
        return changed


def bounce_schedule(
    closed: bool, rng: random.Random, *, min_s: float = 0.001, max_s: float = 0.005
) -> list[tuple[float, bool]]:
    """Chatter of ``min_s``..``max_s`` seconds ending in state ``closed``.

    Returns ``(offset_seconds, closed)`` steps starting at offset 0 with the
    new state; the last step is the final, steady state.
    """
    duration = rng.uniform(min_s, max_s)
    steps: list[tuple[float, bool]] = [(0.0, closed)]
    t = 0.0
    state = closed
    while True:
        t += rng.uniform(0.0001, 0.0008)
        if t >= duration:
            break
        state = not state
        steps.append((t, state))
    if state != closed:
        steps.append((duration, closed))
    return steps


class KeypadMatrixModel:
    """The switches of a matrix keypad, wired to mock pins.

    Build it *before* the keypad driver so the row pins are of the model's class:

    .. code-block:: python

        factory = MockFactory()
        model = KeypadMatrixModel(factory, rows=[5, 6, 13, 19], cols=[12, 16, 20])
        pad = MatrixKeypad([5, 6, 13, 19], [12, 16, 20], pin_factory=factory)
        model.press("5")

    :param factory: the ``MockFactory`` the keypad will use.
    :param rows: row pin numbers, top to bottom.
    :param cols: column pin numbers, left to right.
    :param layout: key layout name, for :meth:`press` by label.
    :param keymap: custom labels, as for the driver.
    """

    def __init__(
        self,
        factory: MockFactory,
        rows: Sequence[int | str],
        cols: Sequence[int | str],
        *,
        layout: str = "4x3",
        keymap: Sequence[str] = (),
    ) -> None:
        labels = resolve_keymap(layout, keymap)
        self._lock = threading.RLock()
        self._positions = {
            label: (r, c) for r, line in enumerate(labels) for c, label in enumerate(line)
        }
        self._closed: set[tuple[int, int]] = set()
        self.rows: list[MatrixRowPin] = [
            factory.pin(pin, pin_class=MatrixRowPin, model=self) for pin in rows
        ]
        self.cols: list[MockPin] = [factory.pin(pin) for pin in cols]
        #: times a row driven high met a row driven low through closed keys
        self.shorts = 0

    @property
    def closed(self) -> frozenset[str]:
        """Labels of the keys whose contacts are closed right now."""
        with self._lock:
            return frozenset(k for k, pos in self._positions.items() if pos in self._closed)

    def set_switch(self, key: str, closed: bool) -> None:
        """Close or open the contact of ``key`` and let the lines settle."""
        position = self._positions[key]
        with self._lock:
            if closed:
                self._closed.add(position)
            else:
                self._closed.discard(position)
            self.settle()

    def press(self, key: str) -> None:
        """Close ``key`` cleanly (no bounce)."""
        self.set_switch(key, True)

    def release(self, key: str) -> None:
        """Open ``key`` cleanly (no bounce)."""
        self.set_switch(key, False)

    def chatter(
        self,
        key: str,
        closed: bool,
        rng: random.Random,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Move ``key`` to ``closed`` with 1–5 ms of real-time contact bounce."""
        start = time.monotonic()
        for offset, state in bounce_schedule(closed, rng):
            delay = start + offset - time.monotonic()
            if delay > 0:
                sleep(delay)
            self.set_switch(key, state)

    def settle(self) -> None:
        """Recompute every column's level from the rows and the closed keys."""
        with self._lock:
            if len(self._closed) <= 1:
                self._settle_simple()
                return
            n_rows = len(self.rows)
            parent = list(range(n_rows + len(self.cols)))

            def find(node: int) -> int:
                while parent[node] != node:
                    parent[node] = parent[parent[node]]
                    node = parent[node]
                return node

            for r, c in self._closed:
                parent[find(r)] = find(n_rows + c)
            low: set[int] = set()
            high: set[int] = set()
            for r, pin in enumerate(self.rows):
                if pin._function == "output":
                    (high if pin._state else low).add(find(r))
            self.shorts += len(low & high)
            for c, pin in enumerate(self.cols):
                if pin._function != "input":
                    continue
                if find(n_rows + c) in low:
                    pin.drive_low()
                elif pin._pull == "up" or find(n_rows + c) in high:
                    pin.drive_high()

    def _settle_simple(self) -> None:
        # zero or one closed key (nearly all the time): no node joins two rows
        low_col = -1
        for r, c in self._closed:
            pin = self.rows[r]
            if pin._function == "output" and not pin._state:
                low_col = c
        for c, pin in enumerate(self.cols):
            if pin._function != "input":
                continue
            if c == low_col:
                if pin._state:
                    pin.drive_low()
            elif pin._pull == "up" and not pin._state:
                pin.drive_high()


#: pins of :func:`mock_keypad` (the defaults of ``[keypad]``; a 4x3 pad uses the first 3 columns)
MOCK_ROWS = (5, 6, 13, 19)
MOCK_COLS = (12, 16, 20, 21)


def mock_keypad(layout: str = "4x3", **options: Any) -> tuple[KeypadMatrixModel, Any]:
    """A matrix model and a :class:`~drivers.keypad.matrix.MatrixKeypad` on it,
    on a private ``MockFactory``; ``options`` go to the keypad.

    For the benchmark and demos, which must not import gpiozero themselves.
    """
    from drivers.keypad.matrix import MatrixKeypad

    factory = MockFactory()
    cols = MOCK_COLS[: len(resolve_keymap(layout)[0])]
    model = KeypadMatrixModel(factory, MOCK_ROWS, cols, layout=layout)
    pad = MatrixKeypad(MOCK_ROWS, cols, layout=layout, pin_factory=factory, **options)
    return model, pad
