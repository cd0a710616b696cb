"""Central server: the daily 交付状況 report of one day of many records, summed by PostgreSQL.

One business day of ``--records`` records (default 1,000,000) across ``--offices`` offices
(default 1,000) in a throwaway PostgreSQL cluster (``sync.pgcluster``), their report facts
made by the server's own code (``SqlRepository.write_report_facts``, what ingest writes),
then the whole day's report (every office) and one office's, timed as
``SqlRepository.daily_report`` runs them: the median of ``--repeat`` runs.

``report_day_1m_records_s`` (issue 15, target ≤ 2 s) is given for 1,000,000 records only;
other sizes give ``report_day_records_s`` with ``records``.

``poll_rps`` (target ≥ 1,000): a real ``madoguchi server run`` (PostgreSQL, ``--workers 2``,
mutual TLS, IT's update delivery under ``/updates``) with ``--devices`` enrolled devices
(10,000; the table filled directly, ``--pollers`` of them enrolled through the enrolment
endpoint for their certificates), and those pollers, each a process of its own with
``http.client``, asking for the latest release of their channel over kept-alive connections
for ``--poll-s`` seconds: answers per second. With it: ``poll_server_cpu_ms`` (what one poll
cost the server's processes), ``poll_client_cores`` (the pollers' share of the machine) and
``poll_machine_busy`` (every process's), so a figure bound by the machine says so.

``ingest_tps_postgres_1host``, ``ingest_tps_postgres_2hosts`` and ``scaleout_ratio``
(target ≥ 1.6): :mod:`madoguchi.bench.scaleout`. ``--parts`` picks what runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

DAY = "2026-11-25"
#: Records made and written per transaction while filling the day.
CHUNK = 20_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=1_000_000, help="records in the day")
    parser.add_argument("--offices", type=int, default=1_000, help="offices they belong to")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (median)")
    parser.add_argument("--devices", type=int, default=10_000, help="enrolled devices (polls)")
    parser.add_argument("--pollers", type=int, default=8, help="devices polling at once")
    parser.add_argument("--poll-s", type=float, default=5.0, help="how long they poll")
    parser.add_argument(
        "--parts", default="report,polls,scaleout",
        help="what to measure, comma-separated: report, polls, scaleout",
    )
    parser.add_argument("--scale-devices", type=int, default=8, help="devices uploading at once")
    parser.add_argument("--scale-records", type=int, default=24_000, help="records per host set")
    parser.add_argument("--scale-batch", type=int, default=200, help="records per request")
    parser.add_argument("--scale-repeat", type=int, default=3, help="runs of each (median)")


def _payload(i: int) -> dict[str, Any]:
    """A record's report-relevant part: issuances, renewals, a revocation now and then,
    fees that do not always split evenly."""
    kinds = (("sign", "auth"), ("auth",), ("sign",), ())[i % 4]
    action = ("issued", "issued", "renewed", "revoked")[i % 4 if i % 7 else 3]
    return {
        "certificates": [{"kind": k, "action": action, "serial": f"S{i}{k}"} for k in kinds],
        "fee_collected_yen": (0, 200, 201, 1000)[i % 4],
        "fee_payable_jlis_yen": (0, 200, 199, 1000)[i % 4],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sync.pgcluster import PgCluster

    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"report", "polls", "scaleout"}
    if unknown:
        from madoguchi.errors import ConfigError

        raise ConfigError(f"unknown --parts: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    with PgCluster() as cluster:
        if "report" in parts:
            out.update(_report(args, cluster.create_database("bench_report")))
        if "polls" in parts:
            out.update(_polls(args, cluster.create_database("bench_polls")))
        if "scaleout" in parts:
            from madoguchi.bench.scaleout import measure

            out.update(measure(args, cluster, cluster.create_database("bench_scaleout")))
    return out


def _polls(args: argparse.Namespace, db_url: str) -> dict[str, Any]:
    import tempfile
    from datetime import UTC, datetime
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from sync import pki
    from sync.localserver import LocalServer
    from sync.server.repository import open_repository

    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-polls-") as work:
        base = Path(work)
        key, token = base / "it-key.pem", base / "it.token"
        key.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
        token.write_text("bench-it-token-0123456789abcdef\n")
        token.chmod(0o600)
        server = LocalServer(db_url, base / "pki", simulate=False, workers=2, extra_args=(
            "--update-keys", str(key), "--publish-token-file", str(token),
            "--updates-dir", str(base / "updates")))
        pki.init_server_pki(base / "pki")
        server.start()
        try:
            repo = open_repository(db_url, pool_size=1)
            try:
                now = datetime.now(UTC).isoformat()
                with repo._transaction() as cur:
                    repo.dialect.insert_rows(cur, "devices", (
                        ("device_id", "text"), ("office_code", "text"),
                        ("cert_serial", "text"), ("status", "text"), ("enrolled_at", "text"),
                    ), [(f"fleet-{i:05d}", f"{100000 + i % 1000}", f"fleet-serial-{i}",
                         "active", now) for i in range(max(0, args.devices - args.pollers))])
            finally:
                repo.close()
            tls_dirs = []
            for n in range(args.pollers):
                tls = base / f"poller-{n}"
                server.enrol(tls, f"poller-{n:03d}")
                tls_dirs.append(tls)
            polled = _poll_rps(server, tls_dirs, args.poll_s)
        finally:
            server.stop()
    return {
        **polled,
        "poll_devices_enrolled": args.devices,
        "pollers": args.pollers,
        "poll_server_workers": 2,
    }


#: What a counter's update timer asks (nothing published here: 204).
POLL_PATH = "/updates/releases/stable/latest"


def _poll_rps(server: Any, tls_dirs: list[Any], seconds: float) -> dict[str, Any]:
    """Each poller, a process of its own, asks for the latest release over one kept-alive
    connection for ``seconds``: answers per second, all told, and what they cost.

    The pollers are processes with the standard library's ``http.client``: the load must
    come from the client's share of the machine, not wait on one interpreter's lock (8
    threads of httpx took 0.6 of the 2 cores and held ``poll_rps`` near 900 while the
    server had CPU to spare)."""
    import multiprocessing

    from madoguchi.bench.procstat import children_of, cpu_seconds, machine_busy_seconds

    spawn = multiprocessing.get_context("spawn")
    go = spawn.Barrier(len(tls_dirs) + 1)
    results = spawn.Queue()
    port = int(server.url.rsplit(":", 1)[1])
    pollers = [
        spawn.Process(target=_poller, args=(port, str(tls), go, seconds, results), daemon=True)
        for tls in tls_dirs
    ]
    for poller in pollers:
        poller.start()

    def server_cpu_s() -> float:
        pid = server.proc.pid
        return cpu_seconds(pid) + sum(cpu_seconds(child) for child in children_of(pid))

    go.wait(timeout=60)  # every connection up and warm before the clock starts
    cpu0, busy0, started = server_cpu_s(), machine_busy_seconds(), time.perf_counter()
    answers = [results.get(timeout=seconds + 60) for _ in pollers]
    elapsed = time.perf_counter() - started
    cpu1, busy1 = server_cpu_s(), machine_busy_seconds()
    for poller in pollers:
        poller.join(10)
    refused = sorted({status for _, statuses, _ in answers for status in statuses})
    if refused:
        raise RuntimeError(f"polls refused: {refused}")
    answered = sum(count for count, _, _ in answers)
    return {
        "poll_rps": round(answered / elapsed, 1),
        # what one poll cost the server's processes (supervisor and workers), in ms
        "poll_server_cpu_ms": round((cpu1 - cpu0) / max(1, answered) * 1000, 3),
        "poll_client_cores": round(sum(cpu for _, _, cpu in answers) / elapsed, 2),
        "poll_machine_busy": round((busy1 - busy0) / elapsed, 2),
    }


def _poller(port: int, tls_dir: str, go: Any, seconds: float, results: Any) -> None:
    """One poller process (see :func:`_poll_rps`): ``(answered, refused statuses, CPU s)``."""
    import http.client
    from pathlib import Path

    from sync.client import DEVICE_CERT, DEVICE_KEY, SERVER_CA, tls_context

    tls = Path(tls_dir)
    context = tls_context(tls / SERVER_CA, tls / DEVICE_CERT, tls / DEVICE_KEY)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    conn.request("GET", POLL_PATH)
    conn.getresponse().read()
    go.wait(timeout=60)
    answered, refused = 0, set()
    cpu0, deadline = time.process_time(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.request("GET", POLL_PATH)
        response = conn.getresponse()
        response.read()
        if response.status in (200, 204):
            answered += 1
        else:
            refused.add(response.status)
    conn.close()
    results.put((answered, sorted(refused), time.process_time() - cpu0))


def _report(args: argparse.Namespace, db_url: str) -> dict[str, Any]:
    from sync.server.repository import open_repository

    records, offices = args.records, max(1, args.offices)
    repo = open_repository(db_url, pool_size=2)
    try:
        repo.migrate()
        # The day's month has its own partition (migration 6), as `server partitions`
        # makes ahead of time in production: the report reads that partition only.
        from datetime import date

        from sync.server.partitions import run_maintenance

        run_maintenance(repo, date.fromisoformat(DAY))
        started = time.perf_counter()
        for first in range(0, records, CHUNK):
            batch = [
                (f"dev-{i % (offices * 3)}", i, DAY, f"{100000 + i % offices}", _payload(i))
                for i in range(first, min(records, first + CHUNK))
            ]
            with repo._transaction() as cur:
                repo.write_report_facts(cur, batch)
        fill_s = time.perf_counter() - started
        with repo._transaction() as cur:
            cur.execute("ANALYZE report_facts")
        whole, one = [], []
        rows: list[Any] = []
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            rows = repo.daily_report(DAY, None)
            whole.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            repo.daily_report(DAY, "100007")
            one.append(time.perf_counter() - t0)
    finally:
        repo.close()
    issued = sum(r.issued for r in rows)
    key = "report_day_1m_records_s" if records == 1_000_000 else "report_day_records_s"
    return {
        key: round(statistics.median(whole), 4),
        "report_one_office_s": round(statistics.median(one), 4),
        "records": records,
        "offices": offices,
        "report_rows": len(rows),
        "issued_certificates": issued,
        "fill_s": round(fill_s, 1),
        "database": "postgresql",
    }
