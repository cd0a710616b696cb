"""Records by business month (issue 15): migration 6 converts a database with its data in
place, the uniqueness ingest relies on holds across months, retention removes only whole
months past the period (and audits them), and a day's report or a month's console page
reads only its month's partition (PostgreSQL plans, from auto_explain).
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from device.store import GENESIS_HASH, record_hash
from sync.protocol import ACCEPTED, DUPLICATE, REJECTED, IncomingRecord, parse_item
from sync.server import partitions
from sync.server.console.store import ConsoleStore, TransactionFilter
from sync.server.migrations import MIGRATIONS, SCHEMA_VERSION
from sync.server.report import daily_report
from sync.server.repository import SqlRepository, open_repository
from tests.sync.conftest import ROOT
from tests.sync.sync_support import make_record

OFFICE = "131016"


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", *argv],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )


def _enrol(repo: SqlRepository, device_id: str, office: str = OFFICE) -> None:
    now = datetime.now(UTC).isoformat()
    repo.add_enrolment_token(f"h-{device_id}", device_id, office, "2999-01-01T00:00:00+00:00")
    repo.use_enrolment_token(f"h-{device_id}", now)
    repo.bind_certificate(device_id, office, f"serial-{device_id}", now)


def _chain(days: list[str], start: int = 1, prev: str = GENESIS_HASH,
           office: str = OFFICE) -> list[IncomingRecord]:
    """One record per day in ``days``, chained from ``prev`` at ``start``."""
    items = []
    for seq, day in enumerate(days, start=start):
        payload = json.loads(json.dumps(make_record(seq, office=office, day=day).to_payload()))
        digest = record_hash(seq, prev, payload)
        items.append(parse_item({"seq": seq, "transaction_id": payload["transaction_id"],
                                 "prev_hash": prev, "hash": digest, "payload": payload}))
        prev = digest
    return items


def _ingest(repo: SqlRepository, device_id: str, items: list[IncomingRecord]) -> list[str]:
    outcomes, _ = repo.ingest(device_id, items, received_at=datetime.now(UTC))
    return [o.status for o in outcomes]


def _count(repo: SqlRepository, table: str) -> int:
    with repo._transaction() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return int(cur.fetchone()[0])


def _pg(db_url: str) -> bool:
    return db_url.startswith("postgresql://")


# -- migration 6 ---------------------------------------------------------------------

DAYS_V5 = ["2025-12-31", "2026-01-01", "2026-10-31", "2026-11-01", "2026-11-25"]


def _version_5(repo: SqlRepository) -> dict[str, list[IncomingRecord]]:
    """A database as migration 5 left it, with records of several months (a year's end
    among them) and their report facts, as that version's ingest wrote them."""
    with repo._transaction() as cur:
        cur.execute("CREATE TABLE schema_info (version INTEGER NOT NULL)")
        cur.execute(repo._q("INSERT INTO schema_info (version) VALUES (?)"), [5])
        for migration in MIGRATIONS[:5]:
            for statement in migration.statements(repo.dialect):
                cur.execute(statement)
    chains = {f"counter-{n}": _chain(DAYS_V5[n:] + DAYS_V5[:n]) for n in range(3)}
    with repo._transaction() as cur:
        for device, items in chains.items():
            cur.execute(repo._q(
                "INSERT INTO devices (device_id, office_code, status, high_water)"
                " VALUES (?, ?, 'active', ?)"), [device, OFFICE, len(items)])
            cur.executemany(repo._q(
                "INSERT INTO records (device_id, seq, transaction_id, prev_hash, hash,"
                " payload, received_at, business_date, office_code)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                [(device, r.seq, r.transaction_id, r.prev_hash, r.hash, r.canonical,
                  "2026-12-01T00:00:00+00:00", r.business_date, r.office_code) for r in items])
            repo.write_report_facts(cur, [(device, r.seq, r.business_date, r.office_code,
                                           r.payload) for r in items])
    return chains


