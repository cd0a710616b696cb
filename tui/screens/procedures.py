"""Procedure picker: the procedures the engine's catalogue offers, by id and title.

Choosing one asks who stands at the counter (when more than one actor may) and
opens the guided checklist.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from device.procedures import procedure
from madoguchi.errors import RuleError
from tui.screens.base import CounterScreen
from tui.screens.pin_change import PIN_CHANGE_OPTION
from tui.text import label_width, pad_cells
from tui.widgets.bars import KeyHelp, TitleBar


def citation(procedure_id: str) -> str:
    """「第2-1-(1)」 for ``"2-1-1"``; an id the engine does not know stays as it is."""
    try:
        return procedure(procedure_id).citation
    except RuleError:
        return procedure_id


def picker_label(procedure_id: str) -> str:
    """The picker's citation column: the guidelines' 「第2-1-(1)」, or 「要領外」 for a
    procedure outside them (暗証番号の初期化・再設定), which the column need not widen for."""
    try:
        info = procedure(procedure_id)
    except RuleError:
        return procedure_id
    return OUTSIDE_LABEL if info.outside_guidelines else info.citation


#: How the picker marks a procedure outside the guidelines.
OUTSIDE_LABEL = "要領外"


class ProcedureScreen(CounterScreen[None]):
    """A list of ``(id, title)``; Enter chooses."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__(id="procedures")

    def compose(self) -> ComposeResult:
        t = self.t
        procedures = list(self.counter.services.procedures(t.language))
        yield TitleBar(t("procedures.title"), self.title_right())
        with Vertical(id="procedure-box", classes="panel"):
            if procedures:
                yield Static(t("procedures.lead"))
                # Named as the guidelines and the history name them: 「第2-1-(1)」.
                cited = [(pid, picker_label(pid), title) for pid, title in procedures]
                width = label_width(cite for _, cite, _ in cited)
                yield OptionList(
                    *(Option(f"{pad_cells(cite, width)}  {title}", id=pid)
                      for pid, cite, title in cited),
                    # not a procedure of the guidelines: no citation, listed last
                    Option(f"{pad_cells('', width)}  {t('pin_change.option')}",
                           id=PIN_CHANGE_OPTION),
                    id="procedure-list",
                )
            else:
                yield Static(t("procedures.empty"), id="procedure-empty")
        yield KeyHelp(t("keys.sub"))

    @on(OptionList.OptionSelected, "#procedure-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        procedure_id = event.option.id or ""
        if procedure_id == PIN_CHANGE_OPTION:
            self.counter.action_change_pin()
            return
        self.counter.record_action("procedure_chosen", procedure_id)
        self.counter.begin_procedure(procedure_id)
