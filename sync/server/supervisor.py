"""Several server processes on one socket, with the systemd watchdog still meaning something.

``madoguchi server run --workers N`` runs a supervisor (the unit's main process, the only
one systemd hears with ``NotifyAccess=main``) and N worker processes (uvicorn's, spawned,
sharing the listening socket). One worker whose event loop hangs must not go unnoticed
while the supervisor keeps pinging, nor take the other workers down with it:

- Each worker stamps a heartbeat in memory shared with the supervisor on every turn of
  its event loop (uvicorn's main loop ticks every 0.1 s on the loop that serves
  requests), so a heartbeat is a loop that still serves, not a thread that still runs.
- The supervisor looks every :data:`LOOK_S`. A worker whose heartbeat is older than the
  hang limit (half the unit's ``WatchdogSec=``, or :data:`DEFAULT_HANG_S` without one) is
  killed (``SIGKILL``) and replaced at once, with an error in the journal; a worker that
  died is replaced too. The other workers serve on meanwhile.
- The supervisor sends ``WATCHDOG=1`` only while every worker slot has had a live event
  loop within :data:`START_GRACE_S` (time for a replacement to start). So a supervisor
  that hangs, or workers that hang again as soon as they are replaced, stop the pings,
  and systemd's watchdog restarts the whole service.

uvicorn's own supervision asks each worker over a pipe that a separate thread answers,
and blocks up to 5 s per worker doing so; this one reads the heartbeats without waiting.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from madoguchi import sdnotify

log = logging.getLogger(__name__)

#: How often the supervisor looks at its workers (and pings the watchdog).
LOOK_S = 0.25
#: A worker's event loop silent this long is hung, when the unit has no watchdog.
DEFAULT_HANG_S = 30.0
#: How long a worker slot may be without a live event loop (a replacement starting)
#: before the supervisor stops pinging the watchdog.
START_GRACE_S = 20.0
#: What systemd hands the main process only; a worker must not notify on its own.
SERVICE_MANAGER_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")

_spawn = multiprocessing.get_context("spawn")


def hang_limit() -> float:
    """After how long a silent event loop counts as hung: half the watchdog interval
    (so a hung worker is replaced before systemd would act), at least 1 s."""
    interval = sdnotify.watchdog_interval()
    return DEFAULT_HANG_S if interval is None else max(1.0, interval / 2)


class _BeatingServer(uvicorn.Server):
    """A worker's uvicorn server that stamps ``beat`` on every turn of its loop."""

    def __init__(self, config: uvicorn.Config, beat: Any) -> None:
        super().__init__(config)
        self._beat = beat

    async def on_tick(self, counter: int) -> bool:
        self._beat.value = time.monotonic()  # CLOCK_MONOTONIC: one clock for all processes
        return await super().on_tick(counter)


class _Worker(Process):
    """uvicorn's worker process, with a heartbeat in shared memory."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        # 0.0: no turn of the loop yet. Set before the process object is pickled.
        self.beat: Any = _spawn.RawValue("d", 0.0)
        super().__init__(config, sockets)

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = _BeatingServer(self.config, self.beat)
        return self._server


@dataclass
class _Slot:
    worker: _Worker
    #: When this worker was started (its start-up may take :data:`START_GRACE_S`).
    started: float
    #: When the slot last had a live event loop (or its first worker was started).
    last_good: float


class Supervisor(Multiprocess):
    """uvicorn's ``Multiprocess`` with heartbeats, hang replacement and the watchdog."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.hang_s = hang_limit()
        self.slots: list[_Slot] = []
        self._shown = ""

    def _start_worker(self) -> _Slot:
        worker = _Worker(self.config, self.sockets)
        worker.start()
        now = time.monotonic()
        return _Slot(worker, started=now, last_good=now)

    def init_processes(self) -> None:
        self.slots = [self._start_worker() for _ in range(self.processes_num)]
        self.processes = [slot.worker for slot in self.slots]

    def run(self) -> None:
        self.init_processes()
        log.info("%d server workers started (hang limit %.1f s)", len(self.slots), self.hang_s)
        self._status()
        while not self.should_exit.wait(LOOK_S):
            self.handle_signals()
            self.keep_subprocess_alive()
            if self.watchdog_ok():
                sdnotify.notify("WATCHDOG=1")
        self.terminate_all()
        self.join_all()

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        now = time.monotonic()
        for index, slot in enumerate(self.slots):
            worker = slot.worker
            beat = float(worker.beat.value)
            if worker.process.is_alive():
                if beat and now - beat <= self.hang_s:
                    slot.last_good = now
                    continue
                if not beat and now - slot.started <= START_GRACE_S:
                    continue  # still starting
                silent = now - (beat or slot.started)
                log.error(
                    "server worker %s: its event loop has not turned for %.1f s: killed,"
                    " starting another",
                    worker.pid, silent,
                )
                worker.kill()
                worker.join()
            else:
                worker.join()
                if worker.exitcode == STARTUP_FAILURE:
                    # the app, TLS or the socket is broken: every restart would fail alike
                    log.error("server worker %s failed to start: stopping", worker.pid)
                    self.should_exit.set()
                    return
                log.error(
                    "server worker %s ended (status %s): starting another",
                    worker.pid, worker.exitcode,
                )
            replacement = self._start_worker()
            replacement.last_good = slot.last_good  # the slot's grace runs on
            self.slots[index] = replacement
            self.processes[index] = replacement.worker
        self._status()

    def watchdog_ok(self) -> bool:
        """Whether every slot had a live event loop within :data:`START_GRACE_S`."""
        now = time.monotonic()
        return all(now - slot.last_good <= START_GRACE_S for slot in self.slots)

    def _status(self) -> None:
        """``STATUS=``: "N workers serving (pids …)" once every worker's loop has turned,
        "starting workers (pids …)" before; sent when it changes."""
        pids = ", ".join(str(slot.worker.pid) for slot in self.slots)
        serving = all(float(slot.worker.beat.value) > 0 for slot in self.slots)
        text = f"{len(self.slots)} workers serving" if serving else "starting workers"
        text = f"{text} (pids {pids})"
        if text != self._shown:
            self._shown = text
            sdnotify.notify(f"STATUS={text}")

    # Resizing and rolling restarts by signal would bypass the slots: refused.
    def handle_hup(self) -> None:
        log.warning("SIGHUP ignored: restart the unit to restart the workers")

    def handle_ttin(self) -> None:
        log.warning("SIGTTIN ignored: the number of workers is --workers")

    def handle_ttou(self) -> None:
        log.warning("SIGTTOU ignored: the number of workers is --workers")


def forget_service_manager() -> None:
    """In a worker: drop what systemd gave the supervisor, so that only the supervisor
    notifies (``NotifyAccess=main`` would refuse a worker, with a journal warning)."""
    for name in SERVICE_MANAGER_VARS:
        os.environ.pop(name, None)