def test_migration_6_converts_a_version_5_database_keeping_every_record(db_url: str) -> None:
    repo = open_repository(db_url)
    try:
        chains = _version_5(repo)
        before = {day: (repo.records_for_day(day, None), repo.daily_report(day, None))
                  for day in DAYS_V5}
        chain_before = {device: repo.chain(device) for device in chains}
        assert repo.migrate() == (5, SCHEMA_VERSION)
        after = {day: (repo.records_for_day(day, None), repo.daily_report(day, None))
                 for day in DAYS_V5}
        assert after == before
        assert all(rows for rows, _ in after.values())
        assert {device: repo.chain(device) for device in chains} == chain_before
        assert _count(repo, "records") == _count(repo, "record_keys") == 15
        for day in DAYS_V5:  # the facts are still the records' report
            assert repo.daily_report(day, None) == daily_report(day, repo.records_for_day(
                day, None))
        if _pg(db_url):
            with repo._transaction() as cur:
                for table in partitions.PARTITIONED:
                    cur.execute("SELECT relkind FROM pg_class WHERE relname = %s", [table])
                    assert cur.fetchone() == ("p",)
                    months = partitions.attached_months(cur, table)
                    assert {d[:7] for d in DAYS_V5} <= months
                    assert set(partitions.window(partitions.business_today(), 3)) <= months
                    cur.execute(f"SELECT count(*) FROM {table}_default")
                    assert cur.fetchone() == (0,)
                    assert not partitions.default_months(cur, table)
                cur.execute("SELECT count(*) FROM records_2026_11")
                assert cur.fetchone() == (6,)
        # ingest goes on where each chain ended
        _enrol(repo, "counter-0")
        last = chains["counter-0"][-1]
        assert _ingest(repo, "counter-0", _chain(["2026-12-02"], 6, last.hash)) == [ACCEPTED]
        assert _ingest(repo, "counter-0", chains["counter-0"]) == [DUPLICATE] * 5
        device = repo.device("counter-0")
        assert device is not None
        assert device.high_water == 6
    finally:
        repo.close()


# -- uniqueness across months ----------------------------------------------------------


def test_resent_batches_and_reused_ids_across_a_month_boundary(db_url: str) -> None:
    repo = open_repository(db_url)
    try:
        repo.migrate()
        _enrol(repo, "counter-0")
        # the last day of one month and the first of the next; 2019-01 has no partition
        # (PostgreSQL: it waits in the default one)
        batch = _chain(["2026-10-31", "2026-11-01", "2019-01-15"])
        assert _ingest(repo, "counter-0", batch) == [ACCEPTED] * 3
        # the same batch again: absorbed, nothing stored twice
        assert _ingest(repo, "counter-0", batch) == [DUPLICATE] * 3
        assert _count(repo, "records") == _count(repo, "record_keys") == 3
        # a stored transaction id on a record of another month: a replay, refused
        reused = dataclasses.replace(_chain(["2026-12-01"], 4, batch[-1].hash)[0],
                                     transaction_id=batch[0].transaction_id)
        outcome, _ = repo.ingest("counter-0", [reused], received_at=datetime.now(UTC))
        assert outcome[0].status == REJECTED
        assert "transaction_id already stored" in str(outcome[0].error)
        # a used sequence number, dated in another month: refused
        other = _chain(["2026-12-01"], 2, batch[0].hash)
        outcome, _ = repo.ingest("counter-0", other, received_at=datetime.now(UTC))
        assert outcome[0].status == REJECTED
        assert "sequence number 2 already used" in str(outcome[0].error)
        assert _count(repo, "records") == 3
        _database_refuses_duplicates(repo, batch)
        # the default partition's month gets its own: still one of each, still refused
        made = partitions.run_maintenance(repo, partitions.business_today())
        if _pg(db_url):
            assert {("records", "2019-01", 1), ("report_facts", "2019-01", 2)} <= set(made)
            with repo._transaction() as cur:
                assert not partitions.default_months(cur, "records")
        else:
            assert made == []
        assert _ingest(repo, "counter-0", batch) == [DUPLICATE] * 3
        _database_refuses_duplicates(repo, batch)
        assert [seq for seq, _, _ in repo.chain("counter-0")] == [1, 2, 3]
    finally:
        repo.close()


def _database_refuses_duplicates(repo: SqlRepository, batch: list[IncomingRecord]) -> None:
    """Under ingest's checks, the database itself: a second row for a stored (device, seq)
    or (device, transaction id), dated in another month, is refused."""
    first = batch[0]
    for seq, txn, day in ((first.seq, "fresh-txn", "2026-12-05"),
                          (99, first.transaction_id, "2026-12-05")):
        with pytest.raises(Exception, match=r"(?i)unique|duplicate|foreign key"), \
                repo._transaction() as cur:
            cur.execute(repo._q(
                "INSERT INTO record_keys (device_id, seq, transaction_id, hash, business_date)"
                " VALUES (?, ?, ?, ?, ?)"), ["counter-0", seq, txn, "h", day])
        # a record row without its key row (PostgreSQL: the foreign key; SQLite: one table)
        with pytest.raises(Exception, match=r"(?i)unique|duplicate|foreign key"), \
                repo._transaction() as cur:
            cur.execute(repo._q(
                "INSERT INTO records (device_id, seq, transaction_id, prev_hash, hash,"
                " payload, received_at, business_date, office_code)"
                " VALUES (?, ?, ?, 'p', 'h', '{}', 'now', ?, ?)"),
                ["counter-0", seq, txn, day, OFFICE])


# -- retention -------------------------------------------------------------------------


