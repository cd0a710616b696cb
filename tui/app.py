"""The clerk's Textual app: the shell every counter screen runs in.

:class:`CounterApp` receives everything it uses as keyword-only arguments (a
:class:`~tui.services.CounterServices` built by the composition root), in the
style of harlequin taking its adapter. It never blocks the event loop:

- a reader-watch thread waits on the reader and posts :class:`ReaderChanged`;
- card reads, the password hash, the reader test and status polls run in
  thread workers and post their results as messages;
- handlers on the event loop turn messages into reactive state that the screens
  watch, so a card put down or taken away shows within the reader's poll time.

Operator authentication comes first: the app opens on the login screen, and an
idle session (measured on the injected clock) returns there by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from textual import events, on, work
from textual.binding import Binding
from textual.message_pump import MessagePump
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.worker import Worker, WorkerState, get_current_worker

from device.operators import OperatorAuthError, OperatorSession
from device.pin_entry import (
    CARD_INPUT_ASSIST_PIN,
    JUKI_PIN,
    SIGNATURE_PASSWORD,
    USER_AUTH_PIN,
    PinSpec,
)
from device.procedures import Session
from madoguchi.errors import MadoguchiError
from tui.birth_date_advice import BirthDateForms
from tui.i18n import DEFAULT_LANGUAGE, Strings
from tui.local_time import DEFAULT_TIMEZONE, zone
from tui.messages import (
    CardStatusRead,
    PinStatusRead,
    ProfileSwitched,
    ReaderChanged,
    ReaderTested,
    SignInFinished,
    StatusPolled,
)
from tui.screens.abandon import AbandonScreen
from tui.screens.actor import ActorScreen
from tui.screens.base import CounterScreen
from tui.screens.checklist import ChecklistScreen
from tui.screens.demo_menu import DemoMenuScreen, profile_label
from tui.screens.diagnostics import DiagnosticsScreen
from tui.screens.fallback import FallbackScreen
from tui.screens.history import HistoryScreen
from tui.screens.home import HomeScreen
from tui.screens.last_try import LastTryScreen
from tui.screens.login import LoginScreen
from tui.screens.outcome import OutcomeScreen
from tui.screens.pin_change import PinChangeScreen
from tui.screens.pin_prompt import PinPromptScreen
from tui.screens.pin_reset import (
    CardStepResult,
    PinResetCardScreen,
    new_pins_screen,
    new_pins_wanted,
)
from tui.screens.pin_retry import PinRetryScreen
from tui.screens.procedures import ProcedureScreen
from tui.screens.quit import QuitScreen
from tui.screens.today import TodayScreen
from tui.service_app import ExitControl, ServiceApp
from tui.services import (
    CardStatus,
    CounterServices,
    HealthItem,
    PinVerifyResult,
    PinView,
    Presence,
    ReaderState,
    ReaderTestResult,
    SyncState,
)
from tui.text import ja_wrap

log = logging.getLogger(__name__)

#: Textual's toast width in cells (``Toast`` DEFAULT_CSS), before its 50% cap.
TOAST_WIDTH = 60
#: How long the reader-watch thread waits per call; bounds how late it notices a cancel.
READER_POLL_S = 0.25
#: Seconds between looks at the outbox, the server and device health (a lost server
#: must show within a second; the look is one small SQLite read).
STATUS_POLL_S = 1.0
#: Seconds between idle checks of the operator session.
IDLE_CHECK_S = 1.0
#: The PIN the home screen's V key verifies: the 住基 PIN of 第2-1-(1) B, which the
#: applicant types after the operator has been authenticated.
VERIFY_PIN = "juki"
#: Entry rules per card PIN code.
PIN_SPECS: dict[str, PinSpec] = {
    "juki": JUKI_PIN,
    "jpki_auth": USER_AUTH_PIN,
    "jpki_sign": SIGNATURE_PASSWORD,
    "support": CARD_INPUT_ASSIST_PIN,
}


class CounterApp(ServiceApp[None]):
    """The counter's UI.

    Args:
        services: the appliance's parts, as the UI sees them.
        language: ``"ja"`` (default) or ``"en"``.
        watch_reader: start the reader-watch thread (tests of pure layout may turn it off).
        notify: sends a service-manager notification (``madoguchi.sdnotify.notify``):
            ``READY=1`` once the first screen is drawn, then ``WATCHDOG=1`` pings.
        watchdog_interval: the watchdog period in seconds; pings go out from the UI
            loop at half of it, so a stuck event loop is what systemd notices.
        timezone: the IANA zone times are shown in (``[ui] timezone``; an unknown
            one is a :class:`~madoguchi.errors.ConfigError`).
        exit_control: the signals that end the app and the process's deadline
            (the appliance's process; tests of the UI leave it out).
    """

    CSS_PATH = "app.tcss"
    TITLE = "madoguchi"
    ENABLE_COMMAND_PALETTE = False
    SERVICE_NAME = "the counter's screen"
    READY_STATUS = "login screen shown"
    BINDINGS = [  # noqa: RUF012 - Textual's own convention
        Binding("f2", "toggle_language", show=False, priority=True),
        # Quitting asks first (in the UI's language), and a counter (not the demo)
        # refuses during a procedure; Ctrl+C does the same instead of Textual's toast.
        Binding("ctrl+q", "request_quit", show=False, priority=True),
        Binding("ctrl+c", "request_quit", show=False, priority=True),
    ]

    reader_state: var[ReaderState] = var(ReaderState("", Presence.UNKNOWN))
    """The reader slot as last reported by the reader-watch thread."""
    card_status: var[CardStatus | None] = var(None)
    """What the card layer reported about the card now on the reader."""
    card_reading: var[bool] = var(False)
    """True while a card read runs."""
    sync_state: var[SyncState] = var(SyncState(queued=None))
    """The outbox and the server."""
    health: var[tuple[HealthItem, ...]] = var(())
    """Device health lines."""

    def __init__(
        self,
        *,
        services: CounterServices,
        language: str = DEFAULT_LANGUAGE,
        watch_reader: bool = True,
        notify: Callable[[str], bool] | None = None,
        watchdog_interval: float | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        exit_control: ExitControl | None = None,
    ) -> None:
        super().__init__(
            notify=notify, watchdog_interval=watchdog_interval, exit_control=exit_control
        )
        self.services = services
        """The injected appliance parts."""
        self.strings = Strings(language)
        """The UI's strings in the current language."""
        self.zone = zone(timezone)
        """The counter's time zone: every time on a screen is shown in it."""
        self.session: OperatorSession | None = None
        """The signed-in operator, or ``None`` on the login screen."""
        self.birth_date_forms = BirthDateForms()
        """The card's birth-date forms for the new-PIN advice of the transaction that read
        them (照合番号B), memory only; dropped when the transaction ends (issue 17)."""
        self._watch_reader_enabled = watch_reader
        self._pin_callback: Callable[[PinVerifyResult], None] | None = None

    # -- lifecycle ----------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A toast whose lines break as Japanese is set (Textual's break only at spaces,
        which left 「。」 on a line of its own at 80 columns)."""
        # Textual's Toast: width 60, at most half the screen less a cell; 1 cell of padding
        # each side and a 1-cell border on the left (measured: 36 cells of text at 80).
        width = min(TOAST_WIDTH, self.size.width // 2 - 1) - 3
        super().notify(ja_wrap(message, width), title=title, severity=severity,
                       timeout=timeout, markup=markup)

    def on_mount(self) -> None:
        self.push_screen(LoginScreen())
        if self._watch_reader_enabled:
            self._watch_reader()
        self._poll_status()
        self.set_interval(STATUS_POLL_S, self._poll_status)
        self.set_interval(IDLE_CHECK_S, self.check_operator_idle)
        self.tell_ready_when_drawn()

    async def on_event(self, event: events.Event) -> None:
        # Any key is activity; Input widgets stop key events, so look before they do.
        if isinstance(event, events.Key) and self.session is not None and self.session.active:
            self.session.touch()
        await super().on_event(event)

    # -- operator session -----------------------------------------------------------

    def sign_in(self, operator_id: str, password: str) -> None:
        """Check a password off the event loop; the result arrives as SignInFinished."""
        self._sign_in_worker(operator_id, password)

    @work(thread=True, exclusive=True, group="sign-in", exit_on_error=False)
    def _sign_in_worker(self, operator_id: str, password: str) -> None:
        try:
            session = self.services.operators.sign_in(operator_id, password)
        except OperatorAuthError as exc:
            self.post_message(SignInFinished(None, exc))
        else:
            self.post_message(SignInFinished(session, None))
        finally:
            del password

    def on_sign_in_finished(self, message: SignInFinished) -> None:
        if message.session is not None:
            self.session = message.session
            self.switch_screen(HomeScreen())
            return
        screen = self.screen
        if isinstance(screen, LoginScreen) and message.error is not None:
            screen.refused(message.error)

    def check_operator_idle(self) -> None:
        """Sign out an idle session and return to the login screen."""
        session = self.session
        if session is not None and not session.active:
            # Idle, or the account was revoked centrally meanwhile (sync/clerks.py): the
            # latter says only "signed out", as a refusal never says why.
            idle = session.end_reason == "idle"
            self._back_to_login("login.idle_signed_out" if idle else "login.signed_out")

    def action_sign_out(self) -> None:
        """Sign the operator out explicitly."""
        if self.session is not None:
            self.session.sign_out()
        self._back_to_login("login.signed_out")

    def _back_to_login(self, notice_key: str) -> None:
        self.session = None
        self.birth_date_forms.drop()
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(LoginScreen(notice_key))

    def record_action(self, action: str, detail: str = "") -> None:
        """Attribute an action to the signed-in operator (ignored when nobody is)."""
        if self.session is not None and self.session.active:
            self.session.record(action, detail)

    # -- navigation -------------------------------------------------------------------

    def _signed_in(self) -> bool:
        return self.session is not None and self.session.active

    def action_procedures(self) -> None:
        """Open the procedure picker."""
        if self._signed_in():
            self.push_screen(ProcedureScreen())

    def begin_procedure(self, procedure_id: str) -> None:
        """Ask who stands at the counter if it is not obvious, then open the checklist."""
        # A procedure nobody stands at the counter for (第4-4, the clerk's own) names no
        # actor: it runs as "self" rather than asking an empty question (a dead end).
        actors = list(self.services.procedure_actors(procedure_id)) or ["self"]
        if len(actors) == 1:
            self._start_procedure(procedure_id, actors[0])
            return

        def chosen(actor: str | None) -> None:
            if actor is not None:
                self._start_procedure(procedure_id, actor)

        self.push_screen(ActorScreen(procedure_id=procedure_id, actors=actors), callback=chosen)

    def _start_procedure(self, procedure_id: str, actor: str) -> None:
        if self.session is None or not self.session.active:
            return
        self.birth_date_forms.drop()  # a new transaction: nothing of the last one
        engine = self.services.start_procedure(
            procedure_id, actor, operator_id=self.session.operator_id
        )
        self.record_action("procedure_started", f"{procedure_id}:{actor}")
        self.push_screen(ChecklistScreen(session=engine))

    def show_outcome(
        self, engine: Session, *, card_identity: str | None = None, answered: int = 0
    ) -> None:
        """The engine decided: replace the checklist with the outcome.

        ``card_identity`` names the card the facts came from (another card put down
        sends the clerk back to the checklist); ``answered`` counts the steps so far.
        """
        if self.services.new_pins_at_issuance and new_pins_wanted(engine):
            # An issuance goes ahead: the new certificates' PINs are set first (on the
            # pad for the virtual card, on the J-LIS terminal at a counter).
            def set_new_pins(result: CardStepResult | None) -> None:
                done = result or CardStepResult("not_done", (), from_concealed_form=False)
                engine.note(done.facts("new_pins"))
                if done.by == "not_done":
                    # the outcome does not show it: say it before the clerk records
                    t = self.strings
                    written = "、".join(t(f"pin.names.{pin}") for pin in done.written)
                    self.notify(t("new_pins.not_set", written=written or t("pin_reset.none")),
                                severity="warning")
                self.show_outcome(engine, card_identity=card_identity, answered=answered)

            self.push_screen(new_pins_screen(engine), callback=set_new_pins)
            return
        self.switch_screen(
            OutcomeScreen(session=engine, card_identity=card_identity, answered=answered)
        )

    def finish_procedure(self, notice: str) -> None:
        """Back to the home screen after a recorded transaction."""
        self.birth_date_forms.drop()  # done or 中止: the card's birth date leaves memory
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.notify(notice)
        self._poll_status()

    def action_today(self) -> None:
        """Open today's 交付状況 and history."""
        if self._signed_in():
            self.push_screen(TodayScreen())

    def action_history(self) -> None:
        """Open the local history (every stored transaction, by date)."""
        if self._signed_in():
            self.push_screen(HistoryScreen())

    def transaction_open(self) -> bool:
        """Whether a procedure (or a PIN or 照合番号B entry) is under way on the stack."""
        busy = (ChecklistScreen, OutcomeScreen, FallbackScreen, PinPromptScreen, LastTryScreen,
                AbandonScreen, PinRetryScreen, PinResetCardScreen)
        return any(isinstance(screen, busy) for screen in self.screen_stack)

    def action_request_quit(self) -> None:
        """Ctrl+Q / Ctrl+C: ask before quitting; on a counter, not during a procedure."""
        if isinstance(self.screen, QuitScreen):
            return
        if self.transaction_open() and not self.services.demo_profiles:
            self.notify(self.strings("app.quit_busy"), severity="warning")
            return

        def answered(quit_app: bool | None) -> None:
            if quit_app:
                self.birth_date_forms.drop()
                self.record_action("app_quit")
                self.exit()

        self.push_screen(QuitScreen(), callback=answered)

    def action_diagnostics(self) -> None:
        """Open diagnostics."""
        if self._signed_in():
            self.push_screen(DiagnosticsScreen())

    def action_demo_menu(self) -> None:
        """Open the demo menu (demo only)."""
        if self._signed_in() and self.services.demo_profiles:
            self.push_screen(DemoMenuScreen())

    async def action_toggle_language(self) -> None:
        """Switch between Japanese and English; every screen is recomposed.

        Awaited, not scheduled: the app reads no further key until the new widgets stand
        with the focus back where it was, so the keys typed right after F2 land in their
        field instead of in one that is about to be removed.
        """
        self.strings = Strings(self.strings.next_language())
        for screen in list(self.screen_stack):
            if isinstance(screen, CounterScreen):
                await screen.recompose()
        self.notify(self.strings("app.language_switched"))

    # -- reader and card ----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="reader-watch", exit_on_error=False)
    def _watch_reader(self) -> None:
        """Driver thread: wait on the reader, post every change to the event loop."""
        worker = get_current_worker()
        services = self.services
        self.post_message(ReaderChanged(services.reader_state()))
        while not worker.is_cancelled:
            try:
                state = services.wait_reader_change(READER_POLL_S)
            except MadoguchiError as exc:
                log.warning("reader watch: %s", exc)
                state = ReaderState("", Presence.READER_GONE)
                worker_event_wait(worker, 1.0)
            if state is not None:
                self.post_message(ReaderChanged(state))

    def on_reader_changed(self, message: ReaderChanged) -> None:
        state = message.state
        self.reader_state = state
        if state.presence is not Presence.PRESENT:
            self._card_left()
        if state.presence is Presence.PRESENT:
            self.card_status = None
            self.card_reading = True
            self._read_card()
        else:
            self.card_status = None
            self.card_reading = False

    def _card_left(self) -> None:
        """Tell the screens, top down, that the card is gone, while it still is."""
        if self.reader_state.presence is Presence.PRESENT:
            return
        screen = self.screen
        if isinstance(screen, CounterScreen) and screen.card_removed():
            # Dismissing completes on the next frame; then the screen below is asked.
            self.call_after_refresh(self._card_left)

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def _read_card(self) -> None:
        try:
            status = self.services.read_card_status()
        except MadoguchiError as exc:
            status = CardStatus(presence=Presence.PRESENT, error=str(exc))
        self.post_message(CardStatusRead(status))

    def on_card_status_read(self, message: CardStatusRead) -> None:
        if self.reader_state.presence is Presence.PRESENT:
            self.card_status = message.status
        self.card_reading = False

    def run_reader_test(self, reply_to: MessagePump) -> None:
        """Run the diagnostics reader test in a worker; ``reply_to`` gets ReaderTested."""
        self._reader_test_worker(reply_to)

    @work(thread=True, exclusive=True, group="reader-test", exit_on_error=False)
    def _reader_test_worker(self, reply_to: MessagePump) -> None:
        try:
            result = self.services.reader_test()
        except MadoguchiError as exc:
            result = ReaderTestResult(
                ok=False, reader=self.reader_state.reader, presence=Presence.UNKNOWN,
                error=str(exc),
            )
        reply_to.post_message(ReaderTested(result))

    # -- PIN change by the holder ---------------------------------------------------------

    def action_change_pin(self) -> None:
        """Open 暗証番号の変更 (the applicant types on the pad; see tui/screens/pin_change.py)."""
        if self._signed_in():
            self.record_action("pin_change_opened")
            self.push_screen(PinChangeScreen())

    def refresh_card(self) -> None:
        """Read the card again (tries left after a PIN step), if one is on the reader."""
        if self.reader_state.presence is Presence.PRESENT and not self.card_reading:
            self.card_reading = True
            self._read_card()

    # -- PIN verification ---------------------------------------------------------------

    def action_verify_pin(self) -> None:
        """Read the tries left, confirm a last try, then open the PIN prompt."""
        self.verify_pin()

    def verify_pin(self, on_result: Callable[[PinVerifyResult], None] | None = None) -> None:
        """The PIN flow; ``on_result`` (the checklist) gets how it ended, PIN never included."""
        self._pin_callback = on_result
        if not self._signed_in():
            return
        if self.reader_state.presence is not Presence.PRESENT:
            self._pin_callback = None
            self.notify(self.strings("pin.card_needed"), severity="warning")
            return
        if self.card_reading or isinstance(self.screen, (PinPromptScreen, LastTryScreen)):
            return  # one card conversation at a time; V again once the read is done
        self._pin_status_worker(VERIFY_PIN)

    @work(thread=True, exclusive=True, group="pin", exit_on_error=False)
    def _pin_status_worker(self, pin: str) -> None:
        try:
            status = self.services.pin_status(pin)
        except MadoguchiError as exc:
            self.post_message(PinStatusRead(None, str(exc)))
        else:
            self.post_message(PinStatusRead(status))

    def on_pin_status_read(self, message: PinStatusRead) -> None:
        status = message.status
        if self.reader_state.presence is not Presence.PRESENT:
            # Taken away while the counter was read: no prompt for a card that is gone.
            self._card_removed_before_verify(status.pin if status is not None else VERIFY_PIN)
            return
        if status is None:
            self.notify(
                self.strings("pin.outcomes.error", detail=message.error or "?"), severity="error"
            )
            return
        if status.state in ("available", "no_limit"):
            self._open_pin_prompt(status, confirmed=False)
        elif status.state == "last_try":
            def answered(confirmed: bool | None) -> None:
                if confirmed is None:  # the card left while the clerk was asked
                    self._card_removed_before_verify(status.pin)
                else:
                    self._last_try_answered(status, confirmed)

            self.push_screen(LastTryScreen(pin=status.pin), callback=answered)
        else:
            if status.state == "blocked":
                # No try left: that is a result the checklist records (as failed).
                self._pin_result(PinVerifyResult(status.pin, "blocked", 0))
            else:
                self._pin_callback = None
            t = self.strings
            state = f"card.pin_states.{status.state}"
            # A blocked PIN is not a dead end: say which procedure frees it.
            key = "pin.cannot_blocked" if status.state == "blocked" else "pin.cannot"
            self.notify(
                t(key, pin=t(f"card.pins.{status.pin}"),
                  state=t(state) if t.has(state) else status.state),
                severity="warning",
            )

    def _card_removed_before_verify(self, pin: str) -> None:
        """The card left before any VERIFY: nothing was sent, nothing is recorded."""
        self.record_action("pin_verify", f"{pin}:card_removed")
        self.notify(self.strings("pin.outcomes.card_removed"), severity="warning")
        self._pin_result(PinVerifyResult(pin, "card_removed"))

    def _last_try_answered(self, status: PinView, confirmed: bool) -> None:
        if confirmed:
            self.record_action("pin_last_try_confirmed", status.pin)
            self._open_pin_prompt(status, confirmed=True)
        else:
            self.record_action("pin_last_try_declined", status.pin)
            self._pin_callback = None

    def _open_pin_prompt(self, status: PinView, *, confirmed: bool) -> None:
        screen = PinPromptScreen(
            pad=self.services.pin_pad,
            pin=status.pin,
            spec=PIN_SPECS[status.pin],
            tries_left=status.remaining,
            confirm_last_try=confirmed,
            timeouts=self.services.pin_timeouts,
            clock=self.services.clock.monotonic,
        )
        self.push_screen(screen, callback=self._pin_finished)

    def _pin_finished(self, result: PinVerifyResult | None) -> None:
        if result is None:
            self._pin_callback = None
            return
        # The outcome only: the PIN itself was never here and is already wiped.
        self.record_action("pin_verify", f"{result.pin}:{result.outcome}")
        remaining = "?" if result.remaining is None else str(result.remaining)
        self.notify(
            self.strings(f"pin.outcomes.{result.outcome}", remaining=remaining,
                         detail=result.detail),
            severity="information" if result.outcome == "verified" else "warning",
        )
        if self.reader_state.presence is Presence.PRESENT:
            self.card_reading = True
            self._read_card()  # show the new tries left
        self._pin_result(result)

    def _pin_result(self, result: PinVerifyResult) -> None:
        callback, self._pin_callback = self._pin_callback, None
        if callback is not None:
            callback(result)

    # -- status polling -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="status", exit_on_error=False)
    def _poll_status(self) -> None:
        sync = self.services.sync_state()
        health: Sequence[HealthItem] = self.services.device_health()
        self.post_message(StatusPolled(sync, health))

    def on_status_polled(self, message: StatusPolled) -> None:
        self.sync_state = message.sync
        self.health = message.health

    # -- demo ---------------------------------------------------------------------------

    def switch_profile(self, profile: str) -> None:
        """Demo: put a card of ``profile`` on the virtual reader (in a worker)."""
        self._switch_profile_worker(profile)

    @work(thread=True, exclusive=True, group="demo", exit_on_error=False)
    def _switch_profile_worker(self, profile: str) -> None:
        try:
            self.services.switch_profile(profile)
        except MadoguchiError as exc:
            self.post_message(ProfileSwitched(profile, str(exc)))
        else:
            self.post_message(ProfileSwitched(profile))

    def on_profile_switched(self, message: ProfileSwitched) -> None:
        self.record_action("demo_profile", message.profile)
        if message.error:
            self.notify(self.strings("app.worker_failed", error=message.error), severity="error")
        else:
            label = profile_label(self.strings, message.profile)
            self.notify(self.strings("demo.switched", profile=label))
        if isinstance(self.screen, DemoMenuScreen):
            self.pop_screen()

    # -- errors -------------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            log.error("worker %s failed: %s", event.worker.name, event.worker.error)
            self.notify(
                self.strings("app.worker_failed", error=type(event.worker.error).__name__),
                severity="error",
            )


def worker_event_wait(worker: Worker[None], seconds: float) -> None:
    """Sleep in a thread worker, waking early when it is cancelled."""
    import time

    deadline = time.monotonic() + seconds
    while not worker.is_cancelled and time.monotonic() < deadline:
        time.sleep(0.05)
