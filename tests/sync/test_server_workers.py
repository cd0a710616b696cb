"""``madoguchi server run --workers 2`` under a real notify socket (issue 15): the supervisor
(the unit's main process) pings ``WATCHDOG=1`` while every worker's event loop turns; a
worker that hangs (SIGSTOP: alive, silent) is killed and replaced within the hang limit
(half ``WatchdogSec=``) while the pings go on and the other worker serves; a supervisor
that hangs stops the pings, so systemd's watchdog would restart the service.

The server is the real CLI in a child process; the notify socket is a real AF_UNIX
datagram socket, read as systemd reads it.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sync import pki
from sync.client import tls_context
from sync.pgcluster import free_port
from sync.server.repository import open_repository
from tests.sync.conftest import PYTHONPATH, ROOT

WATCHDOG_S = 2.0  # WatchdogSec=2s: the hang limit is 1 s


class Notifications:
    """Everything sent to the notify socket, with the time it arrived."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.got: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.got.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def pings(self, since: float) -> list[float]:
        return [t for t, m in self.got if t >= since and "WATCHDOG=1" in m]

    def worker_pids(self) -> list[int] | None:
        """The worker pids of the last ``STATUS=`` saying how many serve."""
        for _, message in reversed(self.got):
            found = re.search(r"STATUS=\d+ workers serving \(pids ([\d, ]+)\)", message)
            if found:
                return [int(p) for p in found.group(1).split(", ")]
        return None


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out: {what}")


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Notifications, str]]:
    db = str(tmp_path / "server.sqlite3")
    repo = open_repository(db, pool_size=1)
    repo.migrate()
    repo.close()
    pki.init_server_pki(tmp_path / "pki")
    notes = Notifications(tmp_path / "notify")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": PYTHONPATH,
        "NOTIFY_SOCKET": str(tmp_path / "notify"),
        "WATCHDOG_USEC": str(int(WATCHDOG_S * 1_000_000)),
    }
    env.pop("WATCHDOG_PID", None)
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "madoguchi.cli", "server", "run", "--db", db, "--pki-dir",
         str(tmp_path / "pki"), "--listen", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    try:
        yield proc, notes, f"https://127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        notes.close()


def _answers(url: str, ca: Path, connections: int) -> int:
    ok = 0
    for _ in range(connections):  # one connection each: the kernel spreads them
        with httpx.Client(verify=tls_context(ca), timeout=5.0) as http:
            ok += http.get(url + "/healthz").status_code == 200
    return ok


def test_a_hung_worker_is_replaced_and_the_watchdog_keeps_its_meaning(
    supervised: tuple[subprocess.Popen[bytes], Notifications, str], tmp_path: Path
) -> None:
    proc, notes, url = supervised
    ca = tmp_path / "pki" / pki.CA_CERT
    _wait(lambda: any("READY=1" in m for _, m in notes.got), 30, "READY=1")
    _wait(lambda: notes.worker_pids() is not None, 30, "the workers' STATUS=")
    pids = notes.worker_pids()
    assert pids is not None
    assert len(pids) == 2
    _wait(lambda: _answers(url, ca, 1) == 1, 30, "an answer")
    started = time.monotonic()
    time.sleep(1.5)
    assert len(notes.pings(started)) >= 3  # every 0.25 s while both loops turn
    # one worker hangs: alive, its loop silent
    hung, other = pids
    os.kill(hung, signal.SIGSTOP)
    stopped_at = time.monotonic()
    _wait(
        lambda: (p := notes.worker_pids()) is not None and hung not in p, 15,
        "the hung worker replaced",
    )
    replaced_after = time.monotonic() - stopped_at
    new_pids = notes.worker_pids()
    assert new_pids is not None
    assert other in new_pids  # the other worker was left alone
    assert not Path(f"/proc/{hung}").exists()  # killed and reaped
    assert replaced_after < WATCHDOG_S + 2.0
    _wait(lambda: _answers(url, ca, 6) == 6, 20, "every connection answered")
    # the watchdog never went without a ping for its interval meanwhile
    pings = [started, *notes.pings(started), time.monotonic()]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) < WATCHDOG_S, gaps
    log = (tmp_path / "server.log").read_text()
    assert f"server worker {hung}: its event loop has not turned" in log
    # the supervisor itself hangs: no more pings (systemd would restart the service)
    os.kill(proc.pid, signal.SIGSTOP)
    frozen = time.monotonic()
    time.sleep(WATCHDOG_S + 0.5)
    assert notes.pings(frozen + 0.3) == []
    os.kill(proc.pid, signal.SIGCONT)
    resumed = time.monotonic()
    _wait(lambda: len(notes.pings(resumed)) >= 2, 5, "pings again")
