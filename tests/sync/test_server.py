"""The central server over real HTTPS with mutual TLS, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from device.store import GENESIS_HASH, Store, record_hash
from sync import pki
from sync.client import SyncClient, tls_context
from sync.errors import DeviceRefusedError, TlsTrustError
from sync.uploader import Uploader
from tests.sync.conftest import ServerProcess
from tests.sync.sync_support import make_record


def _item(seq: int, payload: dict[str, object], prev: str = GENESIS_HASH) -> dict[str, object]:
    return {
        "seq": seq,
        "transaction_id": payload["transaction_id"],
        "prev_hash": prev,
        "hash": record_hash(seq, prev, payload),
        "payload": payload,
    }


_OPEN: list[Uploader] = []


@pytest.fixture(autouse=True)
def _close_uploaders(server: ServerProcess) -> Iterator[None]:
    """Close clients before the server stops (open keep-alives delay its shutdown)."""
    yield
    while _OPEN:
        up = _OPEN.pop()
        up.client.close()
        up.store.close()


def _uploader(tmp_path: Path, server: ServerProcess, tls: Path) -> Uploader:
    store = Store(tmp_path / "device.sqlite3")
    up = Uploader(store, SyncClient(server.url, tls), batch_size=50)
    _OPEN.append(up)
    return up


def test_uploaded_transactions_appear_in_the_daily_report(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    up = _uploader(tmp_path, server, device_tls)
    osaka_tls = tmp_path / "osaka-tls"
    (tmp_path / "osaka").mkdir()
    server.enrol(osaka_tls, office="271004")
    osaka = _uploader(tmp_path / "osaka", server, osaka_tls)
    for i in range(120):
        (up if i % 2 else osaka).store.record_transaction(
            make_record(i, office="131016" if i % 2 else "271004")
        )
    assert up.drain() == 60
    assert osaka.drain() == 60
    assert up.store.queue_length() == 0
    status = up.store.uploader_status()
    assert status.server_reachable
    assert status.last_error is None
    assert status.server_high_water == 60
    assert status.clock_skew_s is not None
    assert abs(status.clock_skew_s) < 5
    with server.it_client() as it:  # IT reads every office's report
        doc = it.get("/v1/reports/daily", params={"date": "2026-11-25"}).json()
        rows = {(r["office_code"], r["certificate_type"]): r for r in doc["rows"]}
        assert rows[("131016", "sign")]["issued"] == 60
        assert rows[("271004", "auth")]["transactions"] == 60
        assert rows[("131016", "sign")]["fee_collected_yen"] == 60 * 100  # 200 split over 2
    with server.client(device_tls) as http:
        # a counter reads its own office's report only
        own = http.get("/v1/reports/daily", params={"date": "2026-11-25"}).json()["rows"]
        assert {r["office_code"] for r in own} == {"131016"}
        text = http.get(
            "/v1/reports/daily", params={"date": "2026-11-25", "format": "csv", "office": "131016"}
        ).text
        lines = list(csv.DictReader(io.StringIO(text)))
        assert {line["certificate_type"] for line in lines} == {"auth", "sign"}
        assert all(line["office_code"] == "131016" for line in lines)
        chain = http.get(f"/v1/devices/{http.get('/v1/devices/me').json()['device_id']}/chain")
        assert chain.json()["gaps"] == []
        assert chain.json()["breaks"] == []


def test_resending_is_idempotent_and_replays_are_refused(
    server: ServerProcess, device_tls: Path
) -> None:
    payload = make_record(1).to_payload()
    body = {"records": [_item(1, payload)]}
    with server.client(device_tls) as http:
        first = http.post("/v1/batches", json=body, headers={"Idempotency-Key": "k1"}).json()
        again = http.post("/v1/batches", json=body, headers={"Idempotency-Key": "k1"}).json()
        assert first["results"][0]["status"] == "accepted"
        assert again["results"][0]["status"] == "duplicate"
        assert again["high_water"] == 1
        other = {"records": [_item(2, make_record(2).to_payload(), prev=_item(1, payload)["hash"])]}
        replay = http.post("/v1/batches", json=other, headers={"Idempotency-Key": "k1"})
        assert replay.status_code == 409
        edited = dict(payload, fee_collected_yen=0)
        same_txn = http.post("/v1/batches", json={"records": [_item(1, edited)]}).json()
        assert same_txn["results"][0]["status"] == "rejected"
        assert "different content" in same_txn["results"][0]["error"]
        reuse = http.post(
            "/v1/batches", json={"records": [_item(1, make_record(3).to_payload())]}
        ).json()
        assert "already used" in reuse["results"][0]["error"]


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'{"records": []}', 400),
        (b'{"records": ' + b"[" + b",".join([b"{}"] * 1001) + b"]}", 413),
        (b"HUGE", 413),
    ],
    ids=["not-json", "not-object", "empty", "too-many-records", "too-many-bytes"],
)
def test_malformed_and_oversized_requests_get_clear_4xx(
    server: ServerProcess, device_tls: Path, content: bytes, status: int
) -> None:
    if content == b"HUGE":
        content = b'{"records": ["' + b"x" * (5 * 1024 * 1024) + b'"]}'
    with server.client(device_tls) as http:
        response = http.post(
            "/v1/batches", content=content, headers={"content-type": "application/json"}
        )
    assert response.status_code == status
    assert response.json()["detail"]


def test_an_unprintable_office_is_a_400_on_either_database(
    server: ServerProcess, device_tls: Path
) -> None:
    # Found by schemathesis: PostgreSQL refuses a NUL in text, which surfaced as a 503.
    # (IT may ask for any office; a counter asking for another office gets 403 first.)
    with server.it_client() as it:
        response = it.get(
            "/v1/reports/daily", params={"date": "2026-11-25", "office": "13\x001016"}
        )
        assert response.status_code == 400
        assert "office" in response.json()["detail"]
    with server.client(device_tls) as http:
        payload = make_record(1).to_payload()
        payload["office_code"] = "13\x00"
        results = http.post("/v1/batches", json={"records": [_item(1, payload)]}).json()
    assert results["results"][0]["status"] == "rejected"
    assert "office_code" in results["results"][0]["error"]


def test_bad_items_are_rejected_one_by_one(server: ServerProcess, device_tls: Path) -> None:
    good = make_record(1).to_payload()
    tampered = _item(2, make_record(2).to_payload())
    tampered["payload"] = dict(tampered["payload"], fee_collected_yen=1)  # type: ignore[call-overload]
    with_pin = make_record(3).to_payload()
    with_pin["extra"] = {"pin": "1234"}
    with_number = make_record(4).to_payload()
    with_number["extra"] = {"note": "番号 1234 5678 9012"}
    body = {
        "records": [
            _item(1, good),
            tampered,
            _item(3, with_pin),
            _item(4, with_number),
            {"seq": "x"},
        ]
    }
    with server.client(device_tls) as http:
        results = http.post("/v1/batches", json=body).json()["results"]
        me = http.get("/v1/devices/me").json()
        chain = http.get(f"/v1/devices/{me['device_id']}/chain").json()
    assert [r["status"] for r in results] == ["accepted"] + ["rejected"] * 4
    assert "hash does not match" in results[1]["error"]
    assert "forbidden" in results[2]["error"]
    assert "12-digit" in results[3]["error"]
    assert {r["seq"] for r in chain["rejected"]} == {2, 3, 4}


def test_chain_report_shows_gaps_and_edits(server: ServerProcess, device_tls: Path) -> None:
    p1, p2, p3, p5 = (make_record(i).to_payload() for i in (1, 2, 3, 5))
    i1 = _item(1, p1)
    i2 = _item(2, p2, prev=i1["hash"])  # type: ignore[arg-type]
    i3 = _item(3, p3, prev="f" * 64)  # rechained after an edit of record 2
    i5 = _item(5, p5, prev=i3["hash"])  # type: ignore[arg-type]
    with server.client(device_tls) as http:
        http.post("/v1/batches", json={"records": [i1, i2, i3, i5]}).raise_for_status()
        me = http.get("/v1/devices/me").json()
        chain = http.get(f"/v1/devices/{me['device_id']}/chain").json()
    assert me["high_water"] == 3
    assert chain["gaps"] == [[4, 4]]
    assert chain["breaks"] == [3]


def test_card_operation_status_and_certificate_registry(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    up = _uploader(tmp_path, server, device_tls)
    up.store.record_transaction(make_record(7))
    up.drain()
    with server.client(device_tls) as http:
        assert http.get("/v1/certificates/S00000007/status").json()["label"] == "有効"
        assert http.get("/v1/cards/card-1/operation-status").status_code == 404
        lost = http.put(
            "/v1/cards/card-1/operation-status",
            json={
                "status": "suspended",
                "reason": "lost",
                "hold_certificate_serials": ["S00000007"],
            },
        ).json()
        assert lost["label"] == "一時停止"
        assert http.get("/v1/certificates/S00000007/status").json()["label"] == "一時保留"
        # 第4-3 found card: the held certificates are revoked, the card is 運用中 again.
        revoke = make_record(8)
        revoke_payload = revoke.to_payload()
        revoke_payload["certificates"] = [
            {"kind": "sign", "action": "revoked", "serial": "S00000007"}
        ]
        body = {
            "records": [
                _item(
                    2,
                    revoke_payload,
                    prev=up.store.db.execute(
                        "SELECT hash FROM transactions WHERE seq = 1"
                    ).fetchone()[0],
                )
            ]
        }
        assert http.post("/v1/batches", json=body).json()["results"][0]["status"] == "accepted"
        found = http.put("/v1/cards/card-1/operation-status", json={"status": "in_operation"})
        assert found.json()["label"] == "運用中"
        assert http.get("/v1/certificates/S00000007/status").json()["label"] == "失効"
        assert http.get("/v1/cards/123456789012/operation-status").status_code == 422
        assert http.put("/v1/cards/c/operation-status", json={"status": "x"}).status_code == 400


def test_simulated_issuing_authority_issues_test_certificates(
    server: ServerProcess, device_tls: Path
) -> None:
    key = pki.new_key()
    pem = (
        key.public_key()
        .public_bytes(
            pki.serialization.Encoding.PEM, pki.serialization.PublicFormat.SubjectPublicKeyInfo
        )
        .decode()
    )
    with server.client(device_tls) as http:
        doc = http.post(
            "/v1/sim/issuing-authority/certificates", json={"kind": "sign", "public_key_pem": pem}
        ).json()
        cert = pki.x509.load_pem_x509_certificate(doc["certificate_pem"].encode())
        assert "TEST JPKI" in pki.device_id_of(cert)
        assert http.get(f"/v1/certificates/{doc['serial']}/status").json()["status"] == "valid"


def test_requests_without_a_client_certificate_are_refused(
    server: ServerProcess, device_tls: Path
) -> None:
    context = tls_context(server.pki_dir / pki.CA_CERT)
    with httpx.Client(base_url=server.url, verify=context) as http:
        response = http.get("/v1/time")
        assert response.status_code == 401
        assert http.post("/v1/enrolment", json={"token": "nope", "csr_pem": "x"}).status_code == 400
        csr = pki.csr_pem(pki.make_csr(pki.new_key()))
        assert http.post("/v1/enrolment", json={"token": "nope", "csr_pem": csr}).status_code == 403


def test_revoked_device_gets_a_clear_error_and_loses_nothing(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    up = _uploader(tmp_path, server, device_tls)
    for i in range(3):
        up.store.record_transaction(make_record(i))
    with server.client(device_tls) as http:
        device_id = http.get("/v1/devices/me").json()["device_id"]
    repo = __import__("sync.server.repository", fromlist=["x"]).open_repository(server.db_url)
    repo.revoke_device(device_id, "2026-11-25T00:00:00+00:00")
    repo.close()
    result = up.send_round()
    assert result.error is not None
    assert "revoked" in result.error
    status = up.store.uploader_status()
    assert status.device_revoked
    assert status.queue_length == 3
    with pytest.raises(DeviceRefusedError):
        up.client.clock_skew()


def test_wrong_ca_is_a_clear_tls_error_and_loses_nothing(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    _, other_ca = pki.make_ca("some other CA")
    (device_tls / "ca.crt").write_bytes(pki.cert_pem(other_ca))
    up = _uploader(tmp_path, server, device_tls)
    up.store.record_transaction(make_record(1))
    result = up.send_round()
    assert result.error is not None
    assert "not signed by the configured CA" in result.error
    assert up.store.queue_length() == 1
    with pytest.raises(TlsTrustError):
        up.client.clock_skew()


def test_a_certificate_from_another_ca_is_refused_by_the_server(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    ca_key, ca_cert = pki.make_ca("rogue CA")
    key = pki.new_key()
    cert = pki.sign_device_csr(ca_key, ca_cert, pki.make_csr(key), "dev-rogue")
    (device_tls / "device.key").write_bytes(pki.key_pem(key))
    (device_tls / "device.crt").write_bytes(pki.cert_pem(cert))
    up = _uploader(tmp_path, server, device_tls)
    up.store.record_transaction(make_record(1))
    result = up.send_round()
    assert result.error is not None
    assert "certificate" in result.error
    assert up.store.queue_length() == 1


def test_no_pin_or_individual_number_in_payloads_or_either_database(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    """Scan every payload sent and every text cell of the device and server databases."""
    from device.records import find_forbidden_data

    up = _uploader(tmp_path, server, device_tls)
    for i in range(30):
        up.store.record_transaction(make_record(i))
    sent = [item.payload for item in up.store.pending(100)]
    up.drain()
    for payload in sent:
        assert find_forbidden_data(payload) is None
    device_cells = _all_text_cells_sqlite(up.store.path)
    if server.db_url.startswith("postgresql"):
        server_cells = _all_text_cells_postgres(server.db_url)
    else:
        server_cells = _all_text_cells_sqlite(Path(server.db_url))
    assert len(server_cells) > 30
    assert len(device_cells) > 30
    for cell in device_cells + server_cells:
        try:
            value = json.loads(cell)
        except ValueError:
            value = cell
        assert find_forbidden_data(value) is None, cell[:200]
        assert find_forbidden_data({"cell": cell}) is None, cell[:200]


def _all_text_cells_sqlite(path: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(path)
    cells: list[str] = []
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            cells.extend(_cell(v) for v in row if v is not None)
    conn.close()
    return cells


def _cell(value: object) -> str:
    """A cell as text. A float (a measured clock skew) is scanned by its integer part: an
    individual number stored as a float would show there, while its fraction's digits
    are a measurement's noise (「-0.0284423828125」 looked like 13 digits)."""
    if isinstance(value, float):
        return str(int(value))
    return str(value)


