"""The first-boot app: the provisioning screen alone, before the counter has a configuration.

``madoguchi counter`` runs it when no configuration exists
(``madoguchi/commands/counter.py``); it exits with the written configuration's path,
and the same process then opens the counter's own app on it (the sign-in screen), so no
one restarts anything by hand. Like :class:`tui.app.CounterApp` it tells the service
manager ``READY=1`` once drawn, pings the watchdog from its loop and hears stop requests
through the process's :class:`~tui.service_app.ExitControl`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.binding import Binding

from tui.i18n import DEFAULT_LANGUAGE, Strings
from tui.screens.provision import Provisioner, ProvisionScreen, Step
from tui.service_app import ExitControl, ServiceApp


class ProvisionApp(ServiceApp[Path]):
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
    SERVICE_NAME = "the provisioning screen"
    READY_STATUS = "provisioning screen shown"
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
        super().__init__(
            notify=notify, watchdog_interval=watchdog_interval, exit_control=exit_control
        )
        self.provisioner = provisioner
        self.strings = Strings(language)
        """The UI's strings."""

    def on_mount(self) -> None:
        self.push_screen(ProvisionScreen(self.provisioner), callback=self._provisioned)
        self.tell_ready_when_drawn()

    def _provisioned(self, path: Path | None) -> None:
        self.exit(path)

    def action_request_quit(self) -> None:
        """Ctrl+Q: quit, except during the enrolment (its commit is atomic, but the
        person should see how it ended). The kiosk's unit brings the screen back."""
        screen = self.screen
        if isinstance(screen, ProvisionScreen) and screen.step in (Step.ENROLLING, Step.DONE):
            screen.say(self.strings("provision.enrolling_wait"))
            return
        self.exit()
