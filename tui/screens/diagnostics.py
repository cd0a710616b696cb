"""Diagnostics: reader test, the device's own measured figures, keypad test.

The figures are measured here, on this device, through the live reader and the
live UI (never modelled): on B, in a thread worker, a series of JPKI SELECT round
trips and a few tap-to-ready card reads (no PIN, no try spent); and, for every key
pressed on this screen, how long the terminal's key took to reach its handler on
the event loop. Each figure says what was measured and when. The figures of a
development machine (``madoguchi bench … --json``, docs/BENCHMARKS.md) are not
shown here: they would describe another machine.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from madoguchi.errors import MadoguchiError
from madoguchi.version import installed_version
from tui.messages import KeypadKey, ReaderTested
from tui.screens.base import CounterScreen
from tui.services import Presence
from tui.widgets.bars import KeyHelp, TitleBar
from tui.widgets.keypad_grid import KeypadGrid

#: JPKI SELECT round trips per measurement (each through the card lock, as a read is).
SELECTS = 20
#: Tap-to-ready card reads per measurement (each reads every PIN counter: no try spent).
READS = 3
#: Key-to-handler delays kept for the median (the most recent ones).
KEY_SAMPLES = 50


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """One measurement on this device; times in milliseconds, ``measured_at`` UTC ISO."""

    reader: str
    measured_at: str
    select_ms: tuple[float, ...] = ()
    ready_ms: tuple[float, ...] = ()
    problem: str | None = None
    """Catalogue key (``diag.bench_*``) or an error text when nothing could be measured."""


class FiguresMeasured(Message):
    """The measurement worker finished."""

    def __init__(self, figures: LiveFigures) -> None:
        super().__init__()
        self.figures = figures


def median_max(samples: tuple[float, ...]) -> tuple[str, str]:
    """Median and maximum, as the screen prints them (one decimal)."""
    return f"{statistics.median(samples):.1f}", f"{max(samples):.1f}"


class DiagnosticsScreen(CounterScreen[None]):
    """Reader round-trip test on a button; the pad drawn as it sits, pressed keys lit."""

    BINDINGS = [  # noqa: RUF012 - Textual's own convention
        Binding("escape", "app.pop_screen", show=False),
        Binding("b", "measure", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="diagnostics")
        self.last_key: str | None = None
        """The last key seen on the pad (only here, never in a PIN prompt)."""
        self.figures: LiveFigures | None = None
        """The last measurement, once one finished."""
        self.measuring = False
        self.key_delays_ms: list[float] = []
        """Terminal key to its handler on the event loop, most recent last."""

    def compose(self) -> ComposeResult:
        t = self.t
        # The installed version, so IT on the telephone reads what this counter runs.
        title = f"{t('diag.title')}  {t('diag.version', version=installed_version())}"
        yield TitleBar(title, self.title_right())
        with Horizontal(id="diag-body"):
            with Vertical(id="reader-test", classes="panel"):
                yield Button(t("diag.run_reader_test"), id="run-reader-test")
                yield Static("", id="reader-test-result", markup=False)
                yield Static(t("diag.bench_hint"), id="bench-result", markup=False)
            with Vertical(id="keypad-test", classes="panel"):
                yield Static(t("diag.keypad_hint"), id="keypad-hint")
                yield Static(self._pin_factory_line(), id="keypad-pins", markup=False)
                yield KeypadGrid(self.counter.services.keypad_layout())
                yield Static(t("diag.no_key"), id="last-key", markup=False)
        yield KeyHelp(t("keys.diag"))

    def _pin_factory_line(self) -> str:
        """Which gpiozero pin factory drives the pad (IT checks a new Pi here: lgpio)."""
        name = self.counter.services.pin_pad.pin_factory_name
        if not name:
            return self.t("diag.pins_none")
        if name == "mock":
            return self.t("diag.pins_mock")
        return self.t("diag.pins", factory=name)

    def on_mount(self) -> None:
        self.populate()
        self._watch_keypad()

    def populate(self) -> None:
        self.query_one("#reader-test").border_title = self.t("diag.reader_test")
        self.query_one("#keypad-test").border_title = self.t("diag.keypad_test")
        self._show_figures()

    # -- the device's own figures ----------------------------------------------------

    def action_measure(self) -> None:
        """Measure the reader's round trips and the card read, off the event loop."""
        if self.measuring:
            return
        if self.counter.transaction_open():
            self._show_figures(self.t("diag.bench_busy"))
            return
        self.measuring = True
        self._show_figures(self.t("diag.bench_running", n=SELECTS))
        self._measure()

    @work(thread=True, exclusive=True, group="bench", exit_on_error=False)
    def _measure(self) -> None:
        """Worker: SELECTs timed by the card layer, then tap-to-ready reads timed here."""
        services = self.counter.services
        at = services.clock.now().isoformat()
        reader = self.counter.reader_state.reader
        selects: list[float] = []
        reads: list[float] = []
        problem: str | None = None
        try:
            for _ in range(SELECTS):
                result = services.reader_test()
                reader = result.reader or reader
                if not result.ok:
                    problem = result.error or "?"
                    break
                if result.presence is not Presence.PRESENT or result.round_trip_ms is None:
                    problem = "diag.bench_no_card"
                    break
                selects.append(result.round_trip_ms)
            for _ in range(READS if problem is None else 0):
                started = time.perf_counter()
                status = services.read_card_status()
                reads.append((time.perf_counter() - started) * 1000.0)
                if status.error:
                    problem = status.error
                    break
        except MadoguchiError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        self.post_message(FiguresMeasured(
            LiveFigures(reader, at, tuple(selects), tuple(reads), problem)
        ))

    def on_figures_measured(self, message: FiguresMeasured) -> None:
        self.measuring = False
        self.figures = message.figures
        self._show_figures()

    def _show_figures(self, status: str | None = None) -> None:
        t = self.t
        lines: list[str] = []
        figures = self.figures
        if status is not None:
            lines.append(status)
        elif figures is None:
            lines.append(t("diag.bench_hint"))
        else:
            problem = figures.problem
            if problem is not None:
                known = t.has(problem)
                lines.append(t(problem) if known else t("diag.bench_failed", error=problem))
            lines.append(t("diag.bench_when", when=self.when(figures.measured_at),
                           reader=figures.reader or t("common.none")))
            if figures.select_ms:
                med, top = median_max(figures.select_ms)
                lines.append(t("diag.bench_select", n=len(figures.select_ms), median=med, max=top))
            if figures.ready_ms:
                med, top = median_max(figures.ready_ms)
                lines.append(t("diag.bench_ready", n=len(figures.ready_ms), median=med, max=top))
        if figures is not None and status is None and self.key_delays_ms:
            med, top = median_max(tuple(self.key_delays_ms))
            lines.append(t("diag.bench_keys", n=len(self.key_delays_ms), median=med, max=top))
        widget = self.query_one("#bench-result", Static)
        widget.update("\n".join(lines))
        widget.set_class(figures is not None and figures.problem is not None
                         and status is None, "error")

    @on(Button.Pressed, "#run-reader-test")
    def _run_reader_test(self) -> None:
        self.query_one("#reader-test-result", Static).update(self.t("diag.running"))
        self.counter.run_reader_test(self)

    def on_reader_tested(self, message: ReaderTested) -> None:
        result = message.result
        t = self.t
        if not result.ok:
            text = t("diag.reader_ng", error=result.error or "?")
        elif result.presence is Presence.PRESENT and result.round_trip_ms is not None:
            text = t("diag.reader_ok", reader=result.reader, ms=f"{result.round_trip_ms:.1f}")
        else:
            text = t("diag.reader_no_card", reader=result.reader)
        widget = self.query_one("#reader-test-result", Static)
        widget.update(text)
        widget.set_class(not result.ok, "error")

    def on_key(self, event: events.Key) -> None:
        # How long the key waited for the event loop: the UI's own responsiveness.
        self.key_delays_ms.append(max(0.0, (time.monotonic() - event.time) * 1000.0))
        del self.key_delays_ms[:-KEY_SAMPLES]
        # With the keyboard pad the pad's keys arrive as terminal keys.
        if event.character and self.query_one(KeypadGrid).light(event.character):
            self._show_key(event.character)
            event.stop()
        if not self.measuring and self.figures is not None:
            self._show_figures()

    def on_keypad_key(self, message: KeypadKey) -> None:
        self.query_one(KeypadGrid).light(message.key)
        self._show_key(message.key)

    def _show_key(self, key: str) -> None:
        self.last_key = key
        position = self.query_one(KeypadGrid).light(key)
        if position is None:
            return
        self.query_one("#last-key", Static).update(
            self.t("diag.last_key", key=key, row=position[0], col=position[1])
        )

    @work(thread=True, exclusive=True, group="keypad-test", exit_on_error=False)
    def _watch_keypad(self) -> None:
        """Worker: the pad's keys, one wait at a time through its keypad-test gate.

        Each wait opens the pad's test for itself alone (never during a PIN
        prompt) and closes it again; leaving the screen cancels this worker, so
        the test ends within one wait.
        """
        worker = get_current_worker()
        services = self.counter.services
        while not worker.is_cancelled:
            key = services.wait_keypad_key(0.2)
            if key is not None and not worker.is_cancelled:
                self.post_message(KeypadKey(key))