def test_retention_removes_only_whole_months_past_the_period(db_url: str) -> None:
    today = partitions.business_today()
    current = today.strftime("%Y-%m")
    period = partitions.DEFAULT_RETENTION_MONTHS
    gone_early = partitions.shift(current, -(period + 9))
    gone_edge = partitions.shift(current, -(period + 1))  # its last day: just past
    kept_edge = partitions.shift(current, -period)  # its first day: still inside
    assert partitions.first_kept(today, period) == kept_edge
    repo = open_repository(db_url)
    try:
        repo.migrate()
        _enrol(repo, "counter-0")
        days = [f"{gone_early}-10", f"{gone_edge}-28", f"{kept_edge}-01", f"{current}-01"]
        assert _ingest(repo, "counter-0", _chain(days)) == [ACCEPTED] * 4
        made = _cli("server", "partitions", "--db", db_url)
        assert made.returncode == 0, made.stderr
        if _pg(db_url):
            assert f"records {gone_early}: partition made (1 rows moved" in made.stdout
        # one more of a month past the period, after its partition exists or not
        late = _chain([f"{gone_edge}-01"], 5, repo.chain("counter-0")[-1][2])
        assert _ingest(repo, "counter-0", late) == [ACCEPTED]

        dry = _cli("server", "retention", "--dry-run", "--db", db_url)
        assert dry.returncode == 0, dry.stderr
        assert f"keeping {kept_edge} and later" in dry.stdout
        assert f"would remove records {gone_early}: 1 rows" in dry.stdout
        assert f"would remove records {gone_edge}: 2 rows" in dry.stdout
        assert kept_edge not in dry.stdout.split("later", 1)[1]
        assert _count(repo, "records") == 5  # a dry run changes nothing
        assert _count(repo, "retention_log") == 0

        done = _cli("server", "retention", "--db", db_url)
        assert done.returncode == 0, done.stderr
        how = "drop partition" if _pg(db_url) else "delete rows"
        assert f"removed records {gone_early}: 1 rows ({how})" in done.stdout
        assert f"removed report_facts {gone_edge}: 4 rows ({how})" in done.stdout
        assert _count(repo, "records") == _count(repo, "record_keys") == 2
        assert repo.records_for_day(f"{gone_edge}-28", None) == []
        assert repo.daily_report(f"{kept_edge}-01", None)
        with repo._transaction() as cur:
            cur.execute("SELECT table_name, business_month, row_count, how, period_months,"
                        " actor FROM retention_log ORDER BY table_name, business_month")
            log = cur.fetchall()
            if _pg(db_url):
                assert not {gone_early, gone_edge} & partitions.attached_months(cur, "records")
                assert kept_edge in partitions.attached_months(cur, "records")
        assert [tuple(r[:5]) for r in log] == [
            ("records", gone_early, 1, how, period), ("records", gone_edge, 2, how, period),
            ("report_facts", gone_early, 2, how, period),
            ("report_facts", gone_edge, 4, how, period)]
        assert all(str(r[5]).startswith("server-cli:") for r in log)

        again = _cli("server", "retention", "--db", db_url)
        assert "nothing is past the retention period" in again.stdout
        short = _cli("server", "retention", "--months", "6", "--db", db_url)
        assert short.returncode == 2
        assert "shorter than the least allowed (12)" in short.stderr
        assert _count(repo, "records") == 2
    finally:
        repo.close()


