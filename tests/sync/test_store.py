"""The local store: one transaction per record+outbox row, sequence numbers, the chain."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device.store import (
    GENESIS_HASH,
    QUEUE_HEADROOM,
    DuplicateTransactionError,
    OutboxFullError,
    SchemaVersionError,
    Store,
    record_hash,
)
from tests.sync.sync_support import make_record

ROOT = Path(__file__).resolve().parents[2]


def test_store_uses_wal_and_full_sync(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_records_get_monotonic_sequence_numbers_and_a_hash_chain(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        items = [store.record_transaction(make_record(i)) for i in range(5)]
    assert [i.seq for i in items] == [1, 2, 3, 4, 5]
    assert items[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(items):
        assert after.prev_hash == before.hash
    for item in items:
        assert record_hash(item.seq, item.prev_hash, item.payload) == item.hash


def test_sequence_survives_pruning_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        for i in range(3):
            store.record_transaction(make_record(i))
        store.mark_acked([1, 2, 3])
        assert store.prune_settled("9999") == 3
    with Store(path) as store:
        assert store.record_transaction(make_record(9)).seq == 4


def test_pending_is_in_sequence_order_and_acks_leave_the_queue(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        for i in range(5):
            store.record_transaction(make_record(i))
        assert [p.seq for p in store.pending(3)] == [1, 2, 3]
        store.mark_acked([1, 2])
        store.mark_quarantined({3: "422 malformed"})
        assert [p.seq for p in store.pending(10)] == [4, 5]
        assert store.quarantined()[0][0] == 3
        status = store.uploader_status()
        assert (status.queue_length, status.quarantined) == (2, 1)
        assert store.requeue_quarantined(3)
        assert [p.seq for p in store.pending(10)] == [3, 4, 5]


def test_duplicate_transaction_id_is_refused_and_nothing_half_written(tmp_path: Path) -> None:
    record = make_record()
    with Store(tmp_path / "s.sqlite3") as store:
        store.record_transaction(record)
        with pytest.raises(DuplicateTransactionError):
            store.record_transaction(record)
        assert store.queue_length() == 1
        assert store.record_transaction(make_record()).seq == 2


def test_full_queue_refuses_new_procedures_but_keeps_headroom(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3", queue_bound=3) as store:
        for i in range(3):
            store.check_capacity()
            store.record_transaction(make_record(i))
        with pytest.raises(OutboxFullError):
            store.check_capacity()
        for i in range(QUEUE_HEADROOM):
            store.record_transaction(make_record(100 + i))
        with pytest.raises(OutboxFullError):
            store.record_transaction(make_record(999))
        assert store.queue_length() == 3 + QUEUE_HEADROOM
        assert store.verify_chain() == []


def test_verify_chain_finds_an_edited_record(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        for i in range(4):
            store.record_transaction(make_record(i))
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE transactions SET payload = replace(payload, '\"fee_collected_yen\": 200',"
        " '\"fee_collected_yen\": 0') WHERE seq = 2"
    )
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.verify_chain() == [2]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaVersionError):
        Store(path)


def test_uploader_status_round_trips_and_drives_the_date_confirmation(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        status = store.uploader_status()
        assert status.clock_unsynchronised("boot-a")
        assert status.date_needs_confirmation(120.0, "boot-a")
        store.set_uploader_status(
            clock_skew_s=3.0, clock_checked_boot="boot-a", server_reachable=True
        )
        status = store.uploader_status()
        assert status.server_reachable
        assert not status.date_needs_confirmation(120.0, "boot-a")
        assert status.date_needs_confirmation(120.0, "boot-b")  # a reboot since
        store.set_uploader_status(clock_skew_s=-400.0)
        assert store.uploader_status().date_needs_confirmation(120.0, "boot-a")


_WRITER = """
import sys
from device.store import Store
from tests.sync.sync_support import make_record
store = Store(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    store.record_transaction(make_record(i))
    i += 1
"""


def test_kill_9_while_writing_leaves_every_record_with_its_outbox_row(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    for trial in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests' / 'sync'}"},
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.05 + 0.03 * trial)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Store(path) as store:
        n_tx = store.db.execute("SELECT count(*), max(seq) FROM transactions").fetchone()
        n_out = store.db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        assert n_tx[0] > 0
        assert n_tx[0] == n_out == n_tx[1]  # no gap, no orphan
        assert store.verify_chain() == []


def test_records_are_read_back_by_counter_date_and_a_page_at_a_time(tmp_path: Path) -> None:
    import dataclasses

    with Store(tmp_path / "s.sqlite3") as store:
        for i, day in enumerate(["2026-11-24", "2026-11-25", "2026-11-25", "2026-11-26"]):
            record = make_record(i, day=day)
            store.record_transaction(dataclasses.replace(record, extra={"transaction_date": day}))
        store.mark_acked([1])
        on_25th = store.records_on("2026-11-25")
        assert [r.operator_id for r in on_25th] == ["op-1", "op-2"]  # oldest first
        assert store.records_on("2026-11-23") == []
        page, total = store.history(offset=1, limit=2)
        assert total == 4
        assert [r.seq for r in page] == [3, 2]  # newest first, after the newest one
        assert [r.sync_state for r in page] == ["pending", "pending"]
        oldest, _ = store.history(offset=3, limit=2)
        assert [(r.seq, r.sync_state) for r in oldest] == [(1, "acked")]
        assert oldest[0].payload["procedure"] == "2-1-1"
