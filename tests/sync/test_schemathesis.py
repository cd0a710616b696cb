"""Schemathesis against the server's OpenAPI description: generated requests, sent
over real mutual TLS to the real server process, never get a 5xx answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from sync.client import DEVICE_CERT, DEVICE_KEY, SERVER_CA
from sync.pgcluster import PgCluster
from sync.server.openapi import openapi_document
from tests.sync.conftest import ServerProcess

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_server(
    request: pytest.FixtureRequest,
    server_pki: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, requests.Session]]:
    """One server per backend for the whole module, and an enrolled device's session."""
    base = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        db_url = str(base / "server.sqlite3")
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        db_url = cluster.create_database(f"f_{uuid.uuid4().hex[:12]}")
    server = ServerProcess(db_url, server_pki)
    server.start()
    tls = base / "tls"
    server.enrol(tls)
    session = requests.Session()
    session.cert = (str(tls / DEVICE_CERT), str(tls / DEVICE_KEY))
    session.verify = str(tls / SERVER_CA)
    try:
        yield server, session
    finally:
        session.close()
        server.stop()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_generated_request_gets_a_server_error(
    case: schemathesis.Case, fuzz_server: tuple[ServerProcess, requests.Session]
) -> None:
    server, session = fuzz_server
    case.call_and_validate(
        base_url=server.url,
        session=session,
        checks=[not_a_server_error],
        verify=session.verify,
        cert=session.cert,
    )