def _all_text_cells_postgres(url: str) -> list[str]:
    import psycopg

    cells: list[str] = []
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():
                cells.extend(_cell(v) for v in row if v is not None)
    return cells


def test_a_skewed_device_clock_is_measured_and_asks_for_the_date(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    """The device clock runs 10 minutes fast: the uploader measures the skew against the
    server's clock and the TUI's status says the clerk must confirm the date."""
    fast = lambda: time.time() + 600  # noqa: E731
    store = Store(tmp_path / "device.sqlite3")
    up = Uploader(store, SyncClient(server.url, device_tls, wall=fast), wall=fast, boot_id="b1")
    _OPEN.append(up)
    store.record_transaction(make_record(1))
    assert up.send_round().acked == 1
    status = store.uploader_status()
    assert status.clock_skew_s is not None
    assert 590 < status.clock_skew_s < 610
    assert status.date_needs_confirmation(120.0, boot_id="b1")
    assert up.send_round(ping=True).error is None  # an empty queue still checks the clock
    honest = Uploader(store, SyncClient(server.url, device_tls), boot_id="b1")
    _OPEN.append(honest)
    honest.send_round(ping=True)
    assert not store.uploader_status().date_needs_confirmation(120.0, boot_id="b1")


@pytest.mark.parametrize(
    "body",
    [
        {"status": "suspended", "reason": "lost\x00"},
        {"status": "suspended", "reason": "ok", "hold_certificate_serials": ["12\x003"]},
    ],
    ids=["nul-in-reason", "nul-in-serial"],
)
def test_an_unprintable_registry_update_is_a_400_on_either_database(
    server: ServerProcess, device_tls: Path, body: dict[str, object]
) -> None:
    # Found by schemathesis on PostgreSQL (a NUL in text is refused there: a 5xx before).
    with server.client(device_tls) as http:
        response = http.put("/v1/cards/card-nul/operation-status", json=body)
        assert response.status_code == 400, response.text
        assert http.get("/v1/cards/card-nul/operation-status").status_code == 404
