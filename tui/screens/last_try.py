"""The last-try confirmation: the clerk must say yes, explicitly, before the last PIN try.

Cancel has the focus, so Enter or Escape alone never spends the try; only
choosing the confirm button does, and that choice is attributed to the operator.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from tui.screens.base import CounterScreen
from tui.widgets.bars import KeyHelp, TitleBar


class LastTryScreen(CounterScreen[bool | None]):
    """Dismisses with True only when the clerk chose the confirm button.

    ``None`` when the card left the reader while the clerk was asked: nothing was
    sent, and the caller abandons its card step.
    """

    BINDINGS = [Binding("escape", "cancel", show=False)]  # noqa: RUF012

    def __init__(self, *, pin: str, counters: tuple[str, ...] = ()) -> None:
        super().__init__(id="last-try")
        self.pin = pin
        self.counters = counters
        """The counters at their last try, named each (照合番号B spends two keys at once)."""

    def _named(self) -> str:
        t = self.t
        if not self.counters:
            return t(f"card.pins.{self.pin}")
        return t("fallback.counters.joiner").join(
            t(f"fallback.counters.{counter}") for counter in self.counters)

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t("pin.last_try_title"), self.title_right())
        with Vertical(id="last-try-box", classes="panel"):
            yield Static(t("pin.last_try_warning", pin=self._named()),
                         id="last-try-text", classes="error")
            yield Static(t("pin.last_try_ask"), id="last-try-ask")
            with Horizontal(id="last-try-buttons"):
                yield Button(t("pin.last_try_cancel"), id="last-try-cancel")
                yield Button(t("pin.last_try_confirm"), id="last-try-confirm")
        yield KeyHelp(t("keys.last_try"))

    def on_mount(self) -> None:
        self.query_one("#last-try-cancel", Button).focus()

    def card_removed(self) -> bool:
        self.dismiss(None)
        return True

    @on(Button.Pressed, "#last-try-confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#last-try-cancel")
    def action_cancel(self) -> None:
        """Do not spend the last try."""
        self.dismiss(False)
