"""The first-boot app: the provisioning screen alone, before the counter has a configuration.

``madoguchi counter`` runs it when no configuration exists
(``madoguchi/commands/counter.py``); it exits with the written configuration's path,
and the same process then opens the counter's own app on it (the sign-in screen), so no
one restarts anything by hand. Like :class:`tui.app.CounterApp` it tells the service
manager ``READY=1`` once drawn, pings the watchdog from its loop and hears stop requests
through the process's :class:`~tui.app.ExitControl`.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from tui.app import ExitControl
from tui.i18n import DEFAULT_LANGUAGE, Strings
from tui.screens.provision import Provisioner, ProvisionScreen, Step

log = logging.getLogger(__name__)


class ProvisionApp(App[Path]):
    """Shows :class:`~tui.screens.provision.ProvisionScreen`; returns the configuration's
    path once the counter is provisioned (``None``: quit or stopped before that).

    Args:
        provisioner: the steps (``madoguchi.provisioning.Provisioner``).
        language: ``"ja"`` (default) or ``"en"``.
        notify: the service manager's notify (``READY=1``, ``WATCHDOG=1``).
        watchdog_interval: the watchdog period in seconds (pings at half of it).
        exit_control: the process's stop requests (``StopGuard``).
    """

    CSS_PATH = "app.tcss"
    TITLE = "madoguchi"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [  # noqa: RUF012 - Textual's own convention
        Binding("ctrl+q", "request_quit", show=False, priority=True),
        Binding("ctrl+c", "request_quit", show=False, priority=True),
    ]

    def __init__(
        self,
        *,
        provisioner: Provisioner,
        language: str = DEFAULT_LANGUAGE,
        notify: Callable[[str], bool] | None = None,
        watchdog_interval: float | None = None,
        exit_control: ExitControl | None = None,
    ) -> None:
        super().__init__()
        self.provisioner = provisioner
        self.strings = Strings(language)
        """The UI's strings."""
        self._notify = notify
        self._watchdog_interval = watchdog_interval
        self._exit_control = exit_control

    def on_load(self) -> None:
        if self._exit_control is not None:
            self._exit_control.attach(self._exit_on_signal)

    def on_unmount(self) -> None:
        if self._exit_control is not None:
            self._exit_control.detach()

    def _exit_on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name if signum else "a stop request"
        log.info("%s: the provisioning screen exits", name)
        self.exit()

    def on_mount(self) -> None:
        self.push_screen(ProvisionScreen(self.provisioner), callback=self._provisioned)
        if self._notify is not None:
            self.call_after_refresh(self._tell_ready)

    def _provisioned(self, path: Path | None) -> None:
        self.exit(path)

    def _tell_ready(self) -> None:
        if self._notify is None:
            return
        self._notify("READY=1\nSTATUS=provisioning screen shown")
        if self._watchdog_interval:
            self.set_interval(self._watchdog_interval / 2, self._ping_watchdog)

    def _ping_watchdog(self) -> None:
        if self._notify is not None:
            self._notify("WATCHDOG=1")

    def action_request_quit(self) -> None:
        """Ctrl+Q: quit, except during the enrolment (its commit is atomic, but the
        person should see how it ended). The kiosk's unit brings the screen back."""
        screen = self.screen
        if isinstance(screen, ProvisionScreen) and screen.step in (Step.ENROLLING, Step.DONE):
            screen.say(self.strings("provision.enrolling_wait"))
            return
        self.exit()
