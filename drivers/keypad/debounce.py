"""Software debounce and ghost-key rejection for a scanned key matrix.

Pure logic, fed with timestamped raw scans, so that it is tested with exact
times (gpiozero's ``MockPin`` ignores ``bounce_time`` and a real contact's
chatter cannot be replayed with sleeps).

A key's state changes only after its raw reading has stayed the same for the
whole debounce time: chatter of any length shorter than that never produces an
event, and a real press is reported once.

Ghosting: without diodes, three keys at three corners of a rectangle make the
fourth corner read as pressed. In a scan that shows up as two rows that share
two or more columns. Such a scan is ambiguous, so it is not used at all (the
keys keep their last trusted state) until the matrix reads unambiguously again.
A scan without such a pair is exact: every key it shows is really down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def is_ghosted(row_masks: Sequence[int]) -> bool:
    """Whether a scan (one column bit mask per row) may contain phantom keys."""
    for i, first in enumerate(row_masks):
        if first & (first - 1) == 0:
            continue  # zero or one column: cannot share two
        for second in row_masks[i + 1 :]:
            common = first & second
            if common & (common - 1):
                return True
    return False


@dataclass(frozen=True, slots=True)
class Transition:
    """A debounced change of one key (by matrix index), at the time it was confirmed."""

    index: int
    pressed: bool
    monotonic: float


class MatrixDebouncer:
    """Turns raw matrix scans into debounced key transitions.

    :param rows: number of rows.
    :param cols: number of columns.
    :param debounce_time: seconds a raw reading must stay unchanged to count.
    """

    def __init__(self, rows: int, cols: int, debounce_time: float) -> None:
        if debounce_time < 0:
            raise ValueError("debounce_time must not be negative")
        self.rows = rows
        self.cols = cols
        self.debounce_time = debounce_time
        count = rows * cols
        self._raw = [False] * count
        self._since = [0.0] * count
        self._stable = [False] * count
        #: scans rejected as ghosted (a count for tests and the benchmark)
        self.ghost_scans = 0
        self._ghosted = False

    @property
    def pressed(self) -> frozenset[int]:
        """Matrix indexes (``row * cols + col``) whose debounced state is down."""
        return frozenset(i for i, down in enumerate(self._stable) if down)

    @property
    def settled(self) -> bool:
        """True when no raw change is waiting to be confirmed and the last scan was clean."""
        return not self._ghosted and self._raw == self._stable

    def update(self, now: float, row_masks: Sequence[int]) -> list[Transition]:
        """Feed one scan taken at ``now``; return the transitions it confirms."""
        if len(row_masks) != self.rows:
            raise ValueError(f"expected {self.rows} row masks, got {len(row_masks)}")
        self._ghosted = is_ghosted(row_masks)
        if self._ghosted:
            # nothing is confirmed from an ambiguous matrix, not even earlier changes
            self.ghost_scans += 1
            return []
        for row, mask in enumerate(row_masks):
            base = row * self.cols
            for col in range(self.cols):
                index = base + col
                down = bool(mask >> col & 1)
                if down != self._raw[index]:
                    self._raw[index] = down
                    self._since[index] = now
        confirmed: list[Transition] = []
        for index, raw in enumerate(self._raw):
            if raw != self._stable[index] and now - self._since[index] >= self.debounce_time:
                self._stable[index] = raw
                confirmed.append(Transition(index, raw, now))
        # releases first, so a fast roll-over never shows two keys "down" at once
        confirmed.sort(key=lambda t: t.pressed)
        return confirmed
