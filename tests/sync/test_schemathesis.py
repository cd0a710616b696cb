"""Schemathesis against the server's OpenAPI description: generated requests, sent
over real mutual TLS to the real server process, as a counter and as IT, never get a
5xx answer; neither does JSON nested thousands deep or a body over each operation's
limit, on every operation (the update delivery under /updates included)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from sync.client import DEVICE_CERT, DEVICE_KEY, SERVER_CA
from sync.pgcluster import PgCluster
from sync.server import authz
from sync.server.openapi import openapi_document
from tests.sync.conftest import IT_TOKEN, ServerProcess

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_server(
    request: pytest.FixtureRequest,
    server_pki: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, requests.Session]]]:
    """One server per backend for the whole module, an enrolled device's session and
    IT's (its bearer token, no certificate)."""
    base = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        db_url = str(base / "server.sqlite3")
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        db_url = cluster.create_database(f"f_{uuid.uuid4().hex[:12]}")
    server = ServerProcess(db_url, server_pki, base / "it")
    server.start()
    tls = base / "tls"
    server.enrol(tls)
    counter = requests.Session()
    counter.cert = (str(tls / DEVICE_CERT), str(tls / DEVICE_KEY))
    counter.verify = str(tls / SERVER_CA)
    it = requests.Session()
    it.verify = str(tls / SERVER_CA)
    it.headers["Authorization"] = f"Bearer {IT_TOKEN}"
    try:
        yield server, {"counter": counter, "it": it}
    finally:
        counter.close()
        it.close()
        server.stop()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_generated_request_gets_a_server_error(
    case: schemathesis.Case, fuzz_server: tuple[ServerProcess, dict[str, requests.Session]]
) -> None:
    """No 5xx, and every answer is what the document (the wire Structs) says."""
    server, sessions = fuzz_server
    for session in sessions.values():
        case.call_and_validate(
            base_url=server.url,
            session=session,
            checks=[not_a_server_error, response_schema_conformance],
            verify=session.verify,
            cert=session.cert,
        )


def _operations() -> list[tuple[str, str]]:
    out = []
    for result in schema.get_all_operations():
        operation = result.ok()
        out.append((operation.method.upper(), operation.path))
    return out


@pytest.mark.parametrize(("method", "path"), _operations())
def test_deep_json_and_oversized_bodies_get_no_server_error(
    method: str, path: str, fuzz_server: tuple[ServerProcess, dict[str, requests.Session]]
) -> None:
    server, sessions = fuzz_server
    operation = schema[path][method]
    endpoint, _, _ = authz.match(method, path)
    assert endpoint is not None, f"{method} {path} is not in the authorization matrix"
    limit = endpoint.max_body
    bodies = [b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 3000 + b"1" + b"}" * 3000]
    if limit < 8 * 1024 * 1024:  # a bundle's 512 MiB is the updater's own (streamed) limit
        bodies.append(b" " * (limit + 1))
    for session in sessions.values():
        for body in bodies:
            case = operation.Case(
                path_parameters={k: "x-1" for k in _path_names(path)},
                query={"date": "2026-11-25"},
                body=body,
                media_type="application/json"
                if endpoint.json_body or not limit
                else "application/octet-stream",
            )
            case.call_and_validate(
                base_url=server.url,
                session=session,
                checks=[not_a_server_error],
                verify=session.verify,
                cert=session.cert,
            )


def _path_names(path: str) -> list[str]:
    import re

    return re.findall(r"\{(\w+)\}", path)
