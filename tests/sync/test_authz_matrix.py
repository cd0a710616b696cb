"""The authorization matrix, cell by cell, on SQLite and on PostgreSQL.

Every endpoint of :data:`sync.server.authz.ENDPOINTS` × every role × the own and
another office is sent to the server and must get the answer of
:data:`sync.server.authz.POLICY` — the table ``docs/security.md`` shows (a test
below keeps the docs equal to it). Counters, IT, anonymous requests and the issuing
authority (no credential) go over real HTTPS with mutual TLS to a real server
process; office staff and administrators have no credential yet (the console is a
later issue), so their cells are sent to the same app in process, with an
authenticator standing in for the console's sessions.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Scope

from device.store import GENESIS_HASH, record_hash
from sync import pki
from sync.pgcluster import PgCluster
from sync.server import authz
from sync.server.authz import ENDPOINTS, Answer, Endpoint, Operation, Principal, Role, Target
from sync.server.run import make_app, make_context
from tests.sync.conftest import ServerProcess
from tests.sync.sync_support import make_record
from updater.server import UpdateDelivery

ROOT = Path(__file__).resolve().parents[2]
OFFICE_A, OFFICE_B = "131016", "271004"


@dataclass
class World:
    """A server with two offices: counters a1, a2 (office A) and b1 (office B), a card
    and a certificate registered by each office."""

    server: ServerProcess
    tls: dict[str, Path]
    ids: dict[str, str]
    app: Any = None  # the same app in process, for staff and administrators
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def http(self, who: str) -> httpx.Client:
        if who not in self.clients:
            if who == "it":
                self.clients[who] = self.server.it_client()
            elif who == "anonymous":
                self.clients[who] = self.server.anonymous_client()
            else:
                self.clients[who] = self.server.client(self.tls[who])
        return self.clients[who]


def _item(seq: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": seq,
        "transaction_id": payload["transaction_id"],
        "prev_hash": GENESIS_HASH,
        "hash": record_hash(seq, GENESIS_HASH, payload),
        "payload": payload,
    }


def _issue(world: World, who: str, office: str, serial: str) -> None:
    payload = make_record(1, office=office).to_payload()
    payload["certificates"] = [{"kind": "sign", "action": "issued", "serial": serial}]
    answer = world.http(who).post("/v1/batches", json={"records": [_item(1, payload)]})
    assert answer.json()["results"][0]["status"] == "accepted", answer.text


def _console(scope: Scope) -> Principal | None:
    """The console's authenticator as the test's stand-in: ``x-test-principal:
    staff:131016`` (only this test's in-process app has it)."""
    for name, value in scope.get("headers", ()):
        if name == b"x-test-principal":
            role, _, office = value.decode().partition(":")
            return Principal(Role(role), office, name=f"{role}-1")
    return None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, server_pki: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    base = tmp_path_factory.mktemp("matrix")
    if request.param == "sqlite":
        db_url = str(base / "server.sqlite3")
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        db_url = cluster.create_database(f"m_{uuid.uuid4().hex[:12]}")
    server = ServerProcess(db_url, server_pki, base / "it")
    server.start()
    suffix = uuid.uuid4().hex[:6]
    ids = {"a1": f"a1-{suffix}", "a2": f"a2-{suffix}", "b1": f"b1-{suffix}"}
    tls = {who: base / who for who in ids}
    for who, office in (("a1", OFFICE_A), ("a2", OFFICE_A), ("b1", OFFICE_B)):
        server.enrol(tls[who], ids[who], office)
    world = World(server, tls, ids)
    ids.update(cert_a=f"SA-{suffix}", cert_b=f"SB-{suffix}")
    ids.update(card_a=f"card-a-{suffix}", card_b=f"card-b-{suffix}")
    _issue(world, "a1", OFFICE_A, ids["cert_a"])
    _issue(world, "b1", OFFICE_B, ids["cert_b"])
    for who, card in (("a1", "card_a"), ("b1", "card_b")):
        put = world.http(who).put(
            f"/v1/cards/{ids[card]}/operation-status", json={"status": "in_operation"}
        )
        assert put.status_code == 200, put.text
    ctx = make_context(db_url, server_pki, simulate=True)
    it_dir = base / "it"
    delivery = UpdateDelivery(it_dir / "updates", it_dir / "it-update-key.pem", it_dir / "it.token")
    world.app = make_app(ctx, delivery, authenticators=[_console])
    try:
        yield world
    finally:
        for client in world.clients.values():
            client.close()
        ctx.repo.close()
        server.stop()


#: Who sends a role's requests: a device (own office A), IT, or nobody.
_SENDER = {
    Role.COUNTER: "a1",
    Role.IT: "it",
    Role.ANONYMOUS: "anonymous",
    Role.ISSUING_AUTHORITY: "anonymous",  # it has no HTTP credential
}
#: The principal each role's requests stand for (what the policy is asked about).
_PRINCIPAL = {
    Role.COUNTER: lambda ids: Principal(Role.COUNTER, OFFICE_A, ids["a1"]),
    Role.STAFF: lambda ids: Principal(Role.STAFF, OFFICE_A, name="staff-1"),
    Role.ADMINISTRATOR: lambda ids: Principal(Role.ADMINISTRATOR, OFFICE_A, name="administrator-1"),
    Role.IT: lambda ids: authz.IT,
    Role.ANONYMOUS: lambda ids: authz.ANONYMOUS,
    Role.ISSUING_AUTHORITY: lambda ids: authz.ISSUING_AUTHORITY,
}


def _device_for(role: Role, target: Target, ids: dict[str, str]) -> str:
    if target is Target.OTHER:
        return ids["b1"]
    # own: a counter's own device; a device of office A for staff and administrators
    return ids["a1"] if role is Role.COUNTER else ids["a2"]


def _public_key_pem() -> str:
    return (
        pki.new_key()
        .public_key()
        .public_bytes(
            pki.serialization.Encoding.PEM, pki.serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )


def _request(
    endpoint: Endpoint, role: Role, target: Target, ids: dict[str, str]
) -> tuple[str, str, dict[str, Any]]:
    """The request of one cell: method, path, and httpx keyword arguments."""
    own = target is Target.OWN
    office = OFFICE_A if own else OFFICE_B
    values = {
        "device_id": _device_for(role, target, ids),
        "card_id": ids["card_a" if own else "card_b"],
        "serial": ids["cert_a" if own else "cert_b"],
        "channel": "stable",
        "name": "madoguchi-9.9.9.bundle",
        "rollout_id": "999",
        "action": "halt",
    }
    path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], endpoint.path)
    kwargs: dict[str, Any] = {}
    operation = endpoint.operation
    if operation in (
        Operation.READ_REPORT, Operation.READ_REGISTRY_AUDIT, Operation.READ_CLERKS
    ):
        kwargs["params"] = {"office": office, "date": "2026-11-25"}
    elif operation is Operation.INGEST_BATCH:
        payload = make_record(1, office="").to_payload()
        kwargs["json"] = {"records": [_item(1, payload)]}
    elif operation is Operation.CHANGE_CARD_STATUS:
        kwargs["json"] = {"status": "in_operation", "reason": "matrix"}
    elif operation is Operation.ENROL:
        kwargs["json"] = {"token": "not-a-token", "csr_pem": "not a CSR"}  # 400 when let in
    elif operation is Operation.ISSUE_CERTIFICATE:
        kwargs["json"] = {"kind": "auth", "public_key_pem": _public_key_pem()}
    elif operation is Operation.UPLOAD_SIGN_INS:
        kwargs["json"] = {"store_id": "0" * 32, "events": []}  # 400 when let in
    elif operation is Operation.UPDATE_REPORT:
        kwargs["json"] = {"reports": []}
    elif operation is Operation.UPDATE_PUBLISH:
        kwargs["content"] = b"not a bundle"  # 422 when let in
    elif operation in (Operation.UPDATE_PUBLISH_KEY_LIST, Operation.UPDATE_PUBLISH_POINTER):
        kwargs["json"] = {"signed": "{}", "signatures": []}  # 422 when let in: not signed
    elif operation is Operation.UPDATE_ROLLOUT:
        kwargs["json"] = {"channel": "stable", "pointer": {}} if "{action}" not in (
            endpoint.path
        ) else {"reason": "matrix"}  # 422 / 404 when let in: no such pointer or rollout
    return endpoint.method, path, kwargs


