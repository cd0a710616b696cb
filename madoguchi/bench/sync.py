"""Sync: server ingest rate on SQLite and PostgreSQL, batching gain, backlog drain, ack latency.

Everything runs for real on loopback: ``madoguchi server run`` in a child process
with mutual TLS, a throwaway PostgreSQL cluster (:mod:`sync.pgcluster`), the
device store in a temporary directory, and the uploader with its real client.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from device.records import CertificateAction, Decision, Reason, TransactionRecord
from device.store import GENESIS_HASH, Store, record_hash


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``madoguchi bench sync``."""
    parser.add_argument("--records", type=int, default=20_000, help="records per ingest run")
    parser.add_argument("--batch", type=int, default=500, help="records per ingest request")
    parser.add_argument("--singles", type=int, default=500, help="one-per-request sample size")
    parser.add_argument("--backlog", type=int, default=10_000, help="backlog to drain")
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--devices", type=int, default=4, help="devices uploading at once")
    parser.add_argument("--workers", type=int, default=2, help="server processes (PostgreSQL)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")


def _record(index: int) -> TransactionRecord:
    import uuid

    return TransactionRecord(
        transaction_id=str(uuid.uuid4()),
        procedure="2-1-1",
        actor="self",
        decision=Decision.CONTINUE,
        reasons=(Reason("第2-1-(1)-ア-(イ)-B", "本人確認書類の提示により確認"),),
        rule_version="改正後",
        operator_id=f"op-{index % 5}",
        started_at="2026-11-25T09:00:00+09:00",
        completed_at="2026-11-25T09:05:00+09:00",
        office_code="131016",
        checks=("id_document", "operation_status"),
        certificates=(
            CertificateAction("sign", "issued", f"S{index:09d}"),
            CertificateAction("auth", "issued", f"A{index:09d}"),
        ),
        fee_collected_yen=200,
        fee_payable_jlis_yen=200,
    )


def _chained_items(count: int) -> list[dict[str, Any]]:
    items = []
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        payload = _record(seq).to_payload()
        digest = record_hash(seq, prev, payload)
        items.append(
            {
                "seq": seq,
                "transaction_id": payload["transaction_id"],
                "prev_hash": prev,
                "hash": digest,
                "payload": payload,
            }
        )
        prev = digest
    return items


def _http(tls: Path, url: str) -> httpx.Client:
    from sync.client import DEVICE_CERT, DEVICE_KEY, SERVER_CA, tls_context

    context = tls_context(tls / SERVER_CA, tls / DEVICE_CERT, tls / DEVICE_KEY)
    return httpx.Client(base_url=url, verify=context, timeout=60.0)


def _ingest_tps(http: httpx.Client, items: list[dict[str, Any]], batch: int) -> float:
    # Bodies are encoded before the clock starts: the figure is the server's rate,
    # not the benchmark client's JSON encoder.
    bodies = [
        json.dumps({"records": items[start : start + batch]}).encode()
        for start in range(0, len(items), batch)
    ]
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    for body in bodies:
        response = http.post("/v1/batches", content=body, headers=headers)
        response.raise_for_status()
        results = response.json()["results"]
        if any(r["status"] != "accepted" for r in results):
            raise RuntimeError(f"ingest refused records: {results[:2]}")
    return len(items) / (time.perf_counter() - started)


def _concurrent_ingest(server: Any, base: Path, name: str, args: argparse.Namespace) -> float:
    """Several devices upload their own chains at once (as a municipality's counters do)."""
    per_device = args.records // args.devices
    clients = []
    for n in range(args.devices):
        tls = base / f"tls-{name}-{n}"
        server.enrol(tls)
        clients.append((_http(tls, server.url), _chained_items(per_device)))
    errors: list[BaseException] = []

    def upload(http: httpx.Client, items: list[dict[str, Any]]) -> None:
        try:
            _ingest_tps(http, items, args.batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=pair) for pair in clients]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for http, _ in clients:
        http.close()
    if errors:
        raise RuntimeError(f"concurrent ingest failed: {errors[0]}")
    return float(per_device * args.devices / elapsed)


