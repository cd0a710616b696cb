"""The outcome: continue, 受付不可 or the inquiry route, every reason with its citation.

Recording runs in a thread worker: an issuance first gets its certificates from
the issuing authority (a revocation reads the card's), then the transaction
(with the operator's id and those certificates) goes to the local store and its
outbox; the sync queue on the home screen then counts it. If the authority or
the card fails, the clerk sees why and nothing is stored; recording again
never issues a certificate twice.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from device.procedures import Session
from device.procedures import texts as engine_texts
from device.records import CertificateAction
from madoguchi.errors import MadoguchiError
from tui.messages import TransactionStored
from tui.screens.base import CounterScreen
from tui.widgets.bars import KeyHelp, TitleBar


class OutcomeScreen(CounterScreen[None]):
    """Shows the engine's decision and records the transaction on request."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]  # noqa: RUF012

    def __init__(self, *, session: Session) -> None:
        super().__init__(id="outcome")
        self.session = session
        self.stored = False
        """True once the transaction is in the store."""
        self._issued: dict[str, str] = {}
        self._certificates: tuple[CertificateAction, ...] | None = None

    def compose(self) -> ComposeResult:
        t = self.t
        lang = t.language
        evaluation = self.session.evaluation
        decision = evaluation.decision.value if evaluation.decision else "pending"
        yield TitleBar(t("outcome.title"), self.title_right())
        with VerticalScroll(id="outcome-box", classes="panel"):
            style = "bold reverse" if decision == "reject" else "bold yellow"
            yield Static(Text(engine_texts.decision_label(decision, lang), style=style),
                         id="outcome-decision")
            reasons = Table.grid(padding=(0, 2))
            reasons.add_column(no_wrap=True, style="bold")
            reasons.add_column(overflow="fold")
            for reason in evaluation.reasons(lang):
                reasons.add_row(reason.citation, reason.text)
            yield Static(reasons, id="outcome-reasons")
            yield Static(
                t("outcome.fee", collected=evaluation.fee.collected_yen,
                  payable=evaluation.fee.payable_jlis_yen),
                id="outcome-fee",
            )
            with Horizontal(id="outcome-buttons"):
                yield Button(t("outcome.record"), id="outcome-record")
            yield Static("", id="outcome-message", markup=False)
        yield KeyHelp(t("keys.outcome"))

    def on_mount(self) -> None:
        self.query_one("#outcome-record", Button).focus()

    @on(Button.Pressed, "#outcome-record")
    def _record(self) -> None:
        if self.stored:
            return
        self.query_one("#outcome-record", Button).disabled = True
        self._store(self.t.language)

    @work(thread=True, exclusive=True, group="store", exit_on_error=False)
    def _store(self, language: str) -> None:
        services = self.counter.services
        try:
            if self._certificates is None:
                self._certificates = tuple(
                    services.certificate_actions(self.session, issued=self._issued)
                )
            record = self.session.complete(certificates=self._certificates, language=language)
            services.record_transaction(record)
        except MadoguchiError as exc:
            self.post_message(TransactionStored(None, str(exc)))
        else:
            self.post_message(TransactionStored(record.transaction_id, None))

    def on_transaction_stored(self, message: TransactionStored) -> None:
        if message.error is not None:
            button = self.query_one("#outcome-record", Button)
            button.disabled = False
            button.focus()  # disabling took the focus away: Enter records again
            widget = self.query_one("#outcome-message", Static)
            widget.update(self.t("outcome.failed", error=message.error))
            widget.add_class("error")
            return
        self.stored = True
        self.counter.record_action("transaction_recorded", self.session.info.id)
        self.counter.finish_procedure(self.t("outcome.recorded"))
