"""The keypad test: the PIN pad drawn as it sits, the pressed key lit.

Only ever shown on the diagnostics screen, never while a PIN is being entered:
lighting a key's position would show the PIN to anyone looking at the screen.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Static


def key_position(layout: Sequence[Sequence[str]], key: str) -> tuple[int, int] | None:
    """1-based ``(row, column)`` of ``key`` on the pad, or ``None`` if it is not there."""
    for r, row in enumerate(layout, start=1):
        for c, label in enumerate(row, start=1):
            if label == key:
                return r, c
    return None


#: Cells per key cap.
KEYCAP_WIDTH = 5


class KeypadGrid(Grid):
    """A grid of key caps in the pad's own layout."""

    def __init__(self, layout: Sequence[Sequence[str]]) -> None:
        super().__init__(id="keypad-grid")
        self.layout_rows = [list(row) for row in layout]
        columns = max((len(row) for row in self.layout_rows), default=1)
        rows = len(self.layout_rows)
        self.styles.grid_size_columns = columns
        self.styles.grid_size_rows = rows
        # Key caps are KEYCAP_WIDTH cells with one cell between them, one line each
        # with a blank line between rows, so the drawing keeps the pad's proportions.
        self.styles.width = columns * (KEYCAP_WIDTH + 1) - 1
        self.styles.height = rows * 2 - 1

    def compose(self) -> ComposeResult:
        for r, row in enumerate(self.layout_rows, start=1):
            for c, label in enumerate(row, start=1):
                yield Static(label, classes="keycap", id=f"key-{r}-{c}")

    def light(self, key: str) -> tuple[int, int] | None:
        """Light ``key`` (and only it); returns its position."""
        for cap in self.query(".keycap"):
            cap.remove_class("lit")
        position = key_position(self.layout_rows, key)
        if position is not None:
            self.query_one(f"#key-{position[0]}-{position[1]}").add_class("lit")
        return position
