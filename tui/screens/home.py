"""Home: reader and card state, the operator, the outbox and server, device health."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tui.screens.base import CounterScreen
from tui.services import HealthItem, SyncState
from tui.text import kv_table
from tui.widgets.bars import KeyHelp, TitleBar
from tui.widgets.card_panel import CardPanel


class HomeScreen(CounterScreen[None]):
    """The screen the clerk returns to between procedures."""

    BINDINGS = [  # noqa: RUF012 - Textual's own convention
        Binding("v", "app.verify_pin", show=False),
        Binding("p", "app.procedures", show=False),
        Binding("t", "app.today", show=False),
        Binding("h", "app.history", show=False),
        Binding("d", "app.diagnostics", show=False),
        Binding("m", "app.demo_menu", show=False),
        Binding("o", "app.sign_out", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="home")

    def compose(self) -> ComposeResult:
        t = self.t
        demo = bool(self.counter.services.demo_profiles)
        yield TitleBar(
            f"{t('app.title')}  {t('home.title')}",
            self.title_right(),
            demo_badge=t("app.demo_badge") if demo else "",
        )
        with Horizontal(id="home-body"):
            yield CardPanel(id="card-panel")
            with Vertical(id="home-side"):
                yield Static(id="operator-panel", classes="panel")
                yield Static(id="sync-panel", classes="panel")
                yield Static(id="health-panel", classes="panel")
        yield KeyHelp(t("keys.home_demo" if demo else "keys.home"))

    def on_mount(self) -> None:
        app = self.counter
        self.populate()
        self.watch(app, "reader_state", self._show_card, init=False)
        self.watch(app, "card_status", self._show_card, init=False)
        self.watch(app, "card_reading", self._show_card, init=False)
        self.watch(app, "sync_state", self._show_sync, init=False)
        self.watch(app, "health", self._show_health, init=False)
        self.set_interval(1.0, self._show_operator)

    def populate(self) -> None:
        app = self.counter
        self.query_one("#card-panel").border_title = self.t("card.title")
        self.query_one("#operator-panel").border_title = self.t("home.operator")
        self.query_one("#sync-panel").border_title = self.t("home.sync")
        self.query_one("#health-panel").border_title = self.t("home.health")
        self._show_card()
        self._show_sync(app.sync_state)
        self._show_health(app.health)
        self._show_operator()

    def _composed(self) -> bool:
        """Whether the panels exist: timers and watchers also fire during a recompose (F2)."""
        return all(self.query(f"#{name}-panel") for name in ("card", "operator", "sync", "health"))

    def _show_card(self, _: object = None) -> None:
        if not self._composed():
            return
        app = self.counter
        self.query_one(CardPanel).show(
            self.t, app.reader_state, app.card_status, reading=app.card_reading
        )

    def _show_operator(self) -> None:
        session = self.counter.session
        if session is None or not session.active or not self._composed():
            return
        minutes = max(1, round(session.seconds_left() / 60))
        table = kv_table([
            (self.t("home.operator"), f"{session.display_name} ({session.operator_id})"),
        ])
        idle = Text(self.t("home.idle_left", minutes=minutes))
        self.query_one("#operator-panel", Static).update(Group(table, idle))

    def _show_sync(self, sync: SyncState) -> None:
        if not self._composed():
            return
        t = self.t
        none = t("common.not_connected")
        queued = none if sync.queued is None else t("home.queued_count", n=sync.queued)
        if sync.quarantined:
            queued += "  " + t("home.quarantined", n=sync.quarantined)
        if sync.server_reachable is None:
            server = none
        else:
            server = t("home.reachable" if sync.server_reachable else "home.unreachable")
        rows = [(t("home.queued"), queued), (t("home.server"), server),
                (t("home.last_success"), self.when(sync.last_success))]
        self.query_one("#sync-panel", Static).update(kv_table(rows))

    def _show_health(self, health: Sequence[HealthItem]) -> None:
        if not self._composed():
            return
        t = self.t
        rows = [
            (t(item.name_key), f"{t('common.ok' if item.ok else 'common.ng')}  {item.detail}")
            for item in health
        ]
        styles = ["" if item.ok else "bold reverse" for item in health]
        self.query_one("#health-panel", Static).update(kv_table(rows, styles=styles))
