"""Who stands at the counter for this procedure: 本人, 代理人 or 法定代理人."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from device.procedures import texts as engine_texts
from tui.screens.base import CounterScreen
from tui.widgets.bars import KeyHelp, TitleBar


class ActorScreen(CounterScreen[str | None]):
    """Dismisses with the chosen actor code, or ``None`` on Esc."""

    BINDINGS = [Binding("escape", "cancel", show=False)]  # noqa: RUF012

    def __init__(self, *, procedure_id: str, actors: Sequence[str]) -> None:
        super().__init__(id="actor")
        self.procedure_id = procedure_id
        self.actors = tuple(actors)

    def compose(self) -> ComposeResult:
        t = self.t
        lang = t.language
        yield TitleBar(engine_texts.procedure_title(self.procedure_id, lang), self.title_right())
        with Vertical(id="actor-box", classes="panel"):
            yield Static(t("actor.lead"))
            yield OptionList(
                *(Option(engine_texts.value_label(a, lang), id=a) for a in self.actors),
                id="actor-list",
            )
        yield KeyHelp(t("keys.sub"))

    def on_mount(self) -> None:
        self.query_one("#actor-list", OptionList).focus()

    @on(OptionList.OptionSelected, "#actor-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Back to the picker."""
        self.dismiss(None)
