"""Fixtures for the sync area: a real server process (SQLite or PostgreSQL) on
loopback with mutual TLS, a throwaway PostgreSQL cluster, and enrolled devices."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from sync import pki
from sync.client import SERVER_CA, tls_context
from sync.enrol import enrol_device
from sync.pgcluster import PgCluster, free_port
from sync.server.app import enrolment_expiry, token_hash
from sync.server.repository import open_repository

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = f"{ROOT}:{ROOT / 'tests' / 'sync'}"


@dataclass
class ServerProcess:
    """``madoguchi server run`` in a subprocess, restartable on the same port."""

    db_url: str
    pki_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
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
            "--simulate",
        ]
        env = {**os.environ, "PYTHONPATH": PYTHONPATH, **self.extra_env}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError(f"server exited with {self.proc.wait()}")
            if b"listening on" in line:
                return
        raise RuntimeError("server did not start in time")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
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

    def client(self, tls_dir: Path) -> httpx.Client:
        """A raw httpx client with the device's certificate (for protocol-level tests)."""
        context = tls_context(tls_dir / SERVER_CA, tls_dir / "device.crt", tls_dir / "device.key")
        return httpx.Client(base_url=self.url, verify=context, timeout=10.0)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One real PostgreSQL cluster for the session (a fresh database per test)."""
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def server_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server CA and TLS certificate, made now with ``cryptography``."""
    directory = tmp_path_factory.mktemp("server-pki")
    pki.init_server_pki(directory)
    return directory


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh server database on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "server.sqlite3")
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def server(db_url: str, server_pki: Path) -> Iterator[ServerProcess]:
    """A running server on the parametrised database."""
    proc = ServerProcess(db_url, server_pki)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def device_tls(server: ServerProcess, tmp_path: Path) -> Path:
    """An enrolled device's TLS directory."""
    tls_dir = tmp_path / "device-tls"
    server.enrol(tls_dir)
    return tls_dir
