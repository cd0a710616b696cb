"""中止: the clerk ends a procedure without a decision, and it is recorded with a reason.

Every way out of a procedure that is not a decided outcome comes here: Esc in the
checklist, 中止 after a wrong PIN, Esc on the outcome screen (the decision is then
discarded, not lost without a word). The first option, highlighted, goes back to
the procedure; the six reasons follow. Choosing one stores the abandonment like any
transaction (``Session.abandon``: procedure, actor, rule version, the step the clerk
was on, the reason; no personal data) in a thread worker, and the today screen and
the history count and show it.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from device.procedures import Session
from device.procedures import texts as engine_texts
from device.records import AbandonmentReason, Decision
from madoguchi.errors import MadoguchiError
from tui.i18n import Strings
from tui.screens.base import CounterScreen
from tui.services import CounterServices
from tui.widgets.bars import KeyHelp, TitleBar

#: The option that returns to the procedure (first, and highlighted).
RESUME = "resume"


class AbandonmentStored(Message):
    """The abandonment's record is stored (``error`` is None) or could not be."""

    def __init__(self, reason: AbandonmentReason, error: str | None) -> None:
        super().__init__()
        self.reason = reason
        self.error = error


class AbandonScreen(CounterScreen[AbandonmentReason | None]):
    """Asks whether to abandon and why; dismisses with the recorded reason, or ``None``.

    Args:
        session: the procedure's engine session.
        discard: the procedure is decided; abandoning discards its outcome (the
            question says so).
        lead_key: a catalogue key for the question, instead of the default one.
    """

    BINDINGS = [Binding("escape", "resume", show=False)]  # noqa: RUF012

    def __init__(self, *, session: Session, discard: bool = False, lead_key: str = "") -> None:
        super().__init__(id="abandon")
        self.session = session
        self.discard = discard
        self.lead_key = lead_key or ("abandon.discard_lead" if discard else "abandon.lead")
        self.storing = False
        """True while the abandonment is being stored."""

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t("abandon.title"), self.title_right())
        with Vertical(id="abandon-box", classes="panel"):
            yield Static(Text(t(self.lead_key), style="bold yellow"), id="abandon-lead")
            yield Static(self._where(), id="abandon-where")
            options = [Option(t("abandon.resume_discard" if self.discard else "abandon.resume"),
                              id=RESUME)]
            options += [
                Option(t(f"abandon.reasons.{reason.value}"), id=reason.value)
                for reason in AbandonmentReason
            ]
            yield OptionList(*options, id="abandon-reasons")
            yield Static("", id="abandon-message", markup=False)
        yield KeyHelp(t("keys.abandon"))

    def _where(self) -> Text:
        """The procedure and the step the clerk is on (what the record will name)."""
        lang = self.t.language
        step = self.session.next_step()
        text = Text()
        if step is not None:
            text.append(step.citation + "  ", style="bold")
            text.append(step.text(lang))
        elif (decision := self.session.evaluation.decision) is not None:
            # Decided: name the decision that is discarded if the clerk goes on.
            text.append(self.t("abandon.discarded", decision=engine_texts.decision_label(
                decision.value, lang)), style="bold")
        return text

    def on_mount(self) -> None:
        self.query_one("#abandon-reasons", OptionList).focus()

    def action_resume(self) -> None:
        """Back to the procedure; nothing is recorded."""
        if not self.storing:
            self.dismiss(None)

    @on(OptionList.OptionSelected, "#abandon-reasons")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        if self.storing:
            return
        if event.option.id == RESUME:
            self.dismiss(None)
            return
        reason = AbandonmentReason(event.option.id)
        self.storing = True
        self.query_one("#abandon-message", Static).update(self.t("abandon.storing"))
        self._store(reason, self.t.language)

    @work(thread=True, exclusive=True, group="store", exit_on_error=False)
    def _store(self, reason: AbandonmentReason, language: str) -> None:
        try:
            record = self.session.abandon(reason, language=language)
            self.counter.services.record_transaction(record)
        except MadoguchiError as exc:
            self.post_message(AbandonmentStored(reason, str(exc)))
        else:
            self.post_message(AbandonmentStored(reason, None))

    def on_abandonment_stored(self, message: AbandonmentStored) -> None:
        self.storing = False
        if message.error is not None:
            # Nothing is lost: the clerk may choose again (or go back to the procedure).
            widget = self.query_one("#abandon-message", Static)
            widget.update(self.t("abandon.failed", error=message.error))
            widget.add_class("error")
            return
        reason = message.reason
        self.counter.record_action(
            "procedure_abandoned", f"{self.session.info.id}:{reason.value}"
        )
        tell_card_back(self.counter.services, self.session)
        self.dismiss(reason)


def tell_card_back(services: CounterServices, session: Session) -> None:
    """A procedure that used the card is over: tell the applicant to take it back.

    The pad's ``remove_card`` pattern (docs/pinpad.md), at the end of every procedure
    whose session holds facts read from a card, recorded or abandoned alike; not only
    after a blocked PIN. Nothing is told when no card took part.
    """
    from tui.screens.checklist import card_facts  # the checklist imports this module

    if card_facts(session):
        services.tell_applicant("remove_card")


def decision_text(t: Strings, decision: str, reason: str = "") -> str:
    """A stored decision as the clerk reads it; an abandonment with its reason."""
    if decision == Decision.ABANDONED.value:
        key = f"abandon.reasons.{reason}"
        label = t("abandon.decision")
        return f"{label}（{t(key)}）" if reason and t.has(key) else label
    if decision in engine_texts.DECISIONS:
        return engine_texts.decision_label(decision, t.language)
    return decision
