"""The appliance process's lifecycle: it starts only on a terminal, and it always ends.

The counter's screen (``madoguchi demo``, ``madoguchi counter``) is one process that
owns the card reader, the PIN pad, the store and, in the demo, a local central server
child. When it is asked to stop (``SIGTERM`` from systemd or ``kill``, ``SIGHUP`` or a
hung-up terminal when the kiosk's foot or a tmux server goes away, ``SIGINT``) it must
go, and quickly: a kiosk whose UI hangs holds the reader and the store and stays dark
until systemd's stop timeout.

Why a Python signal handler that calls ``app.exit()`` was not enough (issue 19; seen
here with ``gdb``'s ``py-bt`` on a demo left behind by ``tests/tui/test_tmux_e2e.py``):

- **The exit itself deadlocks on a dead terminal.** When the tmux server goes, the pty
  hangs up: Textual's writer thread dies on the first ``EIO`` and its bounded queue (30
  writes) fills with the frames still drawn. SIGHUP does start the exit, but Textual's
  ``_shutdown`` → ``LinuxDriver.close`` → ``WriterThread.stop`` puts one more item in
  that full queue and waits for ever (the main thread "parked on a futex"). From then on
  ``app.exit()`` from any handler changes nothing (the app is closing, the loop blocked):
  SIGTERM does not end it, only SIGKILL, and its ``server run`` child stays too.
- **A blocked signal never arrives.** The signal mask is inherited through ``fork`` and
  ``exec``, and a tmux server gives every pane the mask of the process that started
  it: a demo started from a harness that blocks SIGHUP/SIGTERM keeps them pending for
  ever, and so does its child. :func:`unblock_stop_signals`, called first by every
  ``madoguchi`` command, unblocks them.
- **Nothing notices a dead terminal without SIGHUP** (a pty with no session, as under a
  harness): Textual's input thread treats end of input as "no data" and reads again.
  :class:`StopGuard` watches the terminal for the hang-up; :func:`require_terminal`
  refuses to start without one at all.
- **A stuck worker holds the exit**: thread workers run in asyncio's default executor,
  which ``asyncio.run`` joins (the loop "in epoll") and the interpreter joins again.

So the app hears the signals on its event loop (scheduled there by :class:`StopGuard`,
see :class:`tui.service_app.ExitControl`), and the guard gives the whole process a hard
deadline: :data:`STOP_DEADLINE_S` after the first stop request it kills the registered
children, restores the terminal and ``os._exit``\\ s, whatever the main thread is stuck
on.

Children started with :func:`child_environment` end when their parent does, even one
killed with ``SIGKILL`` (:func:`watch_parent`, run by ``madoguchi.cli.main``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import sys
import termios
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn

from madoguchi.errors import ConfigError

log = logging.getLogger(__name__)

#: What asks the appliance to stop: systemd and ``kill`` (TERM), a closed terminal
#: (HUP), Ctrl+C outside the TUI's raw mode and ``kill -INT`` (INT).
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
#: After the first stop request the process is gone within this many seconds, clean
#: or not (the issue's bound is 3 s; a clean stop takes well under one).
STOP_DEADLINE_S = 1.5
#: How long the last-resort closers get, together, before ``os._exit``.
LAST_RESORT_BUDGET_S = 0.3
#: How often the guard looks at the terminal for a hang-up.
HANGUP_POLL_S = 0.2
#: Set in a child's environment by :func:`child_environment`: the PID it must outlive
#: by no more than :data:`PARENT_WATCH_S` (read and removed by :func:`watch_parent`).
PARENT_PID_ENV = "MADOGUCHI_PARENT_PID"
#: How often an orphan-proof child looks at its parent.
PARENT_WATCH_S = 0.25
#: A child whose parent is gone gets this long to stop cleanly after its own SIGTERM.
ORPHAN_GRACE_S = 3.0


class NoTerminalError(ConfigError):
    """The counter's screen was started without a terminal to draw on."""


def require_terminal(command: str) -> None:
    """Refuse to draw the counter's screen into a pipe or a file.

    Without a terminal Textual writes escape codes into the pipe and never notices
    the end of its input (issue 18); the kiosk always has one (foot's).

    Raises:
        NoTerminalError: standard input or output is not a terminal.
    """
    for name, stream in (("input", sys.stdin), ("output", sys.stdout)):
        try:
            is_tty = stream is not None and stream.isatty()
        except ValueError:  # a closed stream
            is_tty = False
        if not is_tty:
            raise NoTerminalError(
                f"{command} draws the counter's screen and needs a terminal, but its standard"
                f" {name} is not one: run it in a terminal, tmux or the kiosk (foot)"
            )