def _server_run(db_url: str, base: Path, name: str, args: argparse.Namespace) -> dict[str, Any]:
    from sync import pki
    from sync.localserver import LocalServer

    pki_dir = base / "pki"
    pki.init_server_pki(pki_dir)
    # SQLite serialises writers on its file lock, so extra processes only contend;
    # PostgreSQL ingests from several processes at once.
    workers = args.workers if name == "postgres" else 1
    server = LocalServer(db_url, pki_dir, workers=workers)
    server.start()
    try:
        out: dict[str, Any] = {}
        tls = base / f"tls-{name}"
        server.enrol(tls)
        items = _chained_items(args.records // args.devices)
        with _http(tls, server.url) as http:
            out[f"ingest_tps_{name}_one_device"] = round(_ingest_tps(http, items, args.batch), 1)
        out[f"ingest_tps_{name}"] = round(_concurrent_ingest(server, base, name, args), 1)
        if name == "sqlite":
            tls2 = base / "tls-single"
            server.enrol(tls2)
            sample = _chained_items(args.singles)
            with _http(tls2, server.url) as http:
                single = _ingest_tps(http, sample, 1)
            tls3 = base / "tls-batched"
            server.enrol(tls3)
            with _http(tls3, server.url) as http:
                batched = _ingest_tps(http, _chained_items(args.singles), args.singles)
            out["single_request_tps_sqlite"] = round(single, 1)
            out["batch_vs_single_ratio"] = round(batched / single, 1)
            out.update(_drain_and_latency(server, base, args))
        return out
    finally:
        server.stop()


def _drain_and_latency(server: Any, base: Path, args: argparse.Namespace) -> dict[str, Any]:
    from sync.client import SyncClient
    from sync.uploader import Uploader

    tls = base / "tls-drain"
    server.enrol(tls)
    store = Store(base / "device.sqlite3", queue_bound=args.backlog + 10)
    for i in range(args.backlog):
        store.record_transaction(_record(i))
    client = SyncClient(server.url, tls)
    uploader = Uploader(store, client, batch_size=200)
    started = time.perf_counter()
    acked = uploader.drain()
    drain_s = time.perf_counter() - started
    if acked != args.backlog or store.queue_length():
        raise RuntimeError(f"drain acknowledged {acked} of {args.backlog}")
    # Latency: the daemon loop in a thread with its own store connection, as in
    # production; a transaction is "completed" when record_transaction commits.
    daemon_store = Store(base / "device.sqlite3")
    daemon = Uploader(daemon_store, client, batch_size=200)
    stop = threading.Event()
    thread = threading.Thread(
        target=daemon.run, args=(stop,), kwargs={"poll_interval_s": 0.05}, daemon=True
    )
    thread.start()
    latencies = []
    try:
        for i in range(args.latency_samples):
            t0 = time.perf_counter()
            item = store.record_transaction(_record(100_000 + i))
            while True:
                row = store.db.execute(
                    "SELECT state FROM outbox WHERE seq = ?", [item.seq]
                ).fetchone()
                if row[0] == "acked":
                    break
                time.sleep(0.001)
            latencies.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
        client.close()
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    return {
        "backlog_10k_drain_s": round(drain_s, 2),
        "backlog_records": args.backlog,
        "drain_batch_size": 200,
        "ack_latency_ms_p50": round(statistics.median(latencies), 1),
        "ack_latency_ms_p99": round(p99, 1),
        "ack_poll_interval_ms": 50,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure and return the figures."""
    from sync.pgcluster import PgCluster

    result: dict[str, Any] = {
        "ingest_batch_size": args.batch,
        "ingest_records": args.records,
        "ingest_devices": args.devices,
        "server_workers_postgres": args.workers,
        "server_workers_sqlite": 1,
    }
    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-sync-") as tmp:
        base = Path(tmp)
        result.update(_server_run(str(base / "server.sqlite3"), base / "s", "sqlite", args))
        if not args.no_postgres:
            with PgCluster() as cluster:
                url = cluster.create_database("bench")
                result.update(_server_run(url, base / "p", "postgres", args))
    result["targets_met"] = {
        "ingest_sqlite_ge_5000": result["ingest_tps_sqlite"] >= 5000,
        "ingest_postgres_ge_5000": result.get("ingest_tps_postgres", 0) >= 5000,
        "batching_ge_10x": result["batch_vs_single_ratio"] >= 10,
        "backlog_10k_le_10s": result["backlog_10k_drain_s"] <= 10,
    }
    return result
