"""Run ``madoguchi server run`` as a child process on loopback (tests, benchmarks, demo).

One implementation shared by the test fixtures and ``madoguchi bench sync``: it
starts the real CLI in a subprocess, waits for its "listening" line, and enrols
devices through the real enrolment endpoint.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from madoguchi.errors import SyncError
from madoguchi.lifecycle import child_environment
from sync import pki
from sync.enrol import enrol_device
from sync.pgcluster import free_port
from sync.server.app import enrolment_expiry, token_hash
from sync.server.repository import open_repository

_ROOT = Path(__file__).resolve().parents[1]

#: What systemd hands the service's own process; never passed on to a child.
_SERVICE_MANAGER_VARS = frozenset({"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"})

log = logging.getLogger(__name__)


def _drain(stream: IO[bytes]) -> None:
    """Copy the server's later stderr to the log, so a long-lived server (the demo's)
    never blocks on a full pipe."""
    for line in stream:
        log.warning("server: %s", line.decode("utf-8", "replace").rstrip())


@dataclass
class LocalServer:
    """The central server in a child process, restartable on the same port."""

    db_url: str
    pki_dir: Path
    port: int = field(default_factory=free_port)
    simulate: bool = True
    workers: int = 1
    extra_pythonpath: str = ""
    #: More ``madoguchi server run`` options (e.g. IT's update delivery and token).
    extra_args: tuple[str, ...] = ()
    #: Bring the schema up to date before each start, as ``madoguchi server migrate``
    #: does: this server's owner (the demo, a test) owns its database too.
    migrate: bool = True
    #: Make the CA in ``pki_dir`` when it has none (``madoguchi server pki init``): this
    #: server's owner is its IT. False for a second host, given its certificate by the signer.
    init_pki: bool = True
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait until it listens."""
        if self.init_pki:
            pki.init_server_pki(self.pki_dir)
        if self.migrate:
            repo = open_repository(self.db_url, pool_size=1)
            try:
                repo.migrate()
            finally:
                repo.close()
        cmd = [
            sys.executable,
            "-m",
            "madoguchi.cli",
            "server",
            "run",
            "--db",
            self.db_url,
            "--listen",
            f"127.0.0.1:{self.port}",
            "--pki-dir",
            str(self.pki_dir),
        ]
        if self.simulate:
            cmd.append("--simulate")
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        cmd += self.extra_args
        path = os.pathsep.join(p for p in (str(_ROOT), self.extra_pythonpath) if p)
        # The child is not the service: under NotifyAccess=all its own READY=1 and
        # watchdog pings would be taken for the kiosk's and keep a hung UI alive.
        env = {k: v for k, v in os.environ.items() if k not in _SERVICE_MANAGER_VARS}
        env["PYTHONPATH"] = path
        # It ends with its parent (the demo, a test, a bench), even one killed by SIGKILL.
        env = child_environment(env)
        self.proc = subprocess.Popen(cmd, cwd=_ROOT, env=env, stderr=subprocess.PIPE)  # noqa: S603
        stderr = self.proc.stderr
        if stderr is None:  # stderr=PIPE always gives one; checked so -O cannot hide it
            raise SyncError("the server was started without a stderr pipe")
        while True:
            line = stderr.readline()
            if not line:
                raise SyncError(f"the server exited with status {self.proc.wait()}")
            if b"listening on" in line:
                threading.Thread(
                    target=_drain, args=(stderr,), name="localserver-stderr", daemon=True
                ).start()
                return

    def freeze(self) -> None:
        """SIGSTOP: the host stays in the middle of whatever it was doing, its sockets
        open, until :meth:`kill` (a test's way to be sure a request is in flight)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 3 s."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def enrol(self, tls_dir: Path, device_id: str | None = None, office: str = "131016") -> str:
        """Enrol a device through the real enrolment endpoint; returns its id."""
        device_id = device_id or f"dev-{uuid.uuid4().hex[:8]}"
        token = uuid.uuid4().hex
        repo = open_repository(self.db_url)
        try:
            repo.add_enrolment_token(
                token_hash(token), device_id, office, enrolment_expiry(datetime.now(UTC))
            )
        finally:
            repo.close()
        return enrol_device(self.url, token, self.pki_dir / pki.CA_CERT, tls_dir)
