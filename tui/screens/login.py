"""Login: operator authentication (統合端末の操作者の認証) before anything else.

Typed at machine speed. A badge reader or a fast typist sends the id, Tab, the
password and Enter in one burst. Textual hands every key to the widget focused when
the app *reads* the key, and an Input's Tab or Enter moves the focus only when that
widget later *handles* it: the password of such a burst landed in the id field, in
clear. Here Tab, Shift+Tab and Enter are priority bindings of the screen, which the
app runs as it reads the key, so the focus has moved before the next key of the
burst is delivered and each key lands in the field it was typed for. The sign-in
itself is the other way round: the password's last characters may still wait in
a field's queue when the app reads Enter, so Enter queues a :class:`Commit` behind
them in the id field, which passes it on behind the keys in the password field,
and the fields are read when it comes out of the last. Keys typed while a sign-in
is being checked are dropped with the checklist's type-ahead guard
(:class:`~tui.widgets.type_ahead.TypeAheadGuard`), and so is the Enter after them.
"""

from __future__ import annotations

from textual import events, on
from textual._time import get_time
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from device.operators import OperatorAuthError
from tui.screens.base import CounterScreen
from tui.widgets.bars import KeyHelp, TitleBar
from tui.widgets.type_ahead import TypeAheadGuard

#: Keys that submit or move between the fields (the guard's answering keys).
FIELD_KEYS = frozenset({"enter", "tab", "shift+tab"})


class LoginInput(Input):
    """The id and password fields: their keys pass the screen's type-ahead guard."""

    class Commit(Message):
        """Sign in with what the fields hold once every key before Enter is in them."""

    async def _on_key(self, event: events.Key) -> None:
        screen = self.screen
        if isinstance(screen, LoginScreen) and not screen.guard.admit(event, FIELD_KEYS):
            event.prevent_default()  # neither the field nor a binding sees it
            event.stop()

    def on_login_input_commit(self, message: Commit) -> None:
        message.stop()
        screen = self.screen
        if not isinstance(screen, LoginScreen):
            return
        if self.id == "operator-id":
            # Every key typed into the id before Enter is in; now behind the password's.
            screen.query_one("#password", LoginInput).post_message(LoginInput.Commit())
        else:
            screen.commit()


class LoginScreen(CounterScreen[None]):
    """Operator id and password; the check runs in a worker, the screen never blocks.

    Args:
        notice_key: a catalogue key to show on arrival (e.g. why the last session ended).
    """

    BINDINGS = [  # noqa: RUF012
        Binding("tab", "next_field", show=False, priority=True),
        Binding("shift+tab", "previous_field", show=False, priority=True),
        Binding("enter", "enter", show=False, priority=True),
    ]

    def __init__(self, notice_key: str | None = None) -> None:
        super().__init__(id="login")
        self.notice_key = notice_key
        self.busy = False
        """True while the password hash runs."""
        self.guard = TypeAheadGuard(self._typed_ahead)
        """Drops keys typed while a sign-in is checked."""
        self._committing = False

    def compose(self) -> ComposeResult:
        t = self.t
        demo = self.counter.services.demo_password
        yield TitleBar(t("app.title"), demo_badge=t("app.demo_badge") if demo else "")
        with Vertical(id="login-box", classes="panel"):
            yield Static(t("login.title"), classes="panel-title")
            yield Static(t("login.lead"), id="login-lead")
            yield Label(t("login.operator_id"))
            yield LoginInput(
                id="operator-id", max_length=32, restrict=r"[A-Za-z0-9._-]*",
                select_on_focus=False,
            )
            yield Label(t("login.password"))
            yield LoginInput(id="password", password=True, max_length=128,
                             select_on_focus=False)
            yield Button(t("login.sign_in"), id="sign-in", variant="primary")
            notice = t(self.notice_key) if self.notice_key else ""
            yield Static(notice, id="login-message", markup=False)
            if demo:
                yield Static(t("login.demo_hint", hint=demo), id="demo-hint", markup=False)
        yield KeyHelp(t("keys.login"))

    def on_mount(self) -> None:
        self.query_one("#operator-id", Input).focus()

    # -- keys: run as the app reads them, so the next key finds the focus moved ---------

    def _field_key(self, key: str) -> bool:
        if self._committing:
            # Enter was read and its sign-in is queued: a Tab or Enter after it belongs
            # to no field (the keys after it are dropped when they reach one).
            self.guard.dropped = True
            self._typed_ahead()
            return False
        return self.guard.admit_key(key, get_time(), FIELD_KEYS)

    def action_next_field(self) -> None:
        """Tab: the next field, now."""
        if self._field_key("tab"):
            self.focus_next()

    def action_previous_field(self) -> None:
        """Shift+Tab: the previous field, now."""
        if self._field_key("shift+tab"):
            self.focus_previous()

    def action_enter(self) -> None:
        """Enter: from the id to the password; from the password or the button, sign in."""
        if not self._field_key("enter"):
            return
        if self.focused is self.query_one("#operator-id", Input):
            # set_focus now: Widget.focus() would move it only after the next keys.
            self.set_focus(self.query_one("#password", Input))
        else:
            self._committing = True
            # Behind the keys typed before Enter, in both fields (see the module docstring).
            self.query_one("#operator-id", LoginInput).post_message(LoginInput.Commit())

    def commit(self) -> None:
        """Every key before Enter is in its field: sign in."""
        self._committing = False
        self._submit()

    @on(Button.Pressed, "#sign-in")
    def _submit(self) -> None:
        if self.busy:
            return
        operator_id = self.query_one("#operator-id", Input).value.strip()
        password_input = self.query_one("#password", Input)
        password = password_input.value
        # The typed password leaves the widget at once; only the worker holds it.
        password_input.value = ""
        if not operator_id or not password:
            self._say(self.t("login.missing"), error=True)
            return
        self.busy = True
        self.guard.busy()
        self.query_one("#sign-in", Button).disabled = True
        self._say(self.t("login.signing_in"))
        self.counter.sign_in(operator_id, password)

    def refused(self, error: OperatorAuthError) -> None:
        """Say that sign-in was refused (one message for every reason) and let the clerk retry.

        The message never says whether the id exists, the password was wrong or the
        account is locked for now (``error`` tells nothing more either): a person at
        the counter must not learn which ids exist or which are locked.
        """
        del error  # every refusal reads the same
        self.busy = False
        self.query_one("#sign-in", Button).disabled = False
        minutes = max(1, round(self.counter.services.operators.lockout_s / 60))
        self._say(self.t("login.refused", minutes=minutes), error=True)
        self.query_one("#password", Input).focus()
        self.guard.ready()

    def _typed_ahead(self) -> None:
        # Without a word on screen the lost keys and the dead Enter would confuse the clerk.
        self._say(self.t("login.typed_ahead"), error=True)

    def _say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#login-message", Static)
        message.update(text)
        message.set_class(error, "error")
