"""Central server: the daily 交付状況 report of one day of many records, summed by PostgreSQL.

One business day of ``--records`` records (default 1,000,000) across ``--offices`` offices
(default 1,000) in a throwaway PostgreSQL cluster (``sync.pgcluster``), their report facts
made by the server's own code (``SqlRepository.write_report_facts``, what ingest writes),
then the whole day's report (every office) and one office's, timed as
``SqlRepository.daily_report`` runs them: the median of ``--repeat`` runs.

``report_day_1m_records_s`` (issue 15, target ≤ 2 s) is given for 1,000,000 records only;
other sizes give ``report_day_records_s`` with ``records``.
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
    from sync.server.repository import open_repository

    records, offices = args.records, max(1, args.offices)
    with PgCluster() as cluster:
        repo = open_repository(cluster.create_database("bench_report"), pool_size=2)
        try:
            repo.migrate()
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
