"""Login: operator authentication (統合端末の操作者の認証) before anything else."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Input, Label, Static

from device.operators import BadCredentialsError, OperatorAuthError, OperatorLockedError
from tui.screens.base import CounterScreen
from tui.widgets.bars import KeyHelp, TitleBar


class LoginScreen(CounterScreen[None]):
    """Operator id and password; the check runs in a worker, the screen never blocks.

    Args:
        notice_key: a catalogue key to show on arrival (e.g. why the last session ended).
    """

    def __init__(self, notice_key: str | None = None) -> None:
        super().__init__(id="login")
        self.notice_key = notice_key
        self.busy = False
        """True while the password hash runs."""

    def compose(self) -> ComposeResult:
        t = self.t
        demo = self.counter.services.demo_password
        yield TitleBar(t("app.title"), demo_badge=t("app.demo_badge") if demo else "")
        with Vertical(id="login-box", classes="panel"):
            yield Static(t("login.title"), classes="panel-title")
            yield Static(t("login.lead"), id="login-lead")
            yield Label(t("login.operator_id"))
            yield Input(
                id="operator-id", max_length=32, restrict=r"[A-Za-z0-9._-]*",
                select_on_focus=False,
            )
            yield Label(t("login.password"))
            yield Input(id="password", password=True, max_length=128, select_on_focus=False)
            yield Button(t("login.sign_in"), id="sign-in", variant="primary")
            notice = t(self.notice_key) if self.notice_key else ""
            yield Static(notice, id="login-message", markup=False)
            if demo:
                yield Static(t("login.demo_hint", hint=demo), id="demo-hint", markup=False)
        yield KeyHelp(t("keys.login"))

    def on_mount(self) -> None:
        self.query_one("#operator-id", Input).focus()

    @on(Input.Submitted, "#operator-id")
    def _next_field(self) -> None:
        self.query_one("#password", Input).focus()

    @on(Input.Submitted, "#password")
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
        self.query_one("#sign-in", Button).disabled = True
        self._say(self.t("login.signing_in"))
        self.counter.sign_in(operator_id, password)

    def refused(self, error: OperatorAuthError) -> None:
        """Show why sign-in was refused and let the clerk try again."""
        self.busy = False
        self.query_one("#sign-in", Button).disabled = False
        t = self.t
        if isinstance(error, OperatorLockedError):
            self._say(t("login.locked"), error=True)
        elif isinstance(error, BadCredentialsError) and error.failures_left is not None:
            left = t("login.failures_left", left=error.failures_left)
            self._say(f"{t('login.bad_credentials')}\n{left}", error=True)
        else:
            self._say(t("login.bad_credentials"), error=True)
        self.query_one("#password", Input).focus()

    def _say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#login-message", Static)
        message.update(text)
        message.set_class(error, "error")
