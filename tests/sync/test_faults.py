"""Fault tests with real processes on loopback: kill -9 of the uploader and of the
server at random points (200 trials, 0 lost, 0 duplicated), and a week-long outage
(simulated by an injected clock) after which the backlog drains.

Processes are forked from the test so that each restart costs milliseconds, not a
Python start-up; each is a real process killed with SIGKILL.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from device.store import Store
from sync import pki
from sync.client import SyncClient, tls_context
from sync.server.repository import open_repository
from sync.uploader import Backoff, Uploader
from tests.sync.conftest import ServerProcess
from tests.sync.sync_support import make_record

_fork = multiprocessing.get_context("fork")


def _serve(db_url: str, port: int, pki_dir: Path) -> None:
    from sync.server.run import serve

    serve(db_url, f"127.0.0.1:{port}", pki_dir)


def _upload_forever(store_path: Path, url: str, tls: Path) -> None:
    store = Store(store_path)
    uploader = Uploader(
        store, SyncClient(url, tls, timeout_s=2.0), batch_size=20, backoff=Backoff(0.01, 0.05)
    )
    uploader.run(threading.Event(), poll_interval_s=0.005)


def _start(target: Callable[..., None], *args: Any) -> Any:
    proc = _fork.Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def _kill(proc: Any) -> None:
    if proc is not None and proc.is_alive():
        os.kill(proc.pid, signal.SIGKILL)
    if proc is not None:
        proc.join()


def _wait_ready(url: str, pki_dir: Path, timeout: float = 10.0) -> None:
    context = tls_context(pki_dir / pki.CA_CERT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/v1/time", verify=context, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.01)
    raise AssertionError("server did not come back")


def _server_txns(db_url: str, device: str) -> list[str]:
    repo = open_repository(db_url)
    try:
        return [t for _, t, _ in _txn_rows(repo, device)]
    finally:
        repo.close()


def _txn_rows(repo: Any, device: str) -> list[tuple[int, str, str]]:
    with repo._transaction() as cur:
        cur.execute(
            repo._q("SELECT seq, transaction_id, hash FROM records WHERE device_id = ?"), [device]
        )
        return [(int(s), str(t), str(h)) for s, t, h in cur.fetchall()]


def test_kill_9_of_uploader_and_server_loses_and_duplicates_nothing(
    server_pki: Path, tmp_path: Path
) -> None:
    db_url = str(tmp_path / "server.sqlite3")
    handle = ServerProcess(db_url, server_pki)
    handle.start()  # the real CLI once, for enrolment; then forked restarts on the same port
    tls = tmp_path / "tls"
    device = handle.enrol(tls)
    handle.stop()
    store_path = tmp_path / "device.sqlite3"
    writer = Store(store_path)
    rng = random.Random(20261125)
    server = _start(_serve, db_url, handle.port, server_pki)
    _wait_ready(handle.url, server_pki)
    uploader = _start(_upload_forever, store_path, handle.url, tls)
    kills = {"uploader": 0, "server": 0}
    deadline = time.monotonic() + 90
    for trial in range(200):
        assert time.monotonic() < deadline, f"trials too slow (at {trial})"
        for _ in range(rng.randint(1, 8)):
            writer.record_transaction(make_record(trial))
        time.sleep(rng.uniform(0.0, 0.06))
        if trial % 2:
            _kill(server)
            kills["server"] += 1
            server = _start(_serve, db_url, handle.port, server_pki)
            _wait_ready(handle.url, server_pki)
        else:
            _kill(uploader)
            kills["uploader"] += 1
            uploader = _start(_upload_forever, store_path, handle.url, tls)
    deadline = time.monotonic() + 30
    while writer.queue_length() and time.monotonic() < deadline:
        time.sleep(0.05)
    _kill(uploader)
    _kill(server)
    assert kills == {"uploader": 100, "server": 100}
    assert writer.queue_length() == 0
    assert writer.outbox_states().get("quarantined", 0) == 0
    device_txns = [
        r[0] for r in writer.db.execute("SELECT transaction_id FROM transactions ORDER BY seq")
    ]
    server_txns = _server_txns(db_url, device)
    assert len(server_txns) == len(set(server_txns))  # 0 duplicated
    assert set(server_txns) == set(device_txns)  # 0 lost
    assert writer.verify_chain() == []
    repo = open_repository(db_url)
    info = repo.device(device)
    repo.close()
    assert info is not None
    assert info.high_water == len(device_txns)


def test_a_week_offline_then_the_backlog_drains(server_pki: Path, tmp_path: Path) -> None:
    db_url = str(tmp_path / "server.sqlite3")
    handle = ServerProcess(db_url, server_pki)
    handle.start()
    tls = tmp_path / "tls"
    device = handle.enrol(tls)
    handle.stop()  # the server goes down for a week
    store = Store(tmp_path / "device.sqlite3")
    clock = {"now": 1_800_000_000.0}
    start = clock["now"]
    week = 7 * 86400.0
    stop = threading.Event()
    delays: list[float] = []
    state: dict[str, Any] = {"server": None, "next_sale": start}

    def fake_sleep(seconds: float) -> None:
        delays.append(seconds)
        clock["now"] += seconds
        while clock["now"] >= state["next_sale"] and state["server"] is None:
            for i in range(10):  # a busy counter: 10 transactions every 3 hours
                store.record_transaction(make_record(i))
            state["next_sale"] += 3 * 3600
        if state["server"] is None and clock["now"] - start >= week:
            state["server"] = _start(_serve, db_url, handle.port, server_pki)
            _wait_ready(handle.url, server_pki)
        if state["server"] is not None and store.queue_length() == 0:
            stop.set()

    uploader = Uploader(
        store,
        SyncClient(handle.url, tls, timeout_s=2.0, wall=lambda: clock["now"]),
        batch_size=200,
        backoff=Backoff(1.0, 1800.0, rng=random.Random(1)),
        wall=lambda: clock["now"],
    )
    watchdog = threading.Timer(60, stop.set)
    watchdog.start()
    try:
        uploader.run(stop, poll_interval_s=1.0, sleep=fake_sleep)
    finally:
        watchdog.cancel()
        _kill(state["server"])
    backlog = store.db.execute("SELECT count(*) FROM transactions").fetchone()[0]
    assert backlog >= 10 * 56  # 56 three-hour slots in a week
    assert store.queue_length() == 0
    server_txns = _server_txns(db_url, device)
    assert len(server_txns) == len(set(server_txns)) == backlog
    assert max(delays) <= 1800.0  # the backoff stays capped over the week
    failures = sum(1 for d in delays if d != 1.0)
    assert week / 1800 < failures < week / 180  # kept retrying, without hammering
    status = store.uploader_status()
    assert status.last_error is None
    assert status.server_reachable


def test_two_server_processes_on_postgresql_neither_lose_nor_duplicate(
    server_pki: Path, tmp_path: Path, pg_cluster: Any
) -> None:
    """With --workers 2, overlapping uploads of one device's records race across
    processes; the per-device row lock keeps the outcome exact."""
    from madoguchi.bench.sync import _chained_items, _http

    db_url = pg_cluster.create_database("workers_race")
    server = ServerProcess(db_url, server_pki)
    server.workers = 2
    server.start()
    try:
        tls = tmp_path / "tls"
        device = server.enrol(tls)
        items = _chained_items(600)
        errors: list[BaseException] = []

        def send(order: list[int]) -> None:
            try:
                with _http(tls, server.url) as http:
                    for start in order:
                        response = http.post(
                            "/v1/batches", json={"records": items[start : start + 50]}
                        )
                        response.raise_for_status()
                        assert all(
                            r["status"] in ("accepted", "duplicate")
                            for r in response.json()["results"]
                        )
            except BaseException as exc:
                errors.append(exc)

        starts = list(range(0, 600, 50))
        threads = [threading.Thread(target=send, args=(order,)) for order in [starts] * 6]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors[0]
        txns = _server_txns(db_url, device)
        assert len(txns) == len(set(txns)) == 600
        repo = open_repository(db_url)
        info = repo.device(device)
        repo.close()
        assert info is not None
        assert info.high_water == 600
    finally:
        server.stop()
