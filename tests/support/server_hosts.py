"""Two central-server hosts on one PostgreSQL database behind HAProxy in TCP mode
(:mod:`sync.serverhosts`), as a pytest fixture.

Use it from a test module with ``from tests.support.server_hosts import two_hosts``
(the module must also see the ``pg_cluster`` fixture: ``tests/sync/conftest.py``).
Each host is a real ``madoguchi server run`` with its own state directory; the first
holds the CA key (it signs enrolments), the second only the CA certificate and its own
TLS certificate from the signer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.client import DEVICE_CERT, DEVICE_KEY, SERVER_CA, tls_context
from sync.localserver import LocalServer
from sync.pgcluster import PgCluster
from sync.serverhosts import ServerHosts, server_hosts

__all__ = ["ServerHosts", "device_client", "two_hosts"]


@pytest.fixture
def two_hosts(pg_cluster: PgCluster, tmp_path: Path) -> Iterator[ServerHosts]:
    """Two hosts (``hosts[0]`` signs) on a fresh PostgreSQL database, HAProxy in front."""
    db_url = pg_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")
    with server_hosts(db_url, tmp_path / "server-hosts") as group:
        yield group


def device_client(tls_dir: Path, target: LocalServer | ServerHosts) -> httpx.Client:
    """A raw httpx client with the device's certificate, to one host or the balancer."""
    context = tls_context(tls_dir / SERVER_CA, tls_dir / DEVICE_CERT, tls_dir / DEVICE_KEY)
    return httpx.Client(base_url=target.url, verify=context, timeout=10.0)
