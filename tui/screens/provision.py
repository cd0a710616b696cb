"""The provisioning screen: a counter with no configuration enrols with its server.

Shown by ``madoguchi counter`` at first boot (:class:`tui.provision_app.ProvisionApp`).
The person (IT, or a clerk on the phone with IT) types the server URL and the one-time
enrolment token, or inserts a USB stick with the enrolment file (looked for at once, every
:data:`USB_POLL_S` and on F5). Every step that touches the network or the disk runs in a
thread worker (the screen never blocks) through the injected provisioner
(:class:`madoguchi.provisioning.Provisioner`):

1. the server's CA: from the file (trusted), or fetched and its fingerprint shown for
   the person to compare with IT's (nothing is sent before they say it matches);
2. enrolment and the atomic write of the configuration.

Each failure is one Japanese sentence on the screen; the fields keep what was typed so
it can be corrected and retried. Esc never leaves a half state: while the CA is being
fetched it abandons that look, on the fingerprint it means "they differ" (nothing was
sent), and during the enrolment it is refused with a word (the commit is atomic).

Fast typing: Tab and Enter are priority bindings that move the focus as the app reads
them, and Enter's submit queues behind the keys still in the fields (as the login screen
does, ``tui/screens/login.py``). An Enter typed while the server was being asked is
dropped by the type-ahead guard (``tui/widgets/type_ahead.py``), and so is the next one:
the fingerprint is confirmed only by a key pressed after it was on the screen.
"""

from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual import on
from textual._time import get_time
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static

from madoguchi.errors import MadoguchiError
from tui.text import ja_wrap
from tui.widgets.bars import KeyHelp, TitleBar
from tui.widgets.type_ahead import TypeAheadGuard

if TYPE_CHECKING:
    from madoguchi.provisioning import Request
    from tui.i18n import Strings

log = logging.getLogger(__name__)

#: How often the screen looks for a newly inserted stick while it waits for input.
USB_POLL_S = 2.0
#: The keys that answer the confirmation (the guard's answering keys).
ANSWER_KEYS = frozenset({"enter"})


class Provisioner(Protocol):
    """What the screen needs (``madoguchi.provisioning.Provisioner``); every method may
    block and is called from a worker thread; failures are ``ProvisioningError``\\ s."""

    def find_usb(self) -> list[Path]:
        """Enrolment files on mounted sticks."""
        ...

    def read_usb(self, path: Path) -> Request:
        """Read one."""
        ...

    def typed(self, server_url: str, token: str) -> Request:
        """Check the typed fields."""
        ...

    def server_ca(self, request: Request) -> tuple[bytes, bool]:
        """The server's CA and whether it is trusted already."""
        ...

    def fingerprint(self, ca_pem: bytes) -> str:
        """Its SHA-256 fingerprint."""
        ...

    def enrol_and_commit(self, request: Request, ca_pem: bytes) -> tuple[str, Path]:
        """Enrol and write; the device id and the configuration's path."""
        ...


class Step(Enum):
    """Where the screen is."""

    ENTRY = "entry"
    CHECKING = "checking"
    CONFIRM = "confirm"
    ENROLLING = "enrolling"
    DONE = "done"


class Looked(Message):
    """A worker's answer, tagged with the attempt it belongs to."""

    def __init__(self, attempt: int, kind: str, value: Any = None, error: str = "") -> None:
        super().__init__()
        self.attempt = attempt
        self.kind = kind
        self.value = value
        self.error = error


class FieldInput(Input):
    """URL and token fields: Commit reaches the screen behind the keys still queued."""

    class Commit(Message):
        """Submit once every key typed before Enter is in the fields."""

    def on_field_input_commit(self, message: Commit) -> None:
        message.stop()
        screen = self.screen
        if not isinstance(screen, ProvisionScreen):
            return
        if self.id == "server-url":
            screen.query_one("#token", FieldInput).post_message(FieldInput.Commit())
        else:
            screen.submit()


def _reason(exc: BaseException) -> tuple[str, str]:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason, str(getattr(exc, "detail", ""))
    return "unexpected", repr(exc)


