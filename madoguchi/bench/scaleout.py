"""Central server: ingest on one host and on two hosts behind HAProxy, same run, same load.

Two real ``madoguchi server run`` hosts (one process each) on one PostgreSQL database
(:mod:`sync.serverhosts`: the first signs enrolments, the second has its certificate from
it), and two HAProxy front ends in TCP mode: one in front of the first host only, one in
front of both. The same load goes through each in turn: ``--scale-devices`` enrolled
devices (new ones each time, so both runs write the same kind of rows), each uploading its
own chain of ``--scale-records / --scale-devices`` records in batches of ``--scale-batch``
over its own kept-alive connection, all at once from threads of this process (bodies
encoded before the clock starts). Every record must be ``accepted``.

- ``ingest_tps_postgres_1host``, ``ingest_tps_postgres_2hosts``: records stored per second.
- ``scaleout_ratio``: 2 hosts ÷ 1 host (target ≥ 1.6).
- ``scaleout_cpu_cores_*``: CPU each component used during each run, in cores (CPU
  seconds ÷ wall seconds, from ``/proc``): the hosts, PostgreSQL (the postmaster and its
  backends), HAProxy, and this client; and ``machine_busy``, what every process on the
  machine used (ours and other tenants'). With ``machine_cpus`` it says what bounds the
  ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from madoguchi.bench.sync import _chained_items, _http

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int, *, children: bool = False) -> float:
    """CPU seconds of ``pid`` (user + system; with ``children``, its reaped children's too)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime 14, stime 15, cutime 16, cstime 17
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def _children_of(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            pids.append(int(entry.name))
    return pids


def _postgres_cpu_s(data_dir: Path) -> float:
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    return _cpu_s(postmaster, children=True) + sum(_cpu_s(p) for p in _children_of(postmaster))


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (every process, ours and others'):
    ``/proc/stat``'s first line less idle and iowait."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _TICK


def _snapshot(hosts: list[Any], haproxy_pid: int, data_dir: Path) -> dict[str, float]:
    times = os.times()
    return {
        "machine_busy": _machine_busy_s(),
        "hosts": sum(_cpu_s(h.proc.pid, children=True) for h in hosts),
        "postgres": _postgres_cpu_s(data_dir),
        "haproxy": _cpu_s(haproxy_pid),
        "client": times.user + times.system,
    }


def _run_load(
    group: Any, *, url: str, haproxy_pid: int, data_dir: Path, name: str,
    args: argparse.Namespace,
) -> tuple[float, dict[str, float]]:
    """The load through ``url``: records per second, and each component's cores."""
    devices = max(1, args.scale_devices)
    per_device = max(1, args.scale_records // devices)
    base = Path(group.signer.pki_dir).parents[1]
    clients: list[tuple[httpx.Client, list[bytes]]] = []
    for n in range(devices):
        tls = base / f"tls-{name}-{n}"
        group.enrol(tls, f"bench-{name}-{n:03d}")
        items = _chained_items(per_device)
        bodies = [
            json.dumps({"records": items[i : i + args.scale_batch]}).encode()
            for i in range(0, len(items), args.scale_batch)
        ]
        http = _http(tls, url)
        http.get("/v1/devices/me").raise_for_status()  # connected, TLS done, host chosen
        clients.append((http, bodies))
    errors: list[BaseException] = []

    def upload(http: httpx.Client, bodies: list[bytes]) -> None:
        try:
            for body in bodies:
                response = http.post(
                    "/v1/batches", content=body, headers={"content-type": "application/json"}
                )
                response.raise_for_status()
                if any(r["status"] != "accepted" for r in response.json()["results"]):
                    raise RuntimeError(f"ingest refused records: {response.text[:200]}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=pair) for pair in clients]
    before = _snapshot(group.hosts, haproxy_pid, data_dir)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    after = _snapshot(group.hosts, haproxy_pid, data_dir)
    for http, _ in clients:
        http.close()
    if errors:
        raise RuntimeError(f"ingest through {name} failed: {errors[0]}")
    cores = {k: round((after[k] - before[k]) / elapsed, 2) for k in before}
    return per_device * devices / elapsed, cores


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
            tps_1, cores_1 = _run_load(
                group, url=one.url, haproxy_pid=one.proc.pid, data_dir=cluster.data,
                name="1host", args=args,
            )
            tps_2, cores_2 = _run_load(
                group, url=group.url, haproxy_pid=group.balancer.proc.pid,
                data_dir=cluster.data, name="2hosts", args=args,
            )
        finally:
            one.stop()
            group.stop()
    return {
        "ingest_tps_postgres_1host": round(tps_1, 1),
        "ingest_tps_postgres_2hosts": round(tps_2, 1),
        "scaleout_ratio": round(tps_2 / tps_1, 2),
        "scaleout_devices": args.scale_devices,
        "scaleout_records": args.scale_records,
        "scaleout_batch": args.scale_batch,
        "scaleout_workers_per_host": 1,
        "scaleout_cpu_cores_1host": cores_1,
        "scaleout_cpu_cores_2hosts": cores_2,
        "machine_cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
