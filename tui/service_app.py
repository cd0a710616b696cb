"""What every full-screen app of the appliance owes systemd: ready, alive, and gone on request.

The counter's screen (:class:`tui.app.CounterApp`) and the first-boot provisioning
screen (:class:`tui.provision_app.ProvisionApp`) run as the kiosk's service. Both:

- say ``READY=1`` once their first screen is drawn, then ping ``WATCHDOG=1`` from the
  UI's event loop at half the watchdog period, so a stuck loop is what systemd notices;
- take the process's stop requests (SIGTERM, SIGHUP, a hung-up terminal) through an
  :class:`ExitControl` on the event loop, and exit as a quit key would.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import ClassVar, Protocol, TypeVar

from textual.app import App

log = logging.getLogger(__name__)

ReturnType = TypeVar("ReturnType")


class ExitControl(Protocol):
    """How the process asks the app to end (``madoguchi.lifecycle.StopGuard``).

    The app attaches on its event loop's first turn; from then on every stop request
    (SIGTERM, SIGHUP, the terminal hanging up) arrives as a call of ``on_stop(signum)``
    *on the event loop* (nothing runs inside a Python signal handler), and one that
    came while the process was still starting arrives at once.
    """

    def attach(self, on_stop: Callable[[int], object]) -> None:
        """Deliver stop requests to ``on_stop`` on the running loop."""
        ...

    def detach(self) -> None:
        """The app's loop is ending."""
        ...


class ServiceApp(App[ReturnType]):
    """A Textual app run by the kiosk's service (see the module's docstring).

    Args:
        notify: sends a service-manager notification (``madoguchi.sdnotify.notify``).
        watchdog_interval: the watchdog period in seconds (pings at half of it).
        exit_control: the process's stop requests (tests of the UI leave it out).
    """

    #: What the journal calls this screen when a stop request ends it.
    SERVICE_NAME: ClassVar[str] = "the screen"
    #: The service's ``STATUS=`` once the first screen is drawn.
    READY_STATUS: ClassVar[str] = "screen shown"

    def __init__(
        self,
        *,
        notify: Callable[[str], bool] | None = None,
        watchdog_interval: float | None = None,
        exit_control: ExitControl | None = None,
    ) -> None:
        super().__init__()
        self._notify = notify
        self._watchdog_interval = watchdog_interval
        self._exit_control = exit_control

    def on_load(self) -> None:
        # From the loop's first turn on, stop requests arrive here, on the loop.
        if self._exit_control is not None:
            self._exit_control.attach(self._exit_on_signal)

    def on_unmount(self) -> None:
        if self._exit_control is not None:
            self._exit_control.detach()

    def _exit_on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name if signum else "a stop request"
        log.info("%s: %s exits", name, self.SERVICE_NAME)
        self.exit()

    def tell_ready_when_drawn(self) -> None:
        """Call from ``on_mount``: ``READY=1`` after the first refresh, then the pings."""
        if self._notify is not None:
            self.call_after_refresh(self._tell_ready)

    def _tell_ready(self) -> None:
        if self._notify is None:
            return
        self._notify(f"READY=1\nSTATUS={self.READY_STATUS}")
        # Pings start after READY, from the UI loop: a stuck loop stops them.
        if self._watchdog_interval:
            self.set_interval(self._watchdog_interval / 2, self._ping_watchdog)

    def _ping_watchdog(self) -> None:
        if self._notify is not None:
            self._notify("WATCHDOG=1")