class ProvisionScreen(Screen[Path]):
    """Server URL and token, or the USB stick; the CA check; the enrolment.

    Dismissed with the written configuration's path once the counter is provisioned.
    """

    BINDINGS = [  # noqa: RUF012 - Textual's own convention
        Binding("tab", "next_field", show=False, priority=True),
        Binding("shift+tab", "previous_field", show=False, priority=True),
        Binding("enter", "enter", show=False, priority=True),
        Binding("escape", "escape", show=False, priority=True),
        Binding("f5", "look_for_usb", show=False),
        Binding("left", "previous_field", show=False),
        Binding("right", "next_field", show=False),
    ]

    def __init__(self, provisioner: Provisioner) -> None:
        super().__init__(id="provision")
        self.provisioner = provisioner
        self.step = Step.ENTRY
        self.attempt = 0
        """Bumped whenever the screen moves on: a late worker answer is dropped."""
        self.request: Request | None = None
        self.ca_pem = b""
        self._seen_usb: set[Path] = set()
        self._committing = False
        self.guard = TypeAheadGuard(self._typed_ahead)
        """Drops an Enter typed before the fingerprint was on screen, and the next."""

    @property
    def t(self) -> Strings:
        """The app's strings."""
        return cast("Strings", getattr(self.app, "strings"))  # noqa: B009

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t("provision.title"))
        with Vertical(id="provision-entry", classes="panel"):
            yield Static(t("provision.heading"), classes="panel-title")
            yield Static(t("provision.lead"), id="provision-lead")
            yield Label(t("provision.server_url"))
            yield FieldInput(id="server-url", max_length=200, placeholder="https://",
                             select_on_focus=False)
            yield Label(t("provision.token"))
            yield FieldInput(id="token", max_length=128, restrict=r"[A-Za-z0-9_\- ]*",
                             select_on_focus=False)
            yield Button(t("provision.connect"), id="connect", variant="primary")
        with Vertical(id="provision-confirm", classes="panel"):
            yield Static(t("provision.confirm_heading"), classes="panel-title")
            yield Static("", id="confirm-lead", markup=False)
            yield Static("", id="confirm-server", markup=False)
            yield Static(t("provision.fingerprint"))
            yield Static("", id="fingerprint", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(t("provision.matches"), id="matches", variant="primary")
                yield Button(t("provision.differs"), id="differs")
        yield Static("", id="provision-message", markup=False)
        yield KeyHelp(t("provision.keys"))

    def on_mount(self) -> None:
        self._wrap_lead()
        self.query_one("#provision-confirm").display = False
        self.query_one("#server-url", Input).focus()
        self.look_for_usb(quiet=True)
        self.set_interval(USB_POLL_S, lambda: self.look_for_usb(quiet=True))

    # -- what the screen says -----------------------------------------------------------

    def on_resize(self) -> None:
        self._wrap_lead()

    def _wrap_lead(self) -> None:
        # Japanese line breaks (no 、 or 。 at a line's start), inside the panel's frame.
        width = max(20, self.app.size.width - 6)
        self.query_one("#provision-lead", Static).update(ja_wrap(self.t("provision.lead"), width))

    def say(self, text: str, *, error: bool = False) -> None:
        """One message under the form (replaces the last)."""
        width = max(20, self.app.size.width - 4)
        message = self.query_one("#provision-message", Static)
        message.update(ja_wrap(text, width) if text else "")
        message.set_class(error, "error")

    def _typed_ahead(self) -> None:
        self.say(self.t("provision.typed_ahead"), error=True)

    def _keys(self, key: str) -> None:
        self.query_one(KeyHelp).update(self.t(key))

    def _show(self, step: Step) -> None:
        self.step = step
        entry = step in (Step.ENTRY, Step.CHECKING)
        self.query_one("#provision-entry").display = entry
        self.query_one("#provision-confirm").display = not entry
        busy = step in (Step.CHECKING, Step.ENROLLING, Step.DONE)
        for button in self.query(Button):
            button.disabled = busy
        for field in self.query(FieldInput):
            field.disabled = step is not Step.ENTRY
        self._keys("provision.keys_busy" if busy else
                   "provision.keys_confirm" if step is Step.CONFIRM else "provision.keys")
        if step is Step.ENTRY:
            self.query_one("#server-url", Input).focus()
        elif step is Step.CONFIRM:
            self.query_one("#matches", Button).focus()

    # -- keys ---------------------------------------------------------------------------

    def action_next_field(self) -> None:
        """Tab: the next field or button, now."""
        self.focus_next()

    def action_previous_field(self) -> None:
        """Shift+Tab."""
        self.focus_previous()

    def action_enter(self) -> None:
        """Enter: URL → token → connect; on a button, press it."""
        focused = self.focused
        if self.step is not Step.ENTRY:
            if not self.guard.admit_key("enter", get_time(), ANSWER_KEYS):
                return
            if isinstance(focused, Button) and not focused.disabled:
                focused.press()
            return
        if isinstance(focused, Button):
            focused.press()
            return
        if self._committing:
            # Enter was read and its submit is queued: this one was typed ahead of the
            # fingerprint, and so may the next one be (the guard drops it too).
            self.guard.dropped = True
            self._typed_ahead()
            return
        if focused is self.query_one("#server-url", Input):
            self.set_focus(self.query_one("#token", Input))
            return
        self._committing = True
        self.query_one("#server-url", FieldInput).post_message(FieldInput.Commit())

    def action_escape(self) -> None:
        """Esc: never leaves a half state (module docstring)."""
        if self.step is Step.ENTRY:
            self.say("")
        elif self.step is Step.CHECKING:
            self.attempt += 1  # the look's answer is dropped
            self._show(Step.ENTRY)
            self.say("")
        elif self.step is Step.CONFIRM:
            self._differs()
        elif self.step is Step.ENROLLING:
            self.say(self.t("provision.enrolling_wait"))

    def action_look_for_usb(self) -> None:
        """F5: look for a stick now (and read a file seen before again)."""
        if self.step is Step.ENTRY:
            self._seen_usb.clear()
            self.say(self.t("provision.usb_searching"))
            self.look_for_usb(quiet=False)

    # -- the steps ----------------------------------------------------------------------

    @on(Button.Pressed, "#connect")
    def submit(self) -> None:
        """Check the typed fields, then ask the server for its CA."""
        self._committing = False
        if self.step is not Step.ENTRY:
            return
        url = self.query_one("#server-url", Input).value
        token = self.query_one("#token", Input).value
        try:
            request = self.provisioner.typed(url, token)
        except MadoguchiError as exc:
            reason, _ = _reason(exc)
            self.say(self.t(f"provision.error.{reason}"), error=True)
            field = "#token" if reason.startswith("token") else "#server-url"
            self.query_one(field, Input).focus()
            return
        self._check(request)

    def _check(self, request: Request) -> None:
        self.request = request
        self.attempt += 1
        self.guard.busy()
        self._show(Step.CHECKING)
        self.say(self.t("provision.checking"))
        attempt = self.attempt
        self.run_worker(lambda: self._ca_worker(attempt, request), thread=True,
                        group="provision", exit_on_error=False)

    def _ca_worker(self, attempt: int, request: Request) -> None:
        try:
            ca_pem, trusted = self.provisioner.server_ca(request)
            fingerprint = self.provisioner.fingerprint(ca_pem)
        except Exception as exc:  # every failure is said on the screen
            log.warning("provisioning: the server's CA: %s", exc)
            self.post_message(Looked(attempt, "error", error=_reason(exc)[0]))
            return
        self.post_message(Looked(attempt, "ca", (ca_pem, trusted, fingerprint)))

    def _enrol(self) -> None:
        request = self.request
        if self.step is not Step.CONFIRM or request is None:
            return
        self.attempt += 1
        attempt = self.attempt
        self.guard.busy()
        self._show(Step.ENROLLING)
        self.say(self.t("provision.enrolling"))
        ca_pem = self.ca_pem
        self.run_worker(lambda: self._enrol_worker(attempt, request, ca_pem), thread=True,
                        group="provision", exit_on_error=False)

    def _enrol_worker(self, attempt: int, request: Request, ca_pem: bytes) -> None:
        try:
            result = self.provisioner.enrol_and_commit(request, ca_pem)
        except Exception as exc:  # every failure is said on the screen
            log.warning("provisioning: enrolment: %s", exc)
            self.post_message(Looked(attempt, "error", error=_reason(exc)[0]))
            return
        self.post_message(Looked(attempt, "enrolled", result))

    @on(Button.Pressed, "#matches")
    def _matches(self) -> None:
        self._enrol()

    @on(Button.Pressed, "#differs")
    def _differs(self) -> None:
        if self.step is not Step.CONFIRM:
            return
        self.attempt += 1
        self.ca_pem = b""
        log.info("provisioning: the CA was not confirmed; nothing sent")
        self._show(Step.ENTRY)
        self.say(self.t("provision.cancelled"), error=True)

    def look_for_usb(self, *, quiet: bool) -> None:
        """Look for an enrolment file (in a worker) while the fields wait for input."""
        if self.step is not Step.ENTRY:
            return
        attempt = self.attempt
        self.run_worker(lambda: self._usb_worker(attempt, quiet), thread=True,
                        group="usb", exclusive=True, exit_on_error=False)

    def _usb_worker(self, attempt: int, quiet: bool) -> None:
        try:
            files = [p for p in self.provisioner.find_usb() if p not in self._seen_usb]
            if not files:
                if not quiet:
                    self.post_message(Looked(attempt, "usb-none"))
                return
            self._seen_usb.add(files[0])
            request = self.provisioner.read_usb(files[0])
        except Exception as exc:  # every failure is said on the screen
            log.warning("provisioning: the USB stick: %s", exc)
            self.post_message(Looked(attempt, "error", error=_reason(exc)[0]))
            return
        self.post_message(Looked(attempt, "usb", request))

    def on_looked(self, message: Looked) -> None:
        """A worker's answer: moves the screen on, unless it moved on meanwhile."""
        if message.attempt != self.attempt:
            return
        {
            "error": self._looked_error,
            "usb-none": self._looked_usb_none,
            "usb": self._looked_usb,
            "ca": self._looked_ca,
            "enrolled": self._looked_enrolled,
        }[message.kind](message)

    def _looked_error(self, message: Looked) -> None:
        if self.step is Step.CONFIRM:
            return
        self._show(Step.ENTRY)
        self.guard.ready()
        self.guard.dropped = False
        self.say(self.t(f"provision.error.{message.error}"), error=True)
        if message.error in ("token_refused", "token_missing"):
            self.query_one("#token", Input).focus()

    def _looked_usb_none(self, message: Looked) -> None:
        if self.step is Step.ENTRY:
            self.say(self.t("provision.usb_none"), error=True)

    def _looked_usb(self, message: Looked) -> None:
        if self.step is not Step.ENTRY:
            return
        request = cast("Request", message.value)
        self.query_one("#server-url", Input).value = request.server_url
        self.query_one("#token", Input).value = request.token
        self.say(self.t("provision.usb_found", path=request.source))
        self._check(request)

    def _looked_ca(self, message: Looked) -> None:
        t = self.t
        ca_pem, trusted, fingerprint = message.value
        self.ca_pem = ca_pem
        asked = self.request
        if asked is None:
            return
        lead = (t("provision.confirm_usb", path=asked.source) if trusted
                else t("provision.confirm_typed"))
        width = max(20, self.app.size.width - 6)
        self.query_one("#confirm-lead", Static).update(ja_wrap(lead, width))
        self.query_one("#confirm-server", Static).update(
            t("provision.server", url=asked.server_url))
        half = len(fingerprint) // 2 + 1  # 16 pairs a line: fits 80 columns
        self.query_one("#fingerprint", Static).update(
            f"{fingerprint[:half - 1]}\n{fingerprint[half:]}")
        self.query_one("#matches", Button).label = (
            t("provision.enrol") if trusted else t("provision.matches"))
        self.query_one("#differs", Button).label = (
            t("provision.cancel") if trusted else t("provision.differs"))
        self._show(Step.CONFIRM)
        self.guard.ready()
        if self.guard.dropped:
            self._typed_ahead()
        else:
            self.say("")

    def _looked_enrolled(self, message: Looked) -> None:
        device_id, path = message.value
        self._show(Step.DONE)
        self.say(self.t("provision.done", device_id=device_id))
        log.info("provisioning: enrolled as %s; configuration %s", device_id, path)
        self.dismiss(path)