def unblock_stop_signals() -> frozenset[int]:
    """Unblock :data:`STOP_SIGNALS` in the calling thread; the ones that were blocked.

    Call it from the main thread before any thread or child starts: both inherit the
    mask. A mask is never a deliberate part of how madoguchi is started (a
    deliberately ignored signal, as ``nohup`` sets, is left alone).
    """
    before = signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return frozenset(int(s) for s in before) & frozenset(int(s) for s in STOP_SIGNALS)


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) for a child that must not outlive us."""
    env = dict(os.environ if environ is None else environ)
    env[PARENT_PID_ENV] = str(os.getpid())
    return env


def watch_parent() -> threading.Thread | None:
    """In a child started with :func:`child_environment`: end when the parent is gone.

    A daemon thread compares ``getppid()`` with the recorded parent; once the parent
    has died (even by ``SIGKILL``, which no handler of the parent sees) it sends
    itself ``SIGTERM`` (a clean stop) and exits hard :data:`ORPHAN_GRACE_S` later.
    The variable is removed so that the child's own children do not inherit it.
    """
    value = os.environ.pop(PARENT_PID_ENV, "")
    if not value.isdigit():
        return None
    parent = int(value)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_WATCH_S)
        log.warning("parent %d is gone: stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_S)
        os._exit(1)

    if os.getppid() != parent:  # it died before we got here
        os._exit(1)
    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def leave(code: int) -> NoReturn:
    """End the counter's screen process with ``code`` once its clean-up is done.

    Everything that matters was closed explicitly (the app, the local server, the
    reader, the pad, the databases); only the interpreter's own teardown is left,
    which here took a second more in C code (after every thread but the guard had
    ended), a second a kiosk restart and the stop bound cannot spare.
    """
    with contextlib.suppress(Exception):
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class StopGuard:
    """Makes sure the process ends once it has been asked to: signals, hang-up, deadline.

    :meth:`install` (first thing in the main thread) unblocks the stop signals,
    installs Python-level handlers and starts the guard thread. A handler never calls
    into the app: it records the request (a byte into a pipe, which is safe in a
    signal handler) and schedules the app's ``on_stop`` on the app's event loop with
    ``call_soon_threadsafe`` (:meth:`attach`; the :class:`tui.service_app.ExitControl`
    protocol), where the app exits like a quit key. A request that came before the
    loop ran is handed over when the app attaches.

    Not ``loop.add_signal_handler``: asyncio's handler only records the signal for the
    loop to read, so a loop that is blocked (on a dead terminal's full output queue,
    say) would never learn of it and nothing would start the deadline. Here the guard
    thread learns of every request at once and, independently of the loop,

    - turns a hang-up of the terminal (which Textual alone never notices) into a
      ``SIGHUP`` request, and
    - :attr:`deadline_s` after the first request, if the process still runs (a
      worker stuck on the card, the pad or the network; a blocked loop), runs the
      last-resort closers (kill the children), restores the terminal and
      ``os._exit``\\ s with ``128 + signal``.

    Args:
        deadline_s: how long a requested stop may take.
        terminal_fd: the terminal watched for a hang-up and restored at a hard exit
            (``None``: no terminal).
        notify: the service manager's ``notify`` (``STOPPING=1`` when a stop begins).
    """

    signals: Sequence[int] = tuple(int(s) for s in STOP_SIGNALS)

    def __init__(
        self,
        *,
        deadline_s: float = STOP_DEADLINE_S,
        terminal_fd: int | None = None,
        notify: Callable[[str], object] | None = None,
    ) -> None:
        self.deadline_s = deadline_s
        self._terminal_fd = terminal_fd
        self._notify = notify
        self._requested: int | None = None
        self._closers: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_stop: Callable[[int], object] | None = None
        self._terminal_attrs: list[Any] | None = None
        if terminal_fd is not None:
            with contextlib.suppress(termios.error, OSError):
                self._terminal_attrs = termios.tcgetattr(terminal_fd)
        # Requests reach the guard thread through a pipe: os.write is safe in a signal
        # handler, where taking a lock (an Event, a Queue) is not.
        self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._guard, name="stop-guard", daemon=True)

    # -- set-up -------------------------------------------------------------------------

    def install(self) -> StopGuard:
        """Unblock the stop signals, handle them from now on, start the guard thread."""
        blocked = unblock_stop_signals()
        if blocked:
            names = ", ".join(sorted(signal.Signals(s).name for s in blocked))
            log.warning("%s arrived blocked from the parent process; unblocked", names)
        for signum in self.signals:
            signal.signal(signum, self._on_signal)
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def attach(self, on_stop: Callable[[int], object]) -> None:
        """Call ``on_stop(signum)`` on the running event loop (call this from it) for
        every stop request from now on, and at once for one that came before."""
        self._on_stop = on_stop
        self._loop = asyncio.get_running_loop()
        early = self._requested
        if early is not None:
            self._loop.call_soon(on_stop, early)

    def detach(self) -> None:
        """The loop is ending: later requests only start (or keep) the deadline."""
        self._loop = None
        self._on_stop = None

    def on_last_resort(self, closer: Callable[[], object]) -> None:
        """Run ``closer`` (quick, non-blocking: kill a child) before a hard exit.
        Closers run in order, in another thread, within :data:`LAST_RESORT_BUDGET_S`
        together."""
        with self._lock:
            self._closers.append(closer)

    # -- requests -----------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._deliver(signum)

    def _deliver(self, signum: int) -> None:
        self.request(signum)
        loop, on_stop = self._loop, self._on_stop
        if loop is not None and on_stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(on_stop, signum)

    def requested(self) -> int | None:
        """The signal that first asked the process to stop (0: a plain exit), or None."""
        return self._requested

    def request(self, signum: int = 0) -> None:
        """Ask the process to stop (``signum`` 0: it is exiting by itself); starts the
        deadline. Safe in a signal handler and from any thread."""
        if self._requested is None:
            self._requested = signum
        with contextlib.suppress(BlockingIOError):  # the pipe is full: already woken
            os.write(self._wake_write, bytes([signum & 0xFF]))

    # -- the guard thread ---------------------------------------------------------------

    def _guard(self) -> None:
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        terminal = self._terminal_fd
        if terminal is not None:
            # Events 0: poll still reports POLLHUP/POLLERR, never the clerk's keys.
            poller.register(terminal, 0)
        deadline: float | None = None
        while deadline is None or time.monotonic() < deadline:
            wait = HANGUP_POLL_S if deadline is None else max(0.0, deadline - time.monotonic())
            for fd, events in poller.poll(wait * 1000.0):
                if fd == self._wake_read:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_read, 256)
                elif events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    poller.unregister(fd)
                    self._terminal_fd = terminal = None
                    log.warning("the terminal hung up: stopping")
                    self._deliver(signal.SIGHUP)  # as the kernel would, had it a session
            if deadline is None and self._requested is not None:
                deadline = time.monotonic() + self.deadline_s
                if self._notify is not None:
                    with contextlib.suppress(Exception):
                        self._notify("STOPPING=1")
        self._exit_hard()

    def _exit_hard(self) -> None:
        signum = self._requested or 0
        name = signal.Signals(signum).name if signum else "the exit"
        log.error(
            "still running %.1f s after %s (a worker is stuck): closing what can be closed"
            " and exiting", self.deadline_s, name,
        )
        with self._lock:
            closers = list(self._closers)

        def close_all() -> None:
            for closer in closers:
                try:
                    closer()
                except Exception:  # the next closer and the exit matter more
                    log.exception("last-resort closer failed")

        closing = threading.Thread(target=close_all, name="last-resort", daemon=True)
        closing.start()
        closing.join(LAST_RESORT_BUDGET_S)
        self._restore_terminal()
        with contextlib.suppress(Exception):
            logging.shutdown()
        os._exit(128 + signum if signum else 1)

    def _restore_terminal(self) -> None:
        """Leave the alternate screen and raw mode, as Textual would have on a clean exit."""
        fd = self._terminal_fd
        if fd is None:
            return
        with contextlib.suppress(termios.error, OSError):
            if self._terminal_attrs is not None:
                termios.tcsetattr(fd, termios.TCSANOW, self._terminal_attrs)
        with contextlib.suppress(OSError):
            os.write(fd, b"\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1003l\x1b[?1006l")
