"""The outcome: continue, 受付不可 or the inquiry route, every reason with its citation.

Recording runs in a thread worker: an issuance first gets its certificates from
the issuing authority (a revocation reads the card's), then the transaction
(with the operator's id and those certificates) goes to the local store and its
outbox; the sync queue on the home screen then counts it. If the authority or
the card fails, the clerk sees why and nothing is stored; recording again
never issues a certificate twice.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from device.procedures import Session
from device.procedures import certificates as planned
from device.procedures import procedure as engine_procedure
from device.procedures import texts as engine_texts
from device.records import AbandonmentReason, CertificateAction
from madoguchi.errors import MadoguchiError
from tui.messages import TransactionStored
from tui.screens.abandon import AbandonScreen, tell_card_back
from tui.screens.base import CounterScreen
from tui.text import JaText
from tui.widgets.bars import KeyHelp, TitleBar

#: Hex digits of a certificate serial the clerk is shown: enough to tell two apart.
SERIAL_SHOWN = 8


def short_serial(serial: str) -> str:
    """A serial as the screen names it: its first digits and ``...`` when it is long.

    A 40-digit serial broke a notice over five lines at 80 columns; the record keeps
    the whole value. ASCII dots, not 「…」, whose width is ambiguous (a CJK font may
    draw it over two cells while the layout counts one).
    """
    if len(serial) <= SERIAL_SHOWN + 3:
        return serial
    return serial[:SERIAL_SHOWN] + "..."


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
        self._status_set = False
        self._status_note = ""

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
                # Japanese line breaking: no lone 「。」 line, no citation cut in two.
                reasons.add_row(reason.citation, JaText(reason.text))
            yield Static(reasons, id="outcome-reasons")
            yield Static(
                t("outcome.fee", collected=evaluation.fee.collected_yen,
                  payable=evaluation.fee.payable_jlis_yen),
                id="outcome-fee",
            )
            planned_text = self._planned()
            certificates = Static(planned_text, id="outcome-certificates", markup=False)
            certificates.display = bool(planned_text)  # no empty line for 受付不可
            yield certificates
            with Horizontal(id="outcome-buttons"):
                yield Button(t("outcome.record"), id="outcome-record")
            yield Static("", id="outcome-message", markup=False)
        yield KeyHelp(t("keys.outcome"))

    def on_mount(self) -> None:
        self.query_one("#outcome-record", Button).focus()
        self.watch(self.counter, "card_status", self._card_read, init=False)
        if planned.revokes_card_certificates(self.session.evaluation):
            self._read_certificates()  # name them before the clerk records

    # -- the certificates the outcome issues or revokes -----------------------------------

    def _planned(self) -> str:
        """The certificates this outcome issues (by kind) or revokes (as read from the card)."""
        t = self.t
        evaluation = self.session.evaluation
        kinds = planned.kinds_to_issue(evaluation)
        if kinds:
            names = "、" if t.language != "en" else ", "
            return t("outcome.issue_planned", certificates=names.join(
                engine_texts.value_label(kind, t.language) for kind in kinds))
        if self._certificates:
            return t("outcome.revoke_planned", certificates=self._named(self._certificates))
        return ""

    def _named(self, actions: tuple[CertificateAction, ...]) -> str:
        t = self.t
        joiner = "、" if t.language != "en" else ", "
        return joiner.join(
            t("outcome.serial", kind=engine_texts.value_label(a.kind, t.language),
              serial=short_serial(a.serial)) if a.serial
            else engine_texts.value_label(a.kind, t.language)
            for a in actions
        )

    @work(thread=True, group="certificates", exit_on_error=False)
    def _read_certificates(self) -> None:
        # A revocation only reads the card (no PIN, no try spent): safe to do early. If
        # the card is away now, recording reads it again.
        try:
            actions = tuple(self.counter.services.certificate_actions(
                self.session, issued=self._issued))
        except MadoguchiError:
            return
        self.app.call_from_thread(self._show_certificates, actions)

    def _show_certificates(self, actions: tuple[CertificateAction, ...]) -> None:
        if self._certificates is None:
            self._certificates = actions
        widget = self.query_one("#outcome-certificates", Static)
        widget.update(self._planned())
        widget.display = bool(self._planned())

    def _summary(self, record_certificates: tuple[CertificateAction, ...]) -> str:
        """What was done, for the notice after recording: certificates, 運用状況, next."""
        t = self.t
        parts = [t("outcome.recorded")]
        for action in ("issued", "renewed", "revoked"):
            chosen = tuple(a for a in record_certificates if a.action == action)
            if chosen:
                parts.append(t("outcome.certificates_recorded",
                               action=t(f"outcome.{action}"), certificates=self._named(chosen)))
        if planned.operation_status_to_set(self.session.evaluation):
            parts.append(self._status_note)
        return " ".join(p for p in parts if p)

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
            status_set = self._set_operation_status(services)
            record = self.session.complete(certificates=self._certificates, language=language,
                                           operation_status_set=status_set)
            services.record_transaction(record)
        except MadoguchiError as exc:
            self.post_message(TransactionStored(None, str(exc)))
        else:
            self.post_message(TransactionStored(record.transaction_id, None))

    def _set_operation_status(self, services: Any) -> bool:
        """第4-3 (改正後): the card back to 運用中 on the central server, before the record
        says so. A server that is away does not stop the record: the notice tells the
        clerk to change it on the 統合端末."""
        if self._status_set or self._certificates is None \
                or not planned.operation_status_to_set(self.session.evaluation):
            return self._status_set
        t = self.t
        try:
            self._status_set = bool(services.set_operation_status(
                self.session, self._certificates))
        except MadoguchiError as exc:
            self._status_note = t("outcome.status_failed", error=str(exc))
            return False
        self._status_note = t("outcome.status_set" if self._status_set
                              else "outcome.status_not_set")
        return self._status_set

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
        notice = self._summary(self._certificates or ())
        following = self._next_procedure()
        if following:
            notice += " " + self.t("outcome.next_procedure", procedure=following)
        if not following:  # 第4-3's issuance goes on with the same card
            tell_card_back(self.counter.services, self.session)
        self.counter.finish_procedure(notice)
        if following:
            # 第4-3: 「必要に応じて新規発行」 — the issuance is offered as the next procedure.
            self.counter.begin_procedure(self.session.new_issuance_procedure())

    def _next_procedure(self) -> str:
        """The title of the procedure the outcome leads to (第4-3 → issuance), or ``""``."""
        if not any(a.kind == "new_issuance" for a in self.session.evaluation.actions):
            return ""
        pid = self.session.new_issuance_procedure()
        info = engine_procedure(pid)
        return f"{info.citation} {engine_texts.procedure_title(pid, self.t.language)}"