_CELLS = [
    pytest.param(
        endpoint, role, target, id=f"{endpoint.method} {endpoint.path}-{role.value}-{target.value}"
    )
    for endpoint in ENDPOINTS
    for role in Role
    for target in Target
]


@pytest.mark.parametrize(("endpoint", "role", "target"), _CELLS)
def test_every_cell_of_the_matrix_gets_its_documented_answer(
    world: World, endpoint: Endpoint, role: Role, target: Target
) -> None:
    method, path, kwargs = _request(endpoint, role, target, world.ids)
    expected = authz.decide(_PRINCIPAL[role](world.ids), endpoint.operation, target)
    if role in _SENDER:
        client = world.http(_SENDER[role])
        answer = client.request(method, path, **kwargs)
    else:
        headers = {"x-test-principal": f"{role.value}:{OFFICE_A}"}
        answer = asyncio.run(_in_process(world.app, method, path, headers=headers, **kwargs))
    status = answer.status_code
    assert status < 500, answer.text
    if expected is Answer.ALLOW:
        assert status not in (401, 403), f"{role.value} refused: {answer.text}"
    else:
        assert status == int(expected), answer.text


async def _in_process(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        return await client.request(method, path, **kwargs)


def test_the_matrix_in_the_docs_is_the_one_the_code_enforces() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    begin, end = "<!-- authz-matrix:begin -->\n", "<!-- authz-matrix:end -->"
    assert begin in text
    assert end in text
    shown = text.split(begin, 1)[1].split(end, 1)[0].strip()
    assert shown == authz.markdown_table().strip(), (
        "docs/security.md's matrix differs from sync/server/authz.py: paste"
        " `python -c 'from sync.server.authz import markdown_table; print(markdown_table())'`"
    )


def test_every_route_of_the_app_is_in_the_matrix(world: World) -> None:
    """A route added to the app without a line in ENDPOINTS would get 404 at the gate:
    the app's own routes and the table's must be the same set."""
    from starlette.routing import Mount, Route

    inner = world.app.app  # the Gate's Starlette app
    served: set[tuple[str, str]] = set()
    for route in inner.routes:
        if isinstance(route, Route):
            served |= {(m, route.path) for m in route.methods or ()} - {("HEAD", route.path)}
        elif isinstance(route, Mount):
            for sub in route.routes:
                if isinstance(sub, Route):
                    served |= {(m, route.path + sub.path) for m in sub.methods or ()}
    listed = {(e.method, e.path) for e in ENDPOINTS}
    served = {(m, p) for m, p in served if (m != "HEAD" or (m, p) in listed)}
    assert served == listed
