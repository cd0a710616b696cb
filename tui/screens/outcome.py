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
from device.records import AbandonmentReason, CertificateAction
from madoguchi.errors import MadoguchiError
from tui.messages import TransactionStored
from tui.screens.abandon import AbandonScreen
from tui.screens.base import CounterScreen
from tui.widgets.bars import KeyHelp, TitleBar


class OutcomeScreen(CounterScreen[None]):
    """Shows the engine's decision and records the transaction on request."""

    BINDINGS = [  # noqa: RUF012
        Binding("escape", "discard", show=False),
        Binding("f3", "back", show=False),
    ]

    def __init__(
        self, *, session: Session, card_identity: str | None = None, answered: int = 0
    ) -> None:
        super().__init__(id="outcome")
        self.session = session
        self.stored = False
        """True once the transaction is in the store."""
        self.card_identity = card_identity
        """The card the procedure's facts came from (``None``: none read)."""
        self.answered = answered
        self._storing = False
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
        self.watch(self.counter, "card_status", self._card_read, init=False)

    @on(Button.Pressed, "#outcome-record")
    def _record(self) -> None:
        if self.stored or self._storing:
            return
        self._storing = True
        self.query_one("#outcome-record", Button).disabled = True
        self._store(self.t.language)

    # -- not recorded: discarded with a question, or back one step --------------------------

    def action_discard(self) -> None:
        """Esc: the decision is not thrown away silently; 中止 is asked and recorded."""
        if self.stored or self._storing:
            return
        self.app.push_screen(AbandonScreen(session=self.session, discard=True),
                             callback=self._discarded)

    def _discarded(self, reason: AbandonmentReason | None) -> None:
        if reason is None:
            self.query_one("#outcome-record", Button).focus()
            return
        t = self.t
        self.counter.finish_procedure(
            t("abandon.recorded", reason=t(f"abandon.reasons.{reason.value}"))
        )

    def action_back(self) -> None:
        """F3: take back the last answer and return to the checklist at that step."""
        if self.stored or self._storing:
            return
        self._to_checklist(withdraw_card=False)

    def _to_checklist(self, *, withdraw_card: bool) -> None:
        # Imported here: the checklist opens this screen.
        from tui.screens.checklist import ChecklistScreen, go_back, withdraw_card_facts

        if withdraw_card:
            withdrawn = withdraw_card_facts(self.session)
            self.counter.record_action("card_swapped", ",".join(withdrawn))
        else:
            go_back(self.session)
            self.counter.record_action("step_taken_back", self.session.info.id)
        screen = ChecklistScreen(
            session=self.session, answered=max(0, self.answered - 1)
        )
        if not withdraw_card:
            screen.card_identity = self.card_identity
        self.app.switch_screen(screen)
        if withdraw_card:
            self.app.notify(self.t("checklist.card_swapped"), severity="warning")

    def _card_read(self, _: object = None) -> None:
        """Another card on the reader: this outcome would mix two cards; ask again."""
        from tui.screens.checklist import card_facts

        status = self.counter.card_status
        if (self.stored or self._storing or status is None or not status.identity
                or self.card_identity is None or status.identity == self.card_identity
                or not card_facts(self.session) or not self.is_current):
            return
        self._to_checklist(withdraw_card=True)

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
        self._storing = False
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
