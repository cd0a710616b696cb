"""The OpenAPI 3.1 document is generated from the wire Structs and matches the server.

- every route the server mounts (the update delivery under /updates included) is in the
  document, and every documented operation is mounted and in the authorization matrix;
- the document is valid OpenAPI 3.1 (openapi-spec-validator), names its security schemes
  (mutual TLS for counters, IT's bearer token; the probes open), and is what
  ``GET /openapi.json`` and ``madoguchi server openapi`` give;
- the bodies the server decodes are the ones documented, strictly: over real mutual TLS a
  wrong type or an unknown field is a 400 (an item of a batch: ``rejected``) naming the
  field, and what the device's client encodes the server decodes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from device.store import GENESIS_HASH, record_hash
from sync import pki, wire
from sync.server import authz
from sync.server.app import ServerContext, build_app
from sync.server.openapi import openapi_document
from sync.server.repository import open_repository
from tests.sync.conftest import ServerProcess
from tests.sync.sync_support import make_record
from updater import wire as update_wire
from updater.server import UpdateServerConfig, create_app

TOKEN = "an-it-token-of-the-openapi-test"


class InProcess:
    """The app called in this process (no TLS: IT's bearer token is the credential)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def request(self, method: str, path: str, content: bytes = b"") -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="https://testserver",
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as client:
                return await client.request(method, path, content=content)

        return asyncio.run(call())


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> InProcess:
    """The real app as ``madoguchi server run`` builds it, with the update delivery."""
    base = tmp_path_factory.mktemp("openapi")
    pki.init_server_pki(base / "pki")
    subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "server", "migrate", "--db",
         str(base / "server.sqlite3")],
        check=True, capture_output=True,
    )
    ctx = ServerContext(
        repo=open_repository(str(base / "server.sqlite3")),
        ca_key=pki.load_key(base / "pki" / pki.CA_KEY),
        ca_cert=pki.load_cert(base / "pki" / pki.CA_CERT),
        it_token=TOKEN,
    )
    updates = create_app(UpdateServerConfig(base / "updates", {}, TOKEN, ctx.repo.dialect))  # type: ignore[attr-defined]
    return InProcess(build_app(ctx, updates=updates))


def _mounted(client: InProcess) -> set[tuple[str, str]]:
    """(method, path) of every route of the app, mounts walked (GET's implied HEAD left
    out unless the matrix names it)."""
    starlette = client.app.app  # type: ignore[attr-defined]  # the Gate wraps the app
    found: set[tuple[str, str]] = set()

    def walk(routes: list[object], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(list(route.routes), prefix + route.path)
            elif isinstance(route, Route):
                for method in route.methods or ():
                    found.add((method, prefix + route.path))

    walk(list(starlette.routes), "")
    named = {(e.method, e.path) for e in authz.ENDPOINTS}
    return {(m, p) for m, p in found if m != "HEAD" or (m, p) in named}


def _documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head")
    }


def test_every_mounted_route_is_documented_and_every_documented_one_mounted(
    app: InProcess,
) -> None:
    mounted, documented = _mounted(app), _documented()
    assert mounted - documented == set(), "mounted but not in the OpenAPI document"
    assert documented - mounted == set(), "documented but not mounted"
    assert any(path.startswith(authz.UPDATES_PREFIX) for _, path in documented)
    # and the gate lets through exactly these
    assert {(e.method, e.path) for e in authz.ENDPOINTS} == documented


def test_the_document_is_valid_openapi_3_1_with_its_security_schemes() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    errors = [str(e.message) for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []
    schemes = document["components"]["securitySchemes"]
    assert schemes["deviceCertificate"]["type"] == "mutualTLS"
    assert (schemes["itToken"]["type"], schemes["itToken"]["scheme"]) == ("http", "bearer")
    paths = document["paths"]
    assert paths["/healthz"]["get"]["security"] == []
    assert paths["/readyz"]["get"]["security"] == []
    assert paths["/v1/enrolment"]["post"]["security"] == []  # the one-time token decides
    assert paths["/v1/batches"]["post"]["security"] == [{"deviceCertificate": []}]
    assert paths["/updates/fleet"]["get"]["security"] == [{"itToken": []}]
    assert paths["/updates/keys"]["put"]["security"] == [{"itToken": []}]
    assert paths["/updates/keys"]["get"]["security"] == [{"deviceCertificate": []},
                                                         {"itToken": []}]


def test_the_bodies_are_the_wire_structs_with_their_limits() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]

    def request_ref(path: str, method: str) -> str:
        body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        return str(body["schema"]["$ref"]).rsplit("/", 1)[1]

    assert request_ref("/v1/batches", "post") == "BatchRequest"
    assert request_ref("/v1/enrolment", "post") == "EnrolmentRequest"
    assert request_ref("/v1/cards/{card_id}/operation-status", "put") == "CardStatusChange"
    assert request_ref("/updates/devices/{device_id}/status", "post") == "StatusReports"
    assert request_ref("/updates/releases/{channel}", "put") == "SignedDocument"
    records = schemas["BatchRequest"]["properties"]["records"]
    assert (records["minItems"], records["maxItems"]) == (1, wire.MAX_BATCH_RECORDS)
    item = schemas["BatchItem"]
    assert item["additionalProperties"] is False
    assert item["properties"]["hash"]["pattern"] == "^[0-9a-f]{64}$"
    assert item["properties"]["seq"]["minimum"] == 1
    assert schemas["BatchItem"] == msgspec.json.schema_components(
        [wire.BatchItem], ref_template="#/components/schemas/{name}"
    )[1]["BatchItem"]
    latest = document["paths"]["/updates/releases/{channel}/latest"]["get"]["responses"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in
            latest["200"]["content"]["application/json"]["schema"]["anyOf"]} == {
        "SignedDocument", "Release"}


