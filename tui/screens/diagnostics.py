"""Diagnostics: reader test and keypad test (key positions; never during PIN entry)."""

from __future__ import annotations

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from tui.messages import KeypadKey, ReaderTested
from tui.screens.base import CounterScreen
from tui.services import Presence
from tui.widgets.bars import KeyHelp, TitleBar
from tui.widgets.keypad_grid import KeypadGrid


class DiagnosticsScreen(CounterScreen[None]):
    """Reader round-trip test on a button; the pad drawn as it sits, pressed keys lit."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__(id="diagnostics")
        self.last_key: str | None = None
        """The last key seen on the pad (only here, never in a PIN prompt)."""

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t("diag.title"), self.title_right())
        with Horizontal(id="diag-body"):
            with Vertical(id="reader-test", classes="panel"):
                yield Button(t("diag.run_reader_test"), id="run-reader-test")
                yield Static("", id="reader-test-result", markup=False)
            with Vertical(id="keypad-test", classes="panel"):
                yield Static(t("diag.keypad_hint"), id="keypad-hint")
                yield KeypadGrid(self.counter.services.keypad_layout())
                yield Static(t("diag.no_key"), id="last-key", markup=False)
        yield KeyHelp(t("keys.sub"))

    def on_mount(self) -> None:
        self.populate()
        self._watch_keypad()

    def populate(self) -> None:
        self.query_one("#reader-test").border_title = self.t("diag.reader_test")
        self.query_one("#keypad-test").border_title = self.t("diag.keypad_test")

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
        # With the keyboard pad the pad's keys arrive as terminal keys.
        if event.character and self.query_one(KeypadGrid).light(event.character):
            self._show_key(event.character)
            event.stop()

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
        """Driver thread: hardware pad keys, posted to this screen as messages."""
        worker = get_current_worker()
        services = self.counter.services
        while not worker.is_cancelled:
            key = services.wait_keypad_key(0.2)
            if key is not None:
                self.post_message(KeypadKey(key))
