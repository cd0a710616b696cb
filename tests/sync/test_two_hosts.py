"""Two central-server hosts on one PostgreSQL behind HAProxy in TCP mode (issue 15).

Real ``madoguchi server run`` processes on separate state directories, Debian's HAProxy
passing the mutual TLS through to them (``tests/support/server_hosts.py``): a counter
enrolled through one host uploads through the other, and both hosts answer the same
records, chain and registries; then ``kill -9`` of the host that is receiving, in the
middle of the real uploader's batches through HAProxy: the other host ends with every
record exactly once, the chain intact.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from device.store import Store
from sync.client import SyncClient
from sync.server.repository import open_repository
from sync.uploader import Backoff, Uploader
from tests.support.server_hosts import ServerHosts, device_client, two_hosts
from tests.sync.sync_support import make_record

__all__ = ["two_hosts"]  # the fixture, imported for pytest


def _answers(hosts: ServerHosts, tls: Path, device: str, paths: list[str]) -> list[dict[str, Any]]:
    """What each host answers to each path (the device's own certificate)."""
    out = []
    for host in hosts.hosts:
        with device_client(tls, host) as http:
            answers: dict[str, Any] = {}
            for path in paths:
                response = http.get(path)
                assert response.status_code == 200, (host.url, path, response.text)
                answer = response.json()
                answer.pop("server_time", None)  # each host's own clock
                answers[path] = answer
            out.append(answers)
    return out


def test_enrol_on_one_host_upload_on_the_other_read_from_both(
    two_hosts: ServerHosts, tmp_path: Path
) -> None:
    second = two_hosts.hosts[1]
    tls = tmp_path / "tls"
    device = two_hosts.enrol(tls, "counter-1")  # through the signer's own address
    store = Store(tmp_path / "device.sqlite3")
    for i in range(30):
        store.record_transaction(make_record(i))
    with SyncClient(second.url, tls) as client:
        assert Uploader(store, client, batch_size=8).drain() == 30
    assert store.queue_length() == 0
    # a registry change through the second host, read back through the signer
    with device_client(tls, second) as http:
        put = http.put(
            "/v1/cards/card-0001/operation-status",
            json={"status": "suspended", "reason": "紛失届", "hold_certificate_serials": []},
        )
        assert put.status_code == 200, put.text
    paths = [
        "/v1/devices/me",
        f"/v1/devices/{device}/chain",
        "/v1/reports/daily?date=2026-11-25",
        "/v1/certificates/S00000007/status",
        "/v1/cards/card-0001/operation-status",
        "/v1/registry/audit",
    ]
    on_signer, on_second = _answers(two_hosts, tls, device, paths)
    assert on_signer == on_second
    assert on_signer["/v1/devices/me"]["high_water"] == 30
    chain = on_signer[f"/v1/devices/{device}/chain"]
    assert (chain["gaps"], chain["breaks"]) == ([], []), chain
    assert on_signer["/v1/certificates/S00000007/status"]["status"] == "valid"
    assert on_signer["/v1/cards/card-0001/operation-status"]["status"] == "suspended"
    # and through the balancer, whichever host answers
    with device_client(tls, two_hosts) as http:
        for _ in range(4):
            http.headers["Connection"] = "close"  # a new connection: round robin
            assert http.get("/v1/devices/me").json()["high_water"] == 30


def _server_rows(db_url: str, device: str) -> list[tuple[int, str]]:
    repo = open_repository(db_url, pool_size=1)
    try:
        with repo._transaction() as cur:
            cur.execute(
                repo._q("SELECT seq, transaction_id FROM records WHERE device_id = ?"), [device]
            )
            return [(int(s), str(t)) for s, t in cur.fetchall()]
    finally:
        repo.close()


def test_kill_9_of_one_host_mid_batch_loses_and_duplicates_nothing(
    two_hosts: ServerHosts, tmp_path: Path
) -> None:
    tls = tmp_path / "tls"
    device = two_hosts.enrol(tls, "counter-2")
    total = 3000
    writer = Store(tmp_path / "device.sqlite3", queue_bound=total + 10)
    for i in range(total):
        writer.record_transaction(make_record(i))
    daemon_store = Store(tmp_path / "device.sqlite3")
    client = SyncClient(two_hosts.url, tls, timeout_s=10.0)
    uploader = Uploader(daemon_store, client, batch_size=50, backoff=Backoff(0.05, 0.5))
    stop = threading.Event()
    thread = threading.Thread(
        target=uploader.run, args=(stop,), kwargs={"poll_interval_s": 0.01}, daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(_server_rows(two_hosts.db_url, device)) < total // 5:
            assert time.monotonic() < deadline, "the upload did not start"
            time.sleep(0.02)
        victim = two_hosts.host_serving()
        survivor = next(h for h in two_hosts.hosts if h is not victim)
        # Frozen first, so the kill lands on a request in flight: killed between two
        # batches, the host would close an idle connection and the uploader would simply
        # open a new one, which tests nothing.
        victim.freeze()
        stored_before = len(_server_rows(two_hosts.db_url, device))
        time.sleep(0.5)
        assert len(_server_rows(two_hosts.db_url, device)) == stored_before, (
            "the upload went on with the chosen host frozen: it was not the one serving"
        )
        victim.kill()  # SIGKILL, in the middle of the request the uploader waits on
        deadline = time.monotonic() + 90
        while writer.queue_length() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
        client.close()
    assert stored_before < total, "the host was killed after the upload had finished"
    assert writer.queue_length() == 0
    assert writer.outbox_states().get("quarantined", 0) == 0
    # the kill cost the uploader at least one failed attempt, retried through HAProxy
    retried = writer.db.execute("SELECT count(*) FROM outbox WHERE attempts > 0").fetchone()[0]
    assert retried > 0
    rows = _server_rows(two_hosts.db_url, device)
    txns = [t for _, t in rows]
    device_txns = [
        r[0] for r in writer.db.execute("SELECT transaction_id FROM transactions ORDER BY seq")
    ]
    assert len(txns) == len(set(txns)) == total  # 0 duplicated
    assert set(txns) == set(device_txns)  # 0 lost
    assert sorted(s for s, _ in rows) == list(range(1, total + 1))
    assert writer.verify_chain() == []
    with device_client(tls, survivor) as http:
        me = http.get("/v1/devices/me").json()
        chain = http.get(f"/v1/devices/{device}/chain").json()
    assert me["high_water"] == total
    assert (chain["gaps"], chain["breaks"], chain["rejected"]) == ([], [], []), chain


def test_bench_server_measures_one_host_and_two_in_the_same_run() -> None:
    import json
    import subprocess
    import sys

    from tests.sync.conftest import ROOT

    result = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "bench", "server", "--json", "--parts",
         "scaleout", "--scale-devices", "4", "--scale-records", "800", "--scale-repeat", "2"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    one, two = figures["ingest_tps_postgres_1host"], figures["ingest_tps_postgres_2hosts"]
    assert one > 0
    assert two > 0
    assert abs(figures["scaleout_ratio"] - two / one) < 0.01
    assert [len(v) for v in figures["scaleout_runs_tps"].values()] == [2, 2]
    for cores in figures["scaleout_cpu_cores_1host"] + figures["scaleout_cpu_cores_2hosts"]:
        assert cores["hosts"] > 0
        assert cores["postgres"] > 0
        assert cores["records_per_server_cpu_s"] > 0
    assert "report_rows" not in figures  # --parts: only what was asked
