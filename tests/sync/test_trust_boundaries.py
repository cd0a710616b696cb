"""Issue 13 on the server, over real HTTPS with mutual TLS on SQLite and PostgreSQL:
the registries' rules (whose entry, the certificate state machine, the audit), reads
scoped to the office, and inputs bounded on every endpoint."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device.records import CertificateAction
from device.store import GENESIS_HASH, Store, record_hash
from sync.client import SyncClient
from sync.server import authz
from sync.server.report import ReportRow, report_csv
from sync.uploader import Uploader
from tests.sync.conftest import ServerProcess
from tests.sync.sync_support import make_record

OFFICE_A, OFFICE_B = "131016", "271004"


class Counter:
    """An enrolled device that sends hand-made records in chain order."""

    def __init__(self, server: ServerProcess, tls: Path, office: str) -> None:
        self.device_id = server.enrol(tls, office=office)
        self.http = server.client(tls)
        self.office = office
        self.seq = 0
        self.prev = GENESIS_HASH

    def send(self, *certificates: tuple[str, str, str]) -> dict[str, Any]:
        """One record with these ``(kind, action, serial)`` certificate actions."""
        self.seq += 1
        record = dataclasses.replace(
            make_record(self.seq, office=self.office),
            certificates=tuple(CertificateAction(*c) for c in certificates),
        )
        payload = record.to_payload()
        digest = record_hash(self.seq, self.prev, payload)
        item = {
            "seq": self.seq,
            "transaction_id": record.transaction_id,
            "prev_hash": self.prev,
            "hash": digest,
            "payload": payload,
        }
        result: dict[str, Any] = self.http.post("/v1/batches", json={"records": [item]}).json()[
            "results"
        ][0]
        if result["status"] == "accepted":
            self.prev = digest
        else:
            self.seq -= 1
        return result

    def status(self, serial: str) -> str:
        answer: str = self.http.get(f"/v1/certificates/{serial}/status").json()["status"]
        return answer


@pytest.fixture
def offices(server: ServerProcess, tmp_path: Path) -> Iterator[tuple[Counter, Counter]]:
    a, b = Counter(server, tmp_path / "a", OFFICE_A), Counter(server, tmp_path / "b", OFFICE_B)
    yield a, b
    a.http.close()
    b.http.close()


def test_revoked_is_final_and_another_office_changes_nothing(
    server: ServerProcess, offices: tuple[Counter, Counter]
) -> None:
    a, b = offices
    assert a.send(("sign", "issued", "S-A1"), ("auth", "issued", "A-A1"))["status"] == "accepted"
    assert a.send(("sign", "revoked", "S-A1"))["status"] == "accepted"
    # the finding: another office's batch turned a revoked certificate valid again
    stolen = b.send(("sign", "issued", "S-A1"))
    assert stolen["status"] == "rejected"
    assert "another office" in stolen["error"]
    # not even the office itself brings a 失効 certificate back
    again = a.send(("sign", "renewed", "S-A1"))
    assert again["status"] == "rejected"
    assert "失効 is final" in again["error"]
    assert a.status("S-A1") == "revoked"
    # another office can neither revoke A's valid certificate ...
    assert b.send(("auth", "revoked", "A-A1"))["status"] == "rejected"
    assert a.status("A-A1") == "valid"
    # ... nor hold it through a card, nor change A's card
    assert a.http.put("/v1/cards/card-A/operation-status", json={"status": "in_operation"})
    held = b.http.put(
        "/v1/cards/card-B/operation-status",
        json={"status": "suspended", "reason": "lost", "hold_certificate_serials": ["A-A1"]},
    )
    assert held.status_code == 403, held.text
    assert a.status("A-A1") == "valid"
    assert b.http.get("/v1/cards/card-B/operation-status").status_code == 404  # rolled back
    suspended = b.http.put(
        "/v1/cards/card-A/operation-status", json={"status": "suspended", "reason": "x"}
    )
    assert suspended.status_code == 403
    assert a.http.get("/v1/cards/card-A/operation-status").json()["status"] == "in_operation"
    # a record in the office's own chain that was refused stays visible in the chain report
    chain = b.http.get(f"/v1/devices/{b.device_id}/chain").json()
    assert [r["transaction_id"] for r in chain["rejected"]]


def test_a_hold_is_lifted_by_the_card_only_and_every_change_is_audited(
    server: ServerProcess, offices: tuple[Counter, Counter]
) -> None:
    a, b = offices
    a.send(("sign", "issued", "S-H1"))
    b.send(("sign", "issued", "S-B1"))
    put = a.http.put(
        "/v1/cards/card-H/operation-status",
        json={
            "status": "suspended",
            "reason": "reported lost",
            "hold_certificate_serials": ["S-H1"],
        },
    )
    assert put.status_code == 200, put.text
    assert a.status("S-H1") == "temporary_hold"
    lifted = a.send(("sign", "issued", "S-H1"))
    assert lifted["status"] == "rejected"
    assert "運用状況" in lifted["error"]
    found = a.http.put(
        "/v1/cards/card-H/operation-status",
        json={"status": "in_operation", "reason": "found", "release_certificate_serials": ["S-H1"]},
    )
    assert found.status_code == 200
    assert a.status("S-H1") == "valid"
    own = a.http.get("/v1/registry/audit").json()
    changes = [(e["registry"], e["key"], e["before"], e["after"]) for e in own["entries"]]
    assert changes == [
        ("certificate", "S-H1", None, "valid"),
        ("card", "card-H", None, "suspended"),
        ("certificate", "S-H1", "valid", "temporary_hold"),
        ("card", "card-H", "suspended", "in_operation"),
        ("certificate", "S-H1", "temporary_hold", "valid"),
    ]
    assert {e["actor"] for e in own["entries"]} == {f"counter:{a.device_id}"}
    assert {e["office_code"] for e in own["entries"]} == {OFFICE_A}
    assert own["entries"][1]["why"] == "reported lost"
    assert "seq 1" in own["entries"][0]["why"]
    # an office reads its own rows only; IT reads every office's
    assert a.http.get("/v1/registry/audit", params={"office": OFFICE_B}).status_code == 403
    with server.it_client() as it:
        everyone = it.get("/v1/registry/audit").json()["entries"]
        assert {e["office_code"] for e in everyone} == {OFFICE_A, OFFICE_B}
        after = everyone[0]["id"]
        assert [
            e["id"] for e in it.get("/v1/registry/audit", params={"after": after}).json()["entries"]
        ] == [e["id"] for e in everyone[1:]]


def test_the_issuing_authority_registers_under_the_asking_office(
    server: ServerProcess, offices: tuple[Counter, Counter]
) -> None:
    from sync import pki

    a, b = offices
    pem = (
        pki.new_key()
        .public_key()
        .public_bytes(
            pki.serialization.Encoding.PEM, pki.serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )
    serial = a.http.post(
        "/v1/sim/issuing-authority/certificates", json={"kind": "sign", "public_key_pem": pem}
    ).json()["serial"]
    entry = a.http.get("/v1/registry/audit").json()["entries"][-1]
    assert (entry["actor"], entry["key"], entry["after"]) == ("issuing-authority", serial, "valid")
    assert a.device_id in entry["why"]
    assert a.send(("sign", "issued", serial))["status"] == "accepted"  # its own issuance
    assert b.send(("sign", "revoked", serial))["status"] == "rejected"


@pytest.mark.parametrize(
    ("certificate", "why"),
    [
        ({"kind": "sign", "action": "issued", "serial": "S\x00NUL"}, "serial"),
        ({"kind": '=HYPERLINK("http://x")', "action": "issued", "serial": "S1"}, "kind"),
        ({"kind": "sign", "action": "stolen", "serial": "S1"}, "action"),
        ({"kind": "sign", "action": "issued", "serial": "S" * 65}, "serial"),
        ("sign", "objects"),
    ],
)
def test_certificate_entries_are_validated_on_either_database(
    server: ServerProcess, offices: tuple[Counter, Counter], certificate: Any, why: str
) -> None:
    a, _ = offices
    payload = make_record(1).to_payload()
    payload["certificates"] = [certificate]
    item = {
        "seq": 1,
        "transaction_id": payload["transaction_id"],
        "prev_hash": GENESIS_HASH,
        "hash": record_hash(1, GENESIS_HASH, payload),
        "payload": payload,
    }
    answer = a.http.post("/v1/batches", json={"records": [item]})
    assert answer.status_code == 200, answer.text  # PostgreSQL gave a 503 for the NUL
    result = answer.json()["results"][0]
    assert result["status"] == "rejected"
    assert why in result["error"]


def test_a_record_the_server_refuses_is_quarantined_not_retried(
    server: ServerProcess, offices: tuple[Counter, Counter], tmp_path: Path
) -> None:
    store = Store(tmp_path / "device.sqlite3")
    bad = dataclasses.replace(
        make_record(1), certificates=(CertificateAction("sign", "issued", "S\x00"),)
    )
    store.record_transaction(bad)
    store.record_transaction(make_record(2))
    tls = tmp_path / "uploader-tls"
    server.enrol(tls, office=OFFICE_A)
    uploader = Uploader(store, SyncClient(server.url, tls))
    try:
        assert uploader.drain() == 1
        assert store.queue_length() == 0
        assert store.uploader_status().quarantined == 1
        assert store.uploader_status().last_error is None
    finally:
        uploader.client.close()
        store.close()


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _cases() -> list[tuple[authz.Endpoint, str]]:
    values = {"device_id": "dev-x", "card_id": "card-x", "serial": "S1", "channel": "stable"}
    values["name"] = "madoguchi-1.0.0.bundle"
    out = []
    for endpoint in authz.ENDPOINTS:
        path = endpoint.path
        for key, value in values.items():
            path = path.replace("{" + key + "}", value)
        out.append((endpoint, path))
    return out


@pytest.mark.parametrize(
    ("endpoint", "path"), _cases(), ids=[f"{e.method} {e.path}" for e, _ in _cases()]
)
def test_every_endpoint_bounds_its_body_and_json_depth(
    server: ServerProcess, offices: tuple[Counter, Counter], endpoint: authz.Endpoint, path: str
) -> None:
    a, _ = offices
    clients = {"counter": a.http}
    with server.it_client() as it, server.anonymous_client() as anyone:
        clients |= {"it": it, "anonymous": anyone}
        for client in clients.values():
            # deep JSON: 400 where a JSON body is read, 413 where no body is taken
            deep = client.request(
                endpoint.method,
                path,
                content=_deep(5000),
                headers={"content-type": "application/json"},
            )
            assert deep.status_code < 500, deep.text
            if deep.status_code not in (401, 403) and endpoint.json_body:
                assert deep.status_code == 400, deep.text
            elif deep.status_code not in (401, 403) and endpoint.max_body == 0:
                assert deep.status_code == 413, deep.text
            # one byte over the limit, declared and streamed (chunked, no Content-Length)
            limit = endpoint.max_body
            if limit > 8 * 1024 * 1024:
                continue  # a bundle's limit (512 MiB) is the updater's; see test_server_mount
            over = client.request(endpoint.method, path, content=b" " * (limit + 1))
            assert over.status_code == 413 or over.status_code in (401, 403), over.text

            def chunks(size: int = limit + 1) -> Any:
                while size > 0:
                    step = min(size, 65536)
                    size -= step
                    yield b" " * step

            streamed = client.request(endpoint.method, path, content=chunks())
            assert streamed.status_code == 413 or streamed.status_code in (401, 403)


def test_the_update_status_report_no_longer_takes_40_mib(
    server: ServerProcess, offices: tuple[Counter, Counter]
) -> None:
    a, _ = offices
    body = b'{"reports": [' + b'{"state": "x", "at": "t"},' * 2_000_000 + b"{}]}"
    answer = a.http.post(f"/updates/devices/{a.device_id}/status", content=body)
    assert answer.status_code == 413


def test_enrolment_is_rate_limited_per_address(server: ServerProcess) -> None:
    with server.anonymous_client() as anyone:
        codes = [
            anyone.post("/v1/enrolment", json={"token": "guess", "csr_pem": "x"}).status_code
            for _ in range(30)
        ]
    assert set(codes) <= {400, 429}
    assert codes.count(429) >= 5
    assert codes[0] == 400


def test_the_report_csv_never_starts_a_cell_with_a_formula() -> None:
    rows = [
        ReportRow("=1+1", "2026-11-25", '=HYPERLINK("http://x","y")'),
        ReportRow("@A", "d", "+1"),
    ]
    cells = [cell for line in csv.reader(io.StringIO(report_csv(rows))) for cell in line]
    assert {"'=1+1", "'@A", "'+1"} <= set(cells)
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


def test_the_server_database_is_private_whatever_the_umask(tmp_path: Path) -> None:
    from sync.server.repository import open_repository

    old = os.umask(0o022)
    try:
        repo = open_repository(str(tmp_path / "server.sqlite3"))
        repo.close()
    finally:
        os.umask(old)
    for name in ("server.sqlite3", "server.sqlite3-wal", "server.sqlite3-shm"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_a_database_failure_is_a_generic_503(
    pg_cluster: Any, server_pki: Path, tmp_path: Path
) -> None:
    """The database's words stay in the server's log: the client gets a generic 503."""
    import uuid

    import psycopg

    db_url = pg_cluster.create_database(f"g_{uuid.uuid4().hex[:12]}")
    server = ServerProcess(db_url, server_pki, tmp_path / "it")
    server.start()
    try:
        with server.it_client() as it:
            assert it.get("/v1/registry/audit").status_code == 200
            with psycopg.connect(db_url, autocommit=True) as admin:
                # a terminated backend costs no request: the pool checks each connection
                # it hands out and replaces a dead one
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                assert it.get("/v1/registry/audit").status_code == 200
                # a failing query: PostgreSQL's words ("relation … does not exist") stay
                # in the server's log
                admin.execute("ALTER TABLE registry_audit RENAME TO registry_audit_away")
                answer = it.get("/v1/registry/audit")
                assert answer.status_code == 503
                assert answer.json() == {
                    "error": "storage_unavailable",
                    "detail": "the server's storage is unavailable; try again",
                }
                admin.execute("ALTER TABLE registry_audit_away RENAME TO registry_audit")
            assert it.get("/v1/registry/audit").status_code == 200
    finally:
        server.stop()


def test_a_device_of_another_office_cannot_report_update_status_as_another(
    server: ServerProcess, offices: tuple[Counter, Counter]
) -> None:
    a, b = offices
    ok = a.http.post(f"/updates/devices/{a.device_id}/status", json={"reports": []})
    assert ok.status_code == 200, ok.text
    forged = a.http.post(f"/updates/devices/{b.device_id}/status", json={"reports": []})
    assert forged.status_code == 403


def test_only_a_principal_learns_which_paths_exist(
    server: ServerProcess, offices: tuple[Counter, Counter]
) -> None:
    a, _ = offices
    with server.anonymous_client() as anyone:
        for path in ("/v1/nothing", "/updates/", "/updates/fleet/x", "/v1/time/"):
            answer = anyone.get(path)
            assert answer.status_code == 401, path
            assert answer.json()["error"] == "client_certificate_required"
    assert a.http.get("/v1/nothing").status_code == 404
    assert a.http.delete("/v1/time").status_code == 405
