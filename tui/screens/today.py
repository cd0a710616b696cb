"""Today at this counter: the 交付状況 (issuance status), fees, and the local history.

Everything is derived from the transaction records in the local store by the
engine's own :func:`device.procedures.issuance_log.issuance_status`, so the
screen and the central server count the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.table import Table
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from device.procedures import texts as engine_texts
from device.procedures.issuance_log import issuance_status
from device.records import AbandonmentReason, Decision, TransactionRecord
from madoguchi.errors import MadoguchiError
from tui.local_time import clock_time
from tui.messages import TodayLoaded
from tui.screens.abandon import decision_text
from tui.screens.base import CounterScreen
from tui.screens.history import citation
from tui.text import kv_table
from tui.widgets.bars import KeyHelp, TitleBar


class TodayScreen(CounterScreen[None]):
    """Counts, fees and the list of today's transactions (newest first)."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__(id="today")
        self.records: tuple[TransactionRecord, ...] | None = None
        """Today's records once loaded."""

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t("today.title"), self.title_right())
        with VerticalScroll(id="today-box", classes="panel"):
            yield Static(t("today.loading"), id="today-summary")
            yield Static("", id="today-history")
        yield KeyHelp(t("keys.sub"))

    def on_mount(self) -> None:
        self._load()

    def populate(self) -> None:
        if self.records is not None:
            self._show(self.records)

    @work(thread=True, exclusive=True, group="today", exit_on_error=False)
    def _load(self) -> None:
        try:
            records = self.counter.services.today_records()
        except MadoguchiError as exc:
            self.post_message(TodayLoaded((), str(exc)))
        else:
            self.post_message(TodayLoaded(tuple(records), None))

    def on_today_loaded(self, message: TodayLoaded) -> None:
        if message.error is not None:
            self.query_one("#today-summary", Static).update(
                self.t("today.failed", error=message.error)
            )
            return
        self.records = message.records
        self._show(message.records)

    def _show(self, records: Sequence[TransactionRecord]) -> None:
        t = self.t
        lang = t.language
        # Abandonments (中止) are counted on their own line, never as received.
        abandoned = [r for r in records if r.decision is Decision.ABANDONED]
        decided = [r for r in records if r.decision is not Decision.ABANDONED]
        decisions = Counter(record.decision.value for record in decided)
        reasons = Counter(
            r.abandonment_reason.value for r in abandoned if r.abandonment_reason is not None
        )
        issued = issuance_status(records)
        rows = [
            (t("today.received"), t("today.count", n=len(decided))),
            *(
                (engine_texts.decision_label(decision, lang), t("today.count", n=n))
                for decision, n in sorted(decisions.items())
            ),
            (t("abandon.decision"), t("today.count", n=len(abandoned))),
            *(
                ("  " + t(f"abandon.reasons.{reason.value}"),
                 t("today.count", n=reasons[reason.value]))
                for reason in AbandonmentReason if reasons[reason.value]
            ),
            (t("today.issued"), t("today.count", n=len(issued))),
            (t("today.fee_collected"),
             t("today.yen", n=sum(r.fee_collected_yen for r in records))),
            (t("today.fee_payable"),
             t("today.yen", n=sum(r.fee_payable_jlis_yen for r in records))),
        ]
        self.query_one("#today-summary", Static).update(kv_table(rows))
        history = Table(
            t("today.time"), t("today.procedure"), t("today.decision"), t("today.operator"),
            box=None, padding=(0, 1), header_style="bold yellow",
        )
        for record in sorted(records, key=lambda r: r.completed_at, reverse=True):
            history.add_row(
                clock_time(record.completed_at, self.counter.zone),
                citation(record.procedure),  # 第2-1-(2), as the picker and 履歴 name it
                decision_text(t, record.decision.value, record.abandonment_reason.value
                              if record.abandonment_reason is not None else ""),
                record.operator_id,
            )
        widget = self.query_one("#today-history", Static)
        widget.update(history if records else t("today.none"))
