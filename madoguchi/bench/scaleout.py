"""Central server: ingest on one host and on two hosts behind HAProxy, same run, same load.

Two real ``madoguchi server run`` hosts (one process each) on one PostgreSQL database
(:mod:`sync.serverhosts`: the first signs enrolments, the second has its certificate from
it), and two HAProxy front ends in TCP mode: one in front of the first host only, one in
front of both. The same load goes through each in turn: ``--scale-devices`` devices
(enrolled once), each uploading the next ``--scale-records / --scale-devices`` records of
its own chain (its own certificate serials) in batches of ``--scale-batch`` over its own
new kept-alive connection, all at once from threads of this process (bodies encoded
before the clock starts). Every record must be ``accepted``; a batch answered 503
(the server's storage timed out under load: nothing stored) is sent again, as the
uploader would, and counted (``batches_503_resent``).

- ``ingest_tps_postgres_1host``, ``ingest_tps_postgres_2hosts``: records stored per second.
- ``scaleout_ratio``: 2 hosts ÷ 1 host (target ≥ 1.6); each the median of
  ``--scale-repeat`` runs, alternated.
- ``scaleout_cpu_cores_*``: CPU each component used during each run, in cores (CPU
  seconds ÷ wall seconds, from ``/proc``): the hosts, PostgreSQL (the postmaster and its
  backends), HAProxy, and this client; and ``machine_busy``, what every process on the
  machine used (ours and other tenants'). With ``machine_cpus`` it says what bounds the
  ratio; ``records_per_server_cpu_s`` is what a record costs the servers, whatever share
  of the machine they got.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from device.store import GENESIS_HASH, record_hash
from madoguchi.bench.procstat import children_of, cpu_seconds, machine_busy_seconds
from madoguchi.bench.sync import _http, _record

log = logging.getLogger(__name__)


def _device_items(device: int, count: int) -> list[dict[str, Any]]:
    """A device's chain of ``count`` records whose certificate serials are its own (as
    real serials are: two devices never issue the same certificate)."""
    items, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        payload = _record((device + 1) * 10_000_000 + seq).to_payload()
        digest = record_hash(seq, prev, payload)
        items.append({"seq": seq, "transaction_id": payload["transaction_id"],
                      "prev_hash": prev, "hash": digest, "payload": payload})  # fmt: skip
        prev = digest
    return items


def _postgres_cpu_s(data_dir: Path) -> float:
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    backends = sum(cpu_seconds(p) for p in children_of(postmaster))
    return cpu_seconds(postmaster, children=True) + backends


def _snapshot(hosts: list[Any], haproxy_pid: int, data_dir: Path) -> dict[str, float]:
    times = os.times()
    return {
        "machine_busy": machine_busy_seconds(),
        "hosts": sum(cpu_seconds(h.proc.pid, children=True) for h in hosts),
        "postgres": _postgres_cpu_s(data_dir),
        "haproxy": cpu_seconds(haproxy_pid),
        "client": times.user + times.system,
    }


def _fleet(group: Any, args: argparse.Namespace, runs: int) -> list[tuple[Path, list[bytes]]]:
    """The devices, enrolled once (the enrolment endpoint's rate limit allows a burst of
    20), each with its whole chain for every run, encoded by batch."""
    devices = max(1, args.scale_devices)
    # whole batches, so that each run takes its own slice of every chain
    per_run = max(1, args.scale_records // devices // args.scale_batch) * args.scale_batch
    base = Path(group.signer.pki_dir).parents[1]
    fleet = []
    for n in range(devices):
        tls = base / f"tls-{n}"
        group.enrol(tls, f"bench-{n:03d}")
        items = _device_items(n, per_run * runs)
        fleet.append((tls, [
            json.dumps({"records": items[i : i + args.scale_batch]}).encode()
            for i in range(0, len(items), args.scale_batch)
        ]))  # fmt: skip
    return fleet


def _run_load(
    fleet: list[tuple[Path, list[bytes]]], hosts: list[Any], *, run: int, runs: int,
    url: str, haproxy_pid: int, data_dir: Path, name: str,
) -> tuple[float, dict[str, Any]]:
    """Run ``run`` of ``runs`` through ``url`` (each device's next slice of its chain):
    records per second, each component's cores, and how many batches had to be sent
    again after a 503 (the server's storage timed out)."""
    clients: list[tuple[httpx.Client, list[bytes]]] = []
    sent = 0
    for tls, all_bodies in fleet:
        share = len(all_bodies) // runs
        bodies = all_bodies[run * share : (run + 1) * share]
        sent += sum(len(json.loads(b)["records"]) for b in bodies)
        http = _http(tls, url)
        http.get("/v1/devices/me").raise_for_status()  # connected, TLS done, host chosen
        clients.append((http, bodies))
    errors: list[BaseException] = []
    retried: list[str] = []

    def upload(http: httpx.Client, bodies: list[bytes]) -> None:
        try:
            for body in bodies:
                for _ in range(20):
                    response = http.post(
                        "/v1/batches", content=body, headers={"content-type": "application/json"}
                    )
                    if response.status_code != 503:
                        break
                    # what the uploader does with a 503 (nothing was stored): again, later
                    retried.append(response.text[:200])
                    time.sleep(0.2)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
                statuses = {r["status"] for r in response.json()["results"]}
                if statuses - {"accepted", "duplicate"}:
                    raise RuntimeError(f"ingest refused records: {response.text[:200]}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=pair) for pair in clients]
    before = _snapshot(hosts, haproxy_pid, data_dir)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    after = _snapshot(hosts, haproxy_pid, data_dir)
    for http, _ in clients:
        http.close()
    if errors:
        raise RuntimeError(f"ingest through {name} failed: {errors[0]}")
    cores: dict[str, Any] = {k: round((after[k] - before[k]) / elapsed, 2) for k in before}
    if retried:
        log.warning("%d batches answered 503 and were sent again: %s", len(retried), retried[0])
    cores["batches_503_resent"] = len(retried)
    # the servers' cost per record, whatever share of the machine they were given
    server_cpu = sum(after[k] - before[k] for k in ("hosts", "postgres", "haproxy"))
    cores["records_per_server_cpu_s"] = round(sent / max(server_cpu, 1e-9))
    return sent / elapsed, cores


def measure(args: argparse.Namespace, cluster: Any, db_url: str) -> dict[str, Any]:
    """The scale-out figures (see the module's description)."""
    from sync.serverhosts import Balancer, start_server_hosts

    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-scaleout-") as work:
        base = Path(work)
        group = start_server_hosts(db_url, base / "hosts", count=2)
        one = Balancer(base / "haproxy-1host.cfg")
        try:
            one.start([("host0", group.hosts[0].port)])
            if one.proc is None or group.balancer.proc is None:
                raise RuntimeError("HAProxy did not start")
            fronts = {
                "1host": (one.url, one.proc.pid),
                "2hosts": (group.url, group.balancer.proc.pid),
            }
            runs: dict[str, list[tuple[float, dict[str, Any]]]] = {k: [] for k in fronts}
            total = 2 * max(1, args.scale_repeat)
            fleet = _fleet(group, args, total)
            # alternated (1, 2, 2, 1, 1, 2 …) so that a change in the machine's load
            # between runs weighs on both alike
            for repeat in range(max(1, args.scale_repeat)):
                order = list(fronts) if repeat % 2 == 0 else list(reversed(fronts))
                for name in order:
                    url, pid = fronts[name]
                    runs[name].append(_run_load(
                        fleet, group.hosts, run=sum(map(len, runs.values())), runs=total,
                        url=url, haproxy_pid=pid, data_dir=cluster.data, name=name,
                    ))
        finally:
            one.stop()
            group.stop()
    tps_1 = statistics.median(t for t, _ in runs["1host"])
    tps_2 = statistics.median(t for t, _ in runs["2hosts"])
    return {
        "ingest_tps_postgres_1host": round(tps_1, 1),
        "ingest_tps_postgres_2hosts": round(tps_2, 1),
        "scaleout_ratio": round(tps_2 / tps_1, 2),
        "scaleout_runs_tps": {k: [round(t, 1) for t, _ in v] for k, v in runs.items()},
        "scaleout_repeat": args.scale_repeat,
        "scaleout_devices": args.scale_devices,
        "scaleout_records": args.scale_records,
        "scaleout_batch": args.scale_batch,
        "scaleout_workers_per_host": 1,
        "scaleout_cpu_cores_1host": [c for _, c in runs["1host"]],
        "scaleout_cpu_cores_2hosts": [c for _, c in runs["2hosts"]],
        "machine_cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
