"""Fixtures for the sync area: a real server process (SQLite or PostgreSQL) on
loopback with mutual TLS, a throwaway PostgreSQL cluster, and enrolled devices."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync import pki
from sync.client import SERVER_CA, tls_context
from sync.localserver import LocalServer
from sync.pgcluster import PgCluster

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = f"{ROOT}:{ROOT / 'tests' / 'sync'}"


class ServerProcess(LocalServer):
    """The shared local server, plus a raw httpx client for protocol-level tests."""

    def __init__(self, db_url: str, pki_dir: Path) -> None:
        super().__init__(db_url, pki_dir, extra_pythonpath=str(ROOT / "tests" / "sync"))

    def client(self, tls_dir: Path) -> httpx.Client:
        """A raw httpx client with the device's certificate."""
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
