"""Quitting asks first, in the UI's language; the focused answer keeps the app running."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from tui.screens.base import CounterScreen
from tui.widgets.bars import KeyHelp, TitleBar


class QuitScreen(CounterScreen[bool]):
    """Dismisses with True only when the clerk chose 「終了する」; Enter or Esc alone stay."""

    BINDINGS = [Binding("escape", "stay", show=False)]  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__(id="quit")

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t("app.quit_title"), self.title_right())
        with Vertical(id="quit-box", classes="panel"):
            yield Static(t("app.quit_ask"), id="quit-ask")
            with Horizontal(id="quit-buttons"):
                yield Button(t("app.quit_no"), id="quit-no")
                yield Button(t("app.quit_yes"), id="quit-yes")
        yield KeyHelp(t("keys.last_try"))

    def on_mount(self) -> None:
        self.query_one("#quit-no", Button).focus()

    @on(Button.Pressed, "#quit-yes")
    def _quit(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#quit-no")
    def action_stay(self) -> None:
        """Keep the app running."""
        self.dismiss(False)
