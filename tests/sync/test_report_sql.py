"""The daily 交付状況 report aggregated by the database (``report_facts``, migration 3)
gives the very rows ``report.daily_report`` computes over the day's payloads, on SQLite
and on a real PostgreSQL, for records ingested after the migration and for records the
migration back-fills."""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import UTC, datetime
from typing import Any

from device.records import CertificateAction
from device.store import GENESIS_HASH, record_hash
from sync.protocol import ACCEPTED, parse_item
from sync.server.migrations import MIGRATIONS, SCHEMA_VERSION
from sync.server.report import daily_report
from sync.server.repository import SqlRepository, open_repository
from tests.sync.sync_support import make_record

OFFICES = ("131016", "131024", "271004")
DAYS = ("2026-11-25", "2026-11-26")


def _enrol(repo: SqlRepository, device_id: str, office: str) -> None:
    now = datetime.now(UTC).isoformat()
    repo.add_enrolment_token(f"h-{device_id}", device_id, office, "2999-01-01T00:00:00+00:00")
    repo.use_enrolment_token(f"h-{device_id}", now)
    repo.bind_certificate(device_id, office, f"serial-{device_id}", now)


def _payloads(rng: random.Random, office: str, count: int) -> list[dict[str, Any]]:
    """Records with every mix the report splits: no certificate, one, two, revocations,
    odd fees (the remainder goes to the first type), a fee with no certificate."""
    payloads = []
    for i in range(count):
        actions = [
            CertificateAction(kind, rng.choice(("issued", "renewed", "revoked")),
                              f"{office}-{kind}-{i}-{rng.randrange(10**9)}")
            for kind in ("sign", "auth") if rng.random() < 0.6
        ]
        record = dataclasses.replace(
            make_record(i, office=office, day=rng.choice(DAYS)),
            certificates=tuple(actions),
            fee_collected_yen=rng.choice((0, 0, 200, 201, 333, 1000)),
            fee_payable_jlis_yen=rng.choice((0, 1, 199, 200)),
        )
        payloads.append(json.loads(json.dumps(record.to_payload())))  # as sent on the wire
    return payloads


def _ingest(repo: SqlRepository, device_id: str, payloads: list[dict[str, Any]]) -> int:
    prev, items = GENESIS_HASH, []
    for seq, payload in enumerate(payloads, start=1):
        digest = record_hash(seq, prev, payload)
        items.append(parse_item({"seq": seq, "transaction_id": payload["transaction_id"],
                                 "prev_hash": prev, "hash": digest, "payload": payload}))
        prev = digest
    outcomes, _ = repo.ingest(device_id, items, received_at=datetime.now(UTC))
    return sum(o.status == ACCEPTED for o in outcomes)


def _assert_same_as_python(repo: SqlRepository) -> int:
    checked = 0
    for day in DAYS:
        for office in (None, *OFFICES, "999999"):
            expected = daily_report(day, repo.records_for_day(day, office))
            assert repo.daily_report(day, office) == expected, (day, office)
            checked += len(expected)
    return checked


def test_the_report_summed_in_sql_is_the_python_report(db_url: str) -> None:
    repo = open_repository(db_url)
    try:
        repo.migrate()
        rng = random.Random(20261203)
        accepted = 0
        for n, office in enumerate(OFFICES):
            device = f"counter-{n}"
            _enrol(repo, device, office)
            accepted += _ingest(repo, device, _payloads(rng, office, 60))
        assert accepted >= 150
        assert _assert_same_as_python(repo) > 0
        # a record sent again is a duplicate: its share is not counted twice
        before = repo.daily_report(DAYS[0], None)
        assert _replayed(repo, "counter-0")
        assert repo.daily_report(DAYS[0], None) == before
    finally:
        repo.close()


def _replayed(repo: SqlRepository, device_id: str) -> list[dict[str, Any]]:
    """Send the device's first stored records again (duplicates), returning them."""
    with repo._transaction() as cur:
        cur.execute(repo._q(
            "SELECT seq, transaction_id, prev_hash, hash, payload FROM records"
            " WHERE device_id = ? ORDER BY seq LIMIT 5"), [device_id])
        rows = cur.fetchall()
    items = [parse_item({"seq": int(s), "transaction_id": t, "prev_hash": p, "hash": h,
                         "payload": json.loads(body)}) for s, t, p, h, body in rows]
    outcomes, _ = repo.ingest(device_id, items, received_at=datetime.now(UTC))
    assert {o.status for o in outcomes} == {"duplicate"}
    return [item.payload for item in items]


def test_migration_3_back_fills_the_facts_of_older_records(db_url: str) -> None:
    repo = open_repository(db_url)
    try:
        repo.migrate()
        rng = random.Random(7)
        for n, office in enumerate(OFFICES):
            _enrol(repo, f"counter-{n}", office)
            _ingest(repo, f"counter-{n}", _payloads(rng, office, 40))
        expected = {day: repo.daily_report(day, None) for day in DAYS}
        # the database as version 2 left it: records (one table, as migration 1 made
        # it), and no report facts (nor console, nor record keys)
        with repo._transaction() as cur:
            cur.execute("SELECT * FROM records")
            kept = cur.fetchall()
            for table in ("records", "report_facts", "console_staff", "console_staff_offices",
                          "console_offices", "console_sessions", "console_audit",
                          "console_payments", "record_keys", "retention_log",
                          # migration 8: the clerks
                          "clerks", "clerk_offices", "clerk_sign_ins",
                          # migration 9: the update delivery
                          "update_bundles", "update_releases", "update_key_list",
                          "update_rollouts", "update_rollout_failures",
                          "update_device_status", "update_generations", "update_audit"):
                cur.execute(f"DROP TABLE {table}")
            for statement in MIGRATIONS[0].statements(repo.dialect):
                if " records " in statement:
                    cur.execute(statement)
            cur.executemany(repo._q(f"INSERT INTO records VALUES ({', '.join('?' * 9)})"), kept)
            cur.execute(repo._q("UPDATE schema_info SET version = ?"), [2])
        assert repo.readiness() is not None
        assert repo.migrate() == (2, SCHEMA_VERSION)
        assert {day: repo.daily_report(day, None) for day in DAYS} == expected
        assert _assert_same_as_python(repo) > 0
    finally:
        repo.close()


def test_bench_server_times_the_day_report_and_the_polls_on_postgresql() -> None:
    import subprocess
    import sys

    from tests.sync.conftest import ROOT

    result = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "bench", "server", "--json",
         "--records", "4000", "--offices", "40", "--repeat", "2",
         "--devices", "500", "--pollers", "2", "--poll-s", "1", "--parts", "report,polls"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["records"] == 4000
    assert figures["report_day_records_s"] > 0
    assert figures["report_one_office_s"] > 0
    # 40 offices, each with at most a sign, an auth and a fee-only (none) row
    assert 40 <= figures["report_rows"] <= 40 * 3
    assert figures["issued_certificates"] > 0
    # the update polls of enrolled devices over mutual TLS, all answered
    assert figures["poll_devices_enrolled"] == 500
    assert figures["poll_rps"] > 0
    # what a poll cost the server, and the pollers' own share (processes, not threads)
    assert figures["poll_server_cpu_ms"] > 0
    assert 0 < figures["poll_client_cores"] <= figures["poll_machine_busy"] + 0.05
