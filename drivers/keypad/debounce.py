"""Software debounce and ghost-key rejection for a scanned key matrix.

Pure logic, fed with timestamped raw scans, so that it is tested with exact
times (gpiozero's ``MockPin`` ignores ``bounce_time`` and a real contact's
chatter cannot be replayed with sleeps).

A key's state changes once its new raw reading has stayed the same for the
whole debounce time, so chatter whose gaps are all shorter than that never
produces an event. To keep the latency of an ordinary press down to the debounce
time (rather than debounce time plus chatter), a change is also accepted when its
first edge is a whole debounce time old *and* the reading has been steady for the
settle time (half the debounce time by default): contact chatter of up to the
settle time costs nothing extra, while a glitch must still last a debounce time.

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


_SLACK = 1e-6


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
    :param settle_time: seconds of steadiness that suffice once the change's first
        edge is ``debounce_time`` old (default: half the debounce time).
    """

    def __init__(
        self, rows: int, cols: int, debounce_time: float, settle_time: float | None = None
    ) -> None:
        if debounce_time < 0:
            raise ValueError("debounce_time must not be negative")
        if settle_time is None:
            settle_time = debounce_time / 2
        if not 0 <= settle_time <= debounce_time:
            raise ValueError("settle_time must be between 0 and debounce_time")
        self.rows = rows
        self.cols = cols
        self.debounce_time = debounce_time
        self.settle_time = settle_time
        count = rows * cols
        self._raw = [False] * count
        self._since = [0.0] * count  # last raw edge
        self._first: list[float | None] = [None] * count  # first edge of an open change
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
        return not self._ghosted and all(first is None for first in self._first)

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
                    if self._first[index] is None:
                        self._first[index] = now
        confirmed: list[Transition] = []
        for index, first in enumerate(self._first):
            if first is None:
                continue
            # a microsecond of slack: timestamps far from zero lose bits when subtracted
            steady = now - self._since[index] + _SLACK
            age = now - first + _SLACK
            raw = self._raw[index]
            if raw == self._stable[index]:
                if steady >= self.settle_time:
                    self._first[index] = None  # a glitch, over
            elif steady >= self.debounce_time or (
                age >= self.debounce_time and steady >= self.settle_time
            ):
                self._stable[index] = raw
                self._first[index] = None
                confirmed.append(Transition(index, raw, now))
        # releases first, so a fast roll-over never shows two keys "down" at once
        confirmed.sort(key=lambda t: t.pressed)
        return confirmed