def test_the_served_and_printed_documents_are_the_generated_one(app: InProcess) -> None:
    served = app.request("GET", "/openapi.json")
    assert served.status_code == 200, served.text
    assert served.json() == openapi_document()
    printed = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "server", "openapi"],
        check=True, capture_output=True, text=True,
    )
    assert json.loads(printed.stdout) == openapi_document()


def test_the_update_bodies_are_decoded_strictly(app: InProcess, tmp_path: Path) -> None:
    answer = app.request("PUT", "/updates/keys", b'{"signed": "{}"}')
    assert answer.status_code == 400
    assert "signature is required" in answer.json()["error"]
    answer = app.request("PUT", "/updates/keys", b'{"signed": 1, "signature": ""}')
    assert (answer.status_code, answer.json()["error"]) == (
        400, "the signed document: signed must be str, not int")
    answer = app.request("PUT", "/updates/releases/stable",
                         b'{"signed": "", "signature": "", "x": 1}')
    assert answer.status_code == 400
    assert "unknown field `x`" in answer.json()["error"]


def _item(seq: int) -> dict[str, object]:
    """A first record as the client builds it (its Struct), in plain JSON types."""
    payload = make_record(seq).to_payload()
    digest = record_hash(seq, GENESIS_HASH, payload)
    item = wire.BatchItem(seq, str(payload["transaction_id"]), GENESIS_HASH, digest, payload)
    built: dict[str, object] = json.loads(msgspec.json.encode(item))
    return built


def test_the_server_refuses_a_body_of_the_wrong_shape_naming_the_field(
    server: ServerProcess, device_tls: Path
) -> None:
    with server.client(device_tls) as http:
        # the envelope: unknown field, wrong type, nothing at all
        answer = http.post("/v1/batches", json={"records": [_item(1)], "device": "x"})
        assert answer.status_code == 400
        assert answer.json()["detail"] == "the body: unknown field `device`"
        answer = http.post("/v1/batches", json={"records": {"seq": 1}})
        assert (answer.status_code, answer.json()["detail"]) == (
            400, "the body: records must be a list, not an object")
        answer = http.post("/v1/batches", json={})
        assert answer.json()["detail"] == "the body: records is required"
        # an item: rejected by itself, naming its field; the good one beside it is stored
        bad = {**_item(2), "seq": "2"}
        extra = {**_item(3), "note": "x"}
        answer = http.post("/v1/batches", json={"records": [_item(1), bad, extra]})
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["status"] for r in results] == ["accepted", "rejected", "rejected"]
        assert results[1]["error"] == "the item: seq must be int, not str"
        assert results[2]["error"] == "the item: unknown field `note`"
        assert results[2]["seq"] == 3  # still named, so the device can quarantine it
        # the registry and enrolment
        answer = http.put("/v1/cards/card-1/operation-status",
                          json={"status": "lost", "reason": "x"})
        assert answer.status_code == 400
        assert answer.json()["detail"].startswith("the body: status is not one of the allowed")
        answer = http.put("/v1/cards/card-1/operation-status",
                          json={"status": "suspended", "hold_certificate_serials": [""]})
        assert answer.json()["detail"] == (
            "the body: hold_certificate_serials[0] must be str of length >= 1")
    with server.anonymous_client() as http:
        answer = http.post("/v1/enrolment", json={"token": 7, "csr_pem": "x"})
        assert (answer.status_code, answer.json()["detail"]) == (
            400, "the body: token must be str, not int")


def test_what_the_client_encodes_the_server_type_decodes() -> None:
    item = _item(1)
    request = wire.BatchRequest([msgspec.convert(item, wire.BatchItem)])
    sent = msgspec.json.encode(request)
    again = msgspec.json.decode(sent, type=wire.BatchRequest)
    assert msgspec.json.encode(again) == sent
    assert again.records[0].payload == json.loads(json.dumps(item["payload"]))
    report = update_wire.StatusReports([update_wire.StatusReport("committed", "2026-12-03")])
    assert msgspec.json.decode(msgspec.json.encode(report), type=update_wire.StatusReports) == (
        report)


def test_a_configuration_type_error_names_the_key_and_the_schema_is_printed(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[keypad]\nrow_pins = [\"a\", 5]\n")
    checked = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "--config", str(bad), "config", "check"],
        capture_output=True, text=True, check=False,
    )
    assert checked.returncode == 2
    assert f"{bad}: [keypad] row_pins[0] must be int, not str" in checked.stderr
    printed = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "config", "schema"],
        check=True, capture_output=True, text=True,
    )
    schema = json.loads(printed.stdout)
    sync = schema["$defs"]["SyncConfig"]
    assert sync["properties"]["batch_size"]["type"] == "integer"
    assert sync["additionalProperties"] is False
