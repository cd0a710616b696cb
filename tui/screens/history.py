"""The local history: every transaction the store holds, by date, newest first, a page at a time.

What the clerk (or IT) sees when asked "what did this counter do last week, and did
it reach the server?": the time in the counter's zone, the procedure's citation,
the decision, the operator and the outbox state. Records hold no personal data by
construction (:mod:`device.records`), and this screen shows nothing else from them.
Pages are read from the store in a thread worker; the event loop never waits.
"""

from __future__ import annotations

from rich.table import Table
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from device.procedures import procedure
from madoguchi.errors import MadoguchiError
from tui.local_time import clock_time, local_date
from tui.messages import HistoryLoaded
from tui.screens.abandon import decision_text
from tui.screens.base import CounterScreen
from tui.services import HistoryEntry, HistoryPage
from tui.widgets.bars import KeyHelp, TitleBar

#: Transactions per page: fits the 80x24 terminal with the header and the page line.
PAGE_SIZE = 12
#: Cells the other columns, their padding and the panel take; the decision gets the rest.
DECISION_ROOM = 60


def citation(procedure_id: str) -> str:
    """``2-1-1`` as the guidelines cite it (第2-1-(1)); an id the engine no longer has, as is."""
    try:
        return procedure(procedure_id).citation
    except MadoguchiError:
        return procedure_id


class HistoryScreen(CounterScreen[None]):
    """Stored transactions grouped by local date, newest first; PgDn/→ older, PgUp/← newer."""

    BINDINGS = [  # noqa: RUF012 - Textual's own convention
        Binding("escape", "app.pop_screen", show=False),
        Binding("pagedown,right", "older", show=False),
        Binding("pageup,left", "newer", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="history")
        self.start = 0
        """Where the shown page starts (0 = the newest transaction)."""
        self.page: HistoryPage | None = None
        """The shown page once loaded."""
        self._error: str | None = None

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t("history.title"), self.title_right())
        with Vertical(id="history-box", classes="panel"):
            yield Static(t("today.loading"), id="history-list")
            yield Static("", id="history-page")
        yield KeyHelp(t("keys.history"))

    def on_mount(self) -> None:
        self._load(self.start)

    def populate(self) -> None:
        self._show()

    def on_resize(self) -> None:
        self._show()  # the decision column's room depends on the width

    # -- paging -----------------------------------------------------------------------

    def action_older(self) -> None:
        """The next page back in time."""
        if self.page is not None and self.start + PAGE_SIZE < self.page.total:
            self._load(self.start + PAGE_SIZE)

    def action_newer(self) -> None:
        """The page before this one (towards today)."""
        if self.start > 0:
            self._load(max(0, self.start - PAGE_SIZE))

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _load(self, offset: int) -> None:
        try:
            page = self.counter.services.history_page(offset=offset, limit=PAGE_SIZE)
        except MadoguchiError as exc:
            self.post_message(HistoryLoaded(offset, None, str(exc)))
        else:
            self.post_message(HistoryLoaded(offset, page, None))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self._error = message.error
        if message.page is not None:
            self.start, self.page = message.offset, message.page
        self._show()

    # -- drawing -----------------------------------------------------------------------

    def _show(self) -> None:
        t = self.t
        listing = self.query_one("#history-list", Static)
        footer = self.query_one("#history-page", Static)
        if self._error is not None:
            listing.update(t("today.failed", error=self._error))
            listing.add_class("error")
            return
        page = self.page
        if page is None:
            return
        listing.remove_class("error")
        if not page.entries:
            listing.update(t("history.none"))
            footer.update("")
            return
        listing.update(self._table(page.entries))
        pages = (page.total + PAGE_SIZE - 1) // PAGE_SIZE
        footer.update(t("history.page", n=self.start // PAGE_SIZE + 1, pages=pages,
                        total=page.total))

    def _table(self, entries: tuple[HistoryEntry, ...]) -> Table:
        t = self.t
        zone = self.counter.zone
        table = Table(
            t("history.date"), t("today.time"), t("history.procedure"), t("today.decision"),
            t("today.operator"), t("history.sync"),
            box=None, padding=(0, 1), header_style="bold yellow",
        )
        for column in table.columns:
            column.no_wrap = True  # one line per transaction: a page always fits the screen
        # The decision is the one long text: it gives way (…) so the rest stays whole.
        table.columns[3].max_width = max(12, self.size.width - DECISION_ROOM)
        last_day = ""
        for entry in entries:
            day = local_date(entry.completed_at, zone)
            sync_key = f"history.sync_states.{entry.sync}"
            decision = entry.decision
            table.add_row(
                self._day(day) if day != last_day else "",  # the date heads its group
                clock_time(entry.completed_at, zone),
                citation(entry.procedure),
                decision_text(t, decision, entry.abandonment_reason),
                entry.operator_id,
                t(sync_key) if t.has(sync_key) else entry.sync,
                style="bold reverse" if entry.sync == "quarantined" else "",
            )
            last_day = day
        return table

    def _day(self, iso_day: str) -> str:
        year, month, day = (int(part) for part in iso_day.split("-"))
        return self.t("history.day", y=year, m=month, d=day)
