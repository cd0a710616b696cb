"""A keypad test rig: the matrix model, the driver on it (no thread) and a fake clock."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from drivers.keypad.events import KeyEvent
from drivers.keypad.matrix import MatrixKeypad
from drivers.keypad.matrix_model import KeypadMatrixModel

ROWS = (5, 6, 13, 19)
COLS = {"4x3": (12, 16, 20), "4x4": (12, 16, 20, 21)}


class Rig:
    """A matrix model, the driver on it (no thread), a fake clock and the events seen."""

    def __init__(self, factory: MockFactory, layout: str, *, debounce: float = 0.01) -> None:
        cols = COLS[layout]
        self.model = KeypadMatrixModel(factory, ROWS, cols, layout=layout)
        self.pad = MatrixKeypad(
            ROWS, cols, layout=layout, debounce_time=debounce, start=False, pin_factory=factory
        )
        self.events: list[KeyEvent] = []
        self.pad.add_listener(self.events.append)
        self.pad.set_prompt_active(True)
        self.now = 100.0

    def run(self, seconds: float, step: float = 0.001) -> float | None:
        """Poll every ``step`` for ``seconds`` of fake time; return the last poll's answer."""
        result: float | None = None
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now += step
            result = self.pad.poll(self.now)
        return result

    def tap(self, key: str, hold: float = 0.03) -> None:
        self.model.press(key)
        self.run(hold)
        self.model.release(key)
        self.run(hold)

    def downs(self) -> list[str]:
        return [e.key for e in self.events if e.pressed]
