"""Console: the 交付状況 month page and a filtered transaction page, p95 over HTTPS.

A municipality of ``--offices`` offices (default 20) and ``--records`` transactions
(default 100,000) spread over two months is ingested into a throwaway PostgreSQL
cluster through the real repository; the server then runs with its console, an
administrator of every office signs in with a TOTP code, and the pages are fetched
over real HTTPS on loopback: the month's report of the whole municipality
(``report_page_ms_p95``) and the transaction list filtered by office, procedure and
decision (``transactions_page_ms_p95``). Targets: ≤ 300 ms each.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from device.records import (
    AbandonmentReason,
    CertificateAction,
    Decision,
    Reason,
    TransactionRecord,
)
from device.store import GENESIS_HASH, record_hash
from sync.protocol import parse_item
from sync.server.repository import SqlRepository

#: What the sample counters do, in proportion: (procedure, decision, certificates).
_MIX: tuple[tuple[str, Decision, tuple[tuple[str, str], ...]], ...] = (
    ("2-1-1", Decision.CONTINUE, (("sign", "issued"), ("auth", "issued"))),
    ("2-1-1", Decision.CONTINUE, (("sign", "issued"), ("auth", "issued"))),
    ("2-1-1", Decision.CONTINUE, (("auth", "issued"),)),
    ("2-1-1", Decision.CONTINUE, (("sign", "renewed"), ("auth", "renewed"))),
    ("2-2-1", Decision.CONTINUE, (("sign", "revoked"),)),
    ("2-1-2", Decision.CONTINUE, (("sign", "issued"), ("auth", "issued"))),
    ("2-1-1", Decision.REJECT, ()),
    ("2-1-1", Decision.INQUIRY, ()),
    ("2-1-1", Decision.ABANDONED, ()),
)


#: Days of records the bench seeds (two months).
_DAYS = 60


def office_codes(count: int, municipality: str = "131016") -> list[str]:
    """``count`` office codes of one municipality: the main office, then branches."""
    return [municipality] + [f"{municipality}-{i:02d}" for i in range(1, count)]


def sample_records(
    office: str, first_day: date, days: int, per_day: int, start: int = 0
) -> Iterator[TransactionRecord]:
    """Realistic records of one counter (no PIN, no individual number by construction)."""
    reasons = tuple(AbandonmentReason)
    index = start
    for offset in range(days):
        day = (first_day + timedelta(days=offset)).isoformat()
        for n in range(per_day):
            procedure, decision, certs = _MIX[index % len(_MIX)]
            minute = 9 * 60 + (n * 7) % 480
            at = f"{day}T{minute // 60:02d}:{minute % 60:02d}:00+09:00"
            paid = sum(1 for _, action in certs if action in ("issued", "renewed"))
            yield TransactionRecord(
                transaction_id=str(uuid.uuid4()),
                procedure=procedure,
                actor="self",
                decision=decision,
                reasons=(Reason("第2-1-(1)-ア-(イ)-B", "本人確認書類の提示により確認"),),
                rule_version="改正後",
                operator_id=f"op-{index % 4}",
                started_at=at,
                completed_at=at,
                office_code=office,
                checks=("id_document", "operation_status"),
                certificates=tuple(
                    CertificateAction(kind, action, f"{office}-{kind}-{index:08d}")
                    for kind, action in certs
                ),
                fee_collected_yen=200 * paid,
                fee_payable_jlis_yen=150 * paid,
                abandonment_reason=(
                    reasons[index % len(reasons)] if decision is Decision.ABANDONED else None
                ),
            )
            index += 1


def enrol_counter(repo: SqlRepository, device_id: str, office: str) -> None:
    """Register a counter of ``office`` through the repository's enrolment path."""
    token = uuid.uuid4().hex
    repo.add_enrolment_token(token, device_id, office, "2999-01-01T00:00:00+00:00")
    repo.use_enrolment_token(token, "2026-01-01T00:00:00+00:00")
    repo.bind_certificate(device_id, office, f"serial-{device_id}", "2026-01-01T00:00:00+00:00")


