"""Fixtures for the sync area: a real server process (SQLite or PostgreSQL) on
loopback with mutual TLS, a throwaway PostgreSQL cluster, and enrolled devices."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sync import pki
from sync.client import SERVER_CA, tls_context
from sync.localserver import LocalServer
from sync.pgcluster import PgCluster

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = f"{ROOT}:{ROOT / 'tests' / 'sync'}"


#: IT's bearer token on every test server (the update delivery's publish token).
IT_TOKEN = "it-token-for-the-sync-tests-0123456789"


def it_credentials(directory: Path) -> tuple[str, ...]:
    """``madoguchi server run`` options that mount the update delivery and so give IT
    its bearer token (an Ed25519 public key of IT's, the token file, a bundle dir)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "it-update-key.pem"
    if not key.exists():
        key.write_bytes(
            Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
    token = directory / "it.token"
    token.write_text(IT_TOKEN + "\n")
    token.chmod(0o600)
    return (
        "--update-keys",
        str(key),
        "--publish-token-file",
        str(token),
        "--updates-dir",
        str(directory / "updates"),
    )


class ServerProcess(LocalServer):
    """The shared local server (with IT's token), plus raw httpx clients."""

    def __init__(
        self, db_url: str, pki_dir: Path, it_dir: Path | None = None, *, migrate: bool = True
    ) -> None:
        super().__init__(
            db_url,
            pki_dir,
            migrate=migrate,
            extra_pythonpath=str(ROOT / "tests" / "sync"),
            extra_args=it_credentials(it_dir) if it_dir is not None else (),
        )

    def client(self, tls_dir: Path) -> httpx.Client:
        """A raw httpx client with the device's certificate."""
        context = tls_context(tls_dir / SERVER_CA, tls_dir / "device.crt", tls_dir / "device.key")
        return httpx.Client(base_url=self.url, verify=context, timeout=10.0)

    def it_client(self) -> httpx.Client:
        """A raw httpx client as IT: the server's CA and IT's bearer token, no certificate."""
        return httpx.Client(
            base_url=self.url,
            verify=tls_context(self.pki_dir / pki.CA_CERT),
            headers={"Authorization": f"Bearer {IT_TOKEN}"},
            timeout=10.0,
        )

    def anonymous_client(self) -> httpx.Client:
        """A raw httpx client with no credential at all."""
        return httpx.Client(
            base_url=self.url, verify=tls_context(self.pki_dir / pki.CA_CERT), timeout=10.0
        )


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
def server(db_url: str, server_pki: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """A running server on the parametrised database (IT's token works on it)."""
    proc = ServerProcess(db_url, server_pki, tmp_path / "it")
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
