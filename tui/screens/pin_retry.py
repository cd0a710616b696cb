"""After a wrong PIN with tries left: enter it again, 照合番号B, or 中止 — the clerk chooses.

Nothing is retried by itself: 再入力 opens a new prompt, for a new entry by the
applicant, after the tries are read again (and the last one only behind the
clerk's explicit confirmation, :mod:`tui.screens.last_try`). 照合番号Bで確認 records
the PIN check as failed and goes to the chip; 中止 asks for the reason and records
the abandonment. Esc returns to the PIN step with nothing recorded.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.screens.base import CounterScreen
from tui.widgets.bars import KeyHelp, TitleBar

#: The choices (option ids, and what the screen dismisses with).
RETRY, COLLATION_B, ABANDON = "retry", "collation_b", "abandon"


class PinRetryScreen(CounterScreen[str | None]):
    """Dismisses with :data:`RETRY`, :data:`COLLATION_B`, :data:`ABANDON` or ``None`` (Esc).

    Args:
        pin: the card PIN code (``"juki"``...) that was wrong.
        remaining: the tries the card reports left (at least 1).
    """

    BINDINGS = [Binding("escape", "back", show=False)]  # noqa: RUF012

    def __init__(self, *, pin: str, remaining: int) -> None:
        super().__init__(id="pin-retry")
        self.pin = pin
        self.remaining = remaining

    def compose(self) -> ComposeResult:
        t = self.t
        name = t(f"pin.names.{self.pin}")
        yield TitleBar(t("pin.retry.title"), self.title_right())
        with Vertical(id="pin-retry-box", classes="panel"):
            yield Static(Text(t("pin.retry.wrong", pin=name), style="bold yellow"),
                         id="pin-retry-lead")
            yield Static(Text(t("pin.tries_left", tries=self.remaining), style="bold"),
                         id="pin-retry-tries")
            if self.remaining == 1:
                yield Static(t("pin.retry.last_try_next"), id="pin-retry-warning",
                             classes="error")
            yield OptionList(
                Option(t("pin.retry.again"), id=RETRY),
                Option(t("pin.retry.collation_b"), id=COLLATION_B),
                Option(t("pin.retry.abandon"), id=ABANDON),
                id="pin-retry-choices",
            )
        yield KeyHelp(t("keys.pin_retry"))

    def on_mount(self) -> None:
        self.query_one("#pin-retry-choices", OptionList).focus()

    def card_removed(self) -> bool:
        self.dismiss(None)  # back to the PIN step, which tells the clerk
        return True

    def action_back(self) -> None:
        """Esc: back to the PIN step, nothing recorded."""
        self.dismiss(None)

    @on(OptionList.OptionSelected, "#pin-retry-choices")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
