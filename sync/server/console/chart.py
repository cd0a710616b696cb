"""The console's charts, drawn on the server as SVG: the month page's certificates issued and
renewed per office and day over 30 days, and the fleet page's unsent records and hours since
the last contact per counter. No script and no image request (the pages' CSP allows
neither inline script nor foreign images); the numbers are also in the page's tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sync.server.report import ReportRow

#: Days the chart covers, ending on the day it is drawn for.
DAYS = 30
WIDTH, HEIGHT = 760, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 12, 28
#: Line colours that stay apart for colour-blind readers (Okabe-Ito), then again.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")


@dataclass(frozen=True, slots=True)
class Series:
    """One office's line."""

    name: str
    colour: str
    points: str  # the SVG polyline's points
    total: int


@dataclass(frozen=True, slots=True)
class Chart:
    """What the template draws."""

    first: str
    last: str
    series: tuple[Series, ...]
    y_ticks: tuple[tuple[float, int], ...]  # (y, value)
    x_ticks: tuple[tuple[float, str], ...]  # (x, MM-DD)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = _LEFT
    right: int = WIDTH - _RIGHT
    top: int = _TOP
    bottom: int = HEIGHT - _BOTTOM


def window(end: date) -> tuple[str, str]:
    """The first and last business date of the chart ending on ``end``."""
    return (end - timedelta(days=DAYS - 1)).isoformat(), end.isoformat()


def issuance_chart(rows: Iterable[ReportRow], names: Mapping[str, str], end: date) -> Chart:
    """Issued and renewed certificates per office (``names``: code → name, in the order to
    draw) and day, for the ``DAYS`` days ending on ``end``."""
    first = end - timedelta(days=DAYS - 1)
    counts = {code: [0] * DAYS for code in names}
    for row in rows:
        day = (date.fromisoformat(row.date) - first).days
        if row.office_code in counts and 0 <= day < DAYS:
            counts[row.office_code][day] += row.issued + row.renewed
    peak = max((max(c) for c in counts.values()), default=0)
    top_value = _nice(peak)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def x(i: int) -> float:
        return round(_LEFT + plot_w * i / (DAYS - 1), 1)

    def y(v: int) -> float:
        return round(_TOP + plot_h * (1 - v / top_value), 1)

    series = tuple(
        Series(
            names[code],
            PALETTE[n % len(PALETTE)],
            " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values)),
            sum(values),
        )
        for n, (code, values) in enumerate(counts.items())
    )
    y_ticks = tuple((y(v), v) for v in (0, top_value // 2, top_value))
    x_ticks = tuple(
        (x(i), (first + timedelta(days=i)).strftime("%m-%d")) for i in range(0, DAYS, 7)
    )
    return Chart(first.isoformat(), end.isoformat(), series, y_ticks, x_ticks)


def _nice(peak: int) -> int:
    """A round top for the axis at or above ``peak`` (at least 2, even)."""
    for step in (2, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000):
        if peak <= step:
            return step
    return ((peak + 9999) // 10_000) * 10_000


#: The fleet chart: a row per counter, two panels (unsent records; hours since contact).
FLEET_ROW, FLEET_LABEL, FLEET_PANEL, FLEET_GAP, FLEET_TOP = 18, 230, 240, 30, 22
#: Hours without contact after which a counter's bar is drawn in the warning colour (a
#: counter that polls every few minutes and uploads as it goes is never this quiet in
#: office hours).
STALE_HOURS = 24
_CALM, _WARN = PALETTE[0], PALETTE[3]


@dataclass(frozen=True, slots=True)
class FleetBar:
    """One counter's row."""

    label: str
    y: float
    backlog: int | None
    backlog_width: float
    contact_hours: float | None
    contact_width: float
    stale: bool


@dataclass(frozen=True, slots=True)
class FleetChart:
    """What the fleet page's template draws: unsent records and hours since the last
    contact, per counter (the same numbers are in the table under it)."""

    bars: tuple[FleetBar, ...]
    backlog_top: int
    contact_top: int
    width: int = FLEET_LABEL + 2 * FLEET_PANEL + FLEET_GAP + 40
    label_width: int = FLEET_LABEL
    panel_width: int = FLEET_PANEL
    backlog_x: int = FLEET_LABEL
    contact_x: int = FLEET_LABEL + FLEET_PANEL + FLEET_GAP
    top: int = FLEET_TOP
    row: int = FLEET_ROW

    @property
    def height(self) -> int:
        return self.top + self.row * max(1, len(self.bars)) + 8


def _hours_since(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (now - at).total_seconds() / 3600)


def fleet_chart(
    counters: Iterable[tuple[str, int | None, Iterable[str | None]]], now: datetime
) -> FleetChart:
    """``counters``: (label, unsent backlog or None when the counter never said, the ISO times
    the server last heard from it — its last status post, its last upload — any of them
    None) per counter, in the order to draw; the newest of those times counts."""

    def quiet(heard: Iterable[str | None]) -> float | None:
        hours = [h for h in (_hours_since(at, now) for at in heard) if h is not None]
        return min(hours, default=None)

    rows = [(label, backlog, quiet(heard)) for label, backlog, heard in counters]
    backlog_top = _nice(max((b for _, b, _ in rows if b is not None), default=0))
    contact_top = _nice(int(max((h for _, _, h in rows if h is not None), default=0)) + 1)
    bars = tuple(
        FleetBar(
            label=label,
            y=FLEET_TOP + FLEET_ROW * i,
            backlog=backlog,
            backlog_width=round(FLEET_PANEL * (backlog or 0) / backlog_top, 1),
            contact_hours=None if hours is None else round(hours, 1),
            contact_width=round(FLEET_PANEL * min(hours or 0, contact_top) / contact_top, 1),
            stale=hours is None or hours >= STALE_HOURS,
        )
        for i, (label, backlog, hours) in enumerate(rows)
    )
    return FleetChart(bars, backlog_top, contact_top)


def bar_colour(bar: FleetBar) -> str:
    """The contact bar's colour: the warning one for a counter quiet too long."""
    return _WARN if bar.stale else _CALM