def ingest_counter(
    repo: SqlRepository, device_id: str, records: Iterator[TransactionRecord], batch: int = 2000
) -> int:
    """Chain and ingest ``records`` as ``device_id`` would upload them; returns the count."""
    from datetime import UTC, datetime

    prev, items, count = GENESIS_HASH, [], 0
    for seq, record in enumerate(records, start=1):
        payload = json.loads(json.dumps(record.to_payload()))  # as it travels: lists
        digest = record_hash(seq, prev, payload)
        items.append(
            parse_item(
                {
                    "seq": seq,
                    "transaction_id": record.transaction_id,
                    "prev_hash": prev,
                    "hash": digest,
                    "payload": payload,
                }
            )
        )
        prev = digest
        if len(items) >= batch:
            repo.ingest(device_id, items, received_at=datetime.now(UTC))
            count += len(items)
            items = []
    if items:
        repo.ingest(device_id, items, received_at=datetime.now(UTC))
        count += len(items)
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options."""
    parser.add_argument("--offices", type=int, default=20, help="offices of the municipality")
    parser.add_argument("--records", type=int, default=100_000, help="transactions in all")
    parser.add_argument("--runs", type=int, default=40, help="page loads per figure")


def _p95(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=20)[-1], 1)


def _seed(url: str, offices: list[str], per_day: int) -> int:
    """A counter per office, ``per_day`` records a day for 60 days from 2026-10-01."""
    from sync.server.partitions import run_maintenance
    from sync.server.repository import open_repository

    repo = open_repository(url)
    seeded = 0
    try:
        repo.migrate()
        # The seeded months have their partitions (PostgreSQL), as the daily timer makes
        # them ahead in production.
        run_maintenance(repo, date(2026, 10, 1))
        for n, office in enumerate(offices):
            device = f"counter-{n:02d}"
            enrol_counter(repo, device, office)
            seeded += ingest_counter(
                repo, device, sample_records(office, date(2026, 10, 1), _DAYS, per_day)
            )
    finally:
        repo.close()
    return seeded


def _administrator(url: str, offices: list[str], password: str) -> str:
    """An administrator of every office; returns its TOTP secret."""
    from sync.server.authz import Role
    from sync.server.console.serve import open_console_store

    store = open_console_store(url)
    try:
        added = store.add_staff(
            "bench-admin", "Bench", Role.ADMINISTRATOR, password, offices, actor="bench"
        )
    finally:
        store.close()
    return added.totp_secret


def _signed_in(base_url: str, ca: Path, password: str, secret: str) -> Any:
    """An HTTPS client with a console session."""
    import httpx
    import pyotp

    client = httpx.Client(base_url=base_url, verify=str(ca), timeout=30.0)
    page = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    if token is None:
        raise RuntimeError("the sign-in page has no login token")
    signed = client.post(
        "/login",
        data={
            "login_token": token.group(1),
            "staff_id": "bench-admin",
            "password": password,
            "code": pyotp.TOTP(secret).now(),
        },
    )
    if signed.status_code != 303 or "login" in signed.headers.get("location", ""):
        raise RuntimeError(f"sign-in failed: {signed.status_code}")
    return client


def _timed(client: Any, path: str, runs: int) -> list[float]:
    """``runs`` + 1 timings of ``path``: the first (cold: the server's first page of it,
    its caches and PostgreSQL's buffers empty of that month) first."""
    samples = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed PostgreSQL, serve with the console, time the two pages."""
    import secrets

    import psycopg

    from sync import pki
    from sync.localserver import LocalServer
    from sync.pgcluster import PgCluster, free_port

    offices = office_codes(args.offices)
    per_day = max(1, args.records // (len(offices) * _DAYS))
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-console-") as tmp:
        base = Path(tmp)
        cluster = PgCluster().start()
        try:
            url = cluster.create_database("console_bench")
            started = time.perf_counter()
            seeded = _seed(url, offices, per_day)
            seed_s = time.perf_counter() - started
            secret = _administrator(url, offices, password)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE")
            pki.init_server_pki(base / "pki")
            port = free_port()
            server = LocalServer(
                url,
                base / "pki",
                simulate=False,
                extra_args=("--console-listen", f"127.0.0.1:{port}"),
            )
            server.start()
            try:
                client = _signed_in(
                    f"https://127.0.0.1:{port}", base / "pki" / pki.CA_CERT, password, secret
                )
                try:
                    month = _timed(client, "/reports/month?month=2026-11", args.runs)
                    txns = _timed(
                        client,
                        f"/transactions?from=2026-10-01&to=2026-11-29&office={offices[3]}"
                        "&procedure=2-1-1&decision=continue",
                        args.runs,
                    )
                finally:
                    client.close()
            finally:
                server.stop()
        finally:
            cluster.stop()
    report_cold, month = month[0], month[1:]
    txns = txns[1:]
    report_p95, txn_p95 = _p95(month), _p95(txns)
    return {
        "report_page_cold_ms": round(report_cold, 1),
        "database": "postgresql",
        "offices": len(offices),
        "transactions": seeded,
        "seed_s": round(seed_s, 1),
        "runs": args.runs,
        "report_page_ms_p95": report_p95,
        "report_page_ms_median": round(statistics.median(month), 1),
        "transactions_page_ms_p95": txn_p95,
        "transactions_page_ms_median": round(statistics.median(txns), 1),
        "report_page_le_300ms": report_p95 <= 300,
        "transactions_page_le_300ms": txn_p95 <= 300,
    }