def test_retention_removes_refusals_and_batch_keys_received_before_the_kept_months(
    db_url: str,
) -> None:
    """The refused items (chain report) and the batches' idempotency keys have no business
    date; they go by when they were received, at the first kept month's midnight in Japan."""
    period = partitions.DEFAULT_RETENTION_MONTHS
    keep = partitions.first_kept(partitions.business_today(), period)
    bound = partitions.received_before(keep)
    assert bound.endswith("T15:00:00+00:00")  # 00:00 in Japan, the day before in UTC
    shown = f"{keep}-01 00:00 JST ({bound})"  # what the operator and the audit read
    past = datetime.fromisoformat(bound) - timedelta(milliseconds=1)
    at_bound = datetime.fromisoformat(bound)  # the first instant kept
    repo = open_repository(db_url)
    try:
        repo.migrate()
        _enrol(repo, "counter-0")
        first = _chain(["2026-11-25"])
        second = _chain(["2026-11-25"], 2, first[-1].hash)
        for items, when, key in ((first, past, "old-batch"), (second, at_bound, "kept-batch")):
            outcomes, _ = repo.ingest(
                "counter-0", items, received_at=when, idem_key=key, body_hash=f"h-{key}"
            )
            assert [o.status for o in outcomes] == [ACCEPTED]
        repo.reject("counter-0", [(90, "txn-refused-long-ago", "bad shape")], past.isoformat())
        repo.reject("counter-0", [(91, "txn-refused-kept", "bad shape")], at_bound.isoformat())

        dry = _cli("server", "retention", "--dry-run", "--db", db_url)
        assert dry.returncode == 0, dry.stderr
        assert f"would remove rejections received before {shown}: 1 rows" in dry.stdout
        assert f"would remove batch_keys received before {shown}: 1 rows" in dry.stdout
        assert _count(repo, "rejections") == _count(repo, "batch_keys") == 2

        done = _cli("server", "retention", "--db", db_url)
        assert done.returncode == 0, done.stderr
        assert f"removed rejections received before {shown}: 1 rows" in done.stdout
        assert _count(repo, "rejections") == _count(repo, "batch_keys") == 1
        assert [r[1] for r in repo.rejections("counter-0")] == ["txn-refused-kept"]
        assert _count(repo, "records") == 2  # records go by business month, not receipt
        with repo._transaction() as cur:
            cur.execute("SELECT table_name, business_month, row_count, how FROM retention_log"
                        " ORDER BY table_name")
            log = [tuple(r) for r in cur.fetchall()]
        how = f"delete rows received before {shown}"
        last_gone = partitions.shift(keep, -1)
        assert log == [("batch_keys", last_gone, 1, how), ("rejections", last_gone, 1, how)]
        # the kept key still answers a resent batch as before
        outcomes, _ = repo.ingest("counter-0", second, received_at=datetime.now(UTC),
                                  idem_key="kept-batch", body_hash="h-kept-batch")
        assert [o.status for o in outcomes] == [DUPLICATE]
        again = _cli("server", "retention", "--db", db_url)
        assert "nothing is past the retention period" in again.stdout
    finally:
        repo.close()


def test_the_default_period_is_the_configured_one() -> None:
    from madoguchi.config import SyncConfig

    assert SyncConfig().server_retention_months == partitions.DEFAULT_RETENTION_MONTHS
    # a month goes once its last day is the whole period behind the first of this month
    assert partitions.first_kept(date(2026, 12, 3), 181) == "2011-11"
    assert partitions.shift("2026-01", -1) == "2025-12"
    assert partitions.bounds("2026-12") == ("2026-12-01", "2027-01-01")


# -- pruning -------------------------------------------------------------------------

_PARTITION = re.compile(r"\b((?:records|report_facts)_(?:\d{4}_\d{2}|default))\b")


@contextmanager
def _plans(dialect: Any) -> Iterator[list[str]]:
    """The plans of every statement run on ``dialect``'s (one) pooled connection, as
    PostgreSQL's auto_explain reports them (NOTICE messages)."""
    notices: list[str] = []
    with dialect.connection() as conn:
        conn.execute("LOAD 'auto_explain'")
        conn.execute("SET auto_explain.log_min_duration = 0")
        conn.execute("SET auto_explain.log_level = 'notice'")
        conn.add_notice_handler(lambda d: notices.append(str(d.message_primary)))
    yield notices


def _read(notices: list[str], table: str) -> set[str]:
    """The partitions of ``table`` the plans since the last call read."""
    found = {m for text in notices for m in _PARTITION.findall(text) if m.startswith(table)}
    notices.clear()
    return found


def test_a_day_report_and_a_month_page_read_only_their_month(pg_cluster: Any) -> None:
    url = pg_cluster.create_database("t_pruning")
    repo = open_repository(url, pool_size=1)
    try:
        repo.migrate()
        _enrol(repo, "counter-0")
        days = ["2026-09-30", "2026-10-01", "2026-10-31", "2026-11-01", "2026-11-15"]
        assert _ingest(repo, "counter-0", _chain(days)) == [ACCEPTED] * 5
        partitions.run_maintenance(repo, partitions.business_today())
        with _plans(repo.dialect) as notices:
            assert repo.daily_report("2026-10-31", None)
            assert _read(notices, "report_facts") == {"report_facts_2026_10"}
            assert repo.records_for_day("2026-11-01", OFFICE)
            assert _read(notices, "records") == {"records_2026_11"}
    finally:
        repo.close()
    from sync.server.console.serve import dialect_for

    store = ConsoleStore(dialect_for(url), pool_size=1)
    try:
        with _plans(store.dialect) as notices:
            # the month page: the month's report, and its transaction list
            assert store.report("2026-10-01", "2026-10-31", [OFFICE])
            assert _read(notices, "report_facts") == {"report_facts_2026_10"}
            flt = TransactionFilter("2026-10-01", "2026-10-31", (OFFICE,))
            assert len(store.transactions(flt)) == 2
            assert _read(notices, "records") == {"records_2026_10"}
            # its 30-day chart spans at most the two months it crosses
            assert store.report("2026-10-17", "2026-11-15", [OFFICE])
            assert _read(notices, "report_facts") == {"report_facts_2026_10",
                                                      "report_facts_2026_11"}
    finally:
        store.close()
