"""The local SQLite store: completed transactions and their outbox.

Every completed procedure is written as one row in ``transactions`` and one row
in ``outbox`` inside a single SQLite transaction (WAL, ``synchronous=FULL``), so
after a power cut either both exist or neither does. Each record gets the next
per-device sequence number and the hash of the record before it.

The outbox is bounded. Its full policy is *refuse new work*: :meth:`Store.check_capacity`
raises :class:`OutboxFullError` before a procedure starts once ``queue_bound``
records are waiting, and a completed transaction is never dropped or overwritten.
:meth:`Store.record_transaction` still accepts up to :data:`QUEUE_HEADROOM` records
past the bound, for procedures that were already under way when it filled.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from device.private_files import private_database_file, private_dir
from device.records import TransactionRecord
from device.store.chain import GENESIS_HASH, record_hash
from device.store.errors import DuplicateTransactionError, OutboxFullError
from device.store.schema import migrate
from device.store.status import UploaderStatus, current_boot_id
from madoguchi.errors import StoreError

#: Records accepted past ``queue_bound`` for procedures already under way.
QUEUE_HEADROOM = 16

_STATUS_FIELDS = frozenset(
    {
        "last_attempt",
        "last_success",
        "last_error",
        "server_reachable",
        "device_revoked",
        "clock_skew_s",
        "clock_checked_boot",
        "server_high_water",
    }
)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One stored record as the uploader sends it."""

    seq: int
    transaction_id: str
    prev_hash: str
    hash: str
    payload: dict[str, Any]
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One stored transaction with its outbox state (``pending``, ``acked``...)."""

    seq: int
    payload: dict[str, Any]
    sync_state: str


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """The device's transaction store and outbox (one SQLite file).

    Safe to open from several processes at once (the procedure engine writes,
    the uploader daemon reads and settles); writers serialise on SQLite's lock.
    """

    def __init__(self, path: Path | str, *, queue_bound: int = 10_000) -> None:
        if queue_bound < 1:
            raise StoreError("queue_bound must be at least 1")
        self.path = Path(path)
        self.queue_bound = queue_bound
        try:
            # 0600 whatever the umask (the records of the day and the operator ids);
            # a folder made here is 0700, an existing one is the operator's choice.
            if not self.path.parent.exists():
                private_dir(self.path.parent)
            private_database_file(self.path)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves so that one
            # record and its outbox row share exactly one transaction.
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=30.0, check_same_thread=False
            )
            self.db = sqlite_utils.Database(conn)
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA foreign_keys = ON")
            migrate(self.db)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from exc

    # -- lifecycle ------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing records ------------------------------------------------------

    def queue_length(self) -> int:
        """How many records wait to be acknowledged by the server."""
        row = self.db.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()
        return int(row[0])

    def check_capacity(self) -> None:
        """Raise :class:`OutboxFullError` when no new procedure may start."""
        waiting = self.queue_length()
        if waiting >= self.queue_bound:
            raise OutboxFullError(
                f"{waiting} transactions wait to be sent (limit {self.queue_bound}); "
                "no new procedure can start until the server is reachable again"
            )

    def record_transaction(
        self, record: TransactionRecord, *, boot_id: str | None = None
    ) -> OutboxItem:
        """Store a completed transaction and its outbox row in one transaction."""
        payload = record.to_payload()  # refuses a PIN or an individual number
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        boot = boot_id if boot_id is not None else current_boot_id()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the store: {exc}") from exc
        try:
            waiting = self.queue_length()
            if waiting >= self.queue_bound + QUEUE_HEADROOM:
                raise OutboxFullError(
                    f"outbox full ({waiting} records waiting); the transaction was not stored"
                )
            head = self.db.execute("SELECT last_seq, last_hash FROM chain_head").fetchone()
            last_seq, prev_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)
            seq = last_seq + 1
            digest = record_hash(seq, prev_hash, payload)
            self.db.execute(
                "INSERT INTO transactions (seq, transaction_id, payload, prev_hash, hash,"
                " created_wall, boot_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [seq, record.transaction_id, text, prev_hash, digest, _now_iso(), boot],
            )
            self.db.execute(
                "INSERT INTO outbox (seq, transaction_id, state) VALUES (?, ?, 'pending')",
                [seq, record.transaction_id],
            )
            self.db.execute(
                "INSERT INTO chain_head (id, last_seq, last_hash) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET last_seq = excluded.last_seq,"
                " last_hash = excluded.last_hash",
                [seq, digest],
            )
            self.db.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            self.db.execute("ROLLBACK")
            raise DuplicateTransactionError(
                f"transaction {record.transaction_id} is already stored"
            ) from exc
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return OutboxItem(seq, record.transaction_id, prev_hash, digest, payload)

    # -- the outbox, as the uploader sees it ------------------------------------

    def pending(self, limit: int) -> list[OutboxItem]:
        """The oldest ``limit`` unsent records, in sequence order."""
        rows = self.db.execute(
            "SELECT t.seq, t.transaction_id, t.prev_hash, t.hash, t.payload, o.attempts"
            " FROM outbox o JOIN transactions t USING (seq)"
            " WHERE o.state = 'pending' ORDER BY o.seq LIMIT ?",
            [limit],
        ).fetchall()
        return [
            OutboxItem(int(r[0]), str(r[1]), str(r[2]), str(r[3]), json.loads(r[4]), int(r[5]))
            for r in rows
        ]

    def _settle(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.conn.executemany(sql, params)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def mark_acked(self, seqs: Iterable[int]) -> None:
        """The server acknowledged these records; they leave the queue."""
        now = _now_iso()
        self._settle(
            "UPDATE outbox SET state = 'acked', settled_wall = ?, last_error = NULL"
            " WHERE seq = ? AND state = 'pending'",
            [(now, seq) for seq in seqs],
        )

    def mark_quarantined(self, rejected: dict[int, str]) -> None:
        """The server refused these records for good (4xx): keep them, report them,
        and stop them blocking the queue."""
        now = _now_iso()
        self._settle(
            "UPDATE outbox SET state = 'quarantined', settled_wall = ?, last_error = ?"
            " WHERE seq = ? AND state = 'pending'",
            [(now, error, seq) for seq, error in rejected.items()],
        )

    def note_attempt(self, seqs: Iterable[int], error: str | None) -> None:
        """Count one more delivery attempt for records that stay pending."""
        self._settle(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?"
            " WHERE seq = ? AND state = 'pending'",
            [(error, seq) for seq in seqs],
        )

    def quarantined(self) -> list[tuple[int, str, str]]:
        """Quarantined records as ``(seq, transaction_id, error)``."""
        rows = self.db.execute(
            "SELECT seq, transaction_id, coalesce(last_error, '') FROM outbox"
            " WHERE state = 'quarantined' ORDER BY seq"
        ).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def requeue_quarantined(self, seq: int) -> bool:
        """Put a quarantined record back in the queue (after the cause was fixed)."""
        cursor = self.db.execute(
            "UPDATE outbox SET state = 'pending', settled_wall = NULL"
            " WHERE seq = ? AND state = 'quarantined'",
            [seq],
        )
        return cursor.rowcount == 1

    def outbox_states(self) -> dict[str, int]:
        """Number of outbox rows in each state."""
        rows = self.db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    # -- reading records ------------------------------------------------------

    def records_on(self, transaction_date: str) -> list[TransactionRecord]:
        """The transactions of one counter date (ISO), oldest first."""
        rows = self.db.execute(
            "SELECT payload FROM transactions"
            " WHERE json_extract(payload, '$.extra.transaction_date') = ? ORDER BY seq",
            [transaction_date],
        ).fetchall()
        return [TransactionRecord.from_payload(json.loads(row[0])) for row in rows]

    def history(self, *, offset: int, limit: int) -> tuple[list[StoredRecord], int]:
        """A page of stored transactions, newest first, and how many there are in all."""
        rows = self.db.execute(
            "SELECT t.seq, t.payload, coalesce(o.state, 'unknown') FROM transactions t"
            " LEFT JOIN outbox o USING (seq) ORDER BY t.seq DESC LIMIT ? OFFSET ?",
            [limit, offset],
        ).fetchall()
        total = int(self.db.execute("SELECT count(*) FROM transactions").fetchone()[0])
        return [StoredRecord(int(r[0]), json.loads(r[1]), str(r[2])) for r in rows], total

    def verify_chain(self) -> list[int]:
        """Sequence numbers whose stored hash or link does not verify (empty = intact)."""
        broken: list[int] = []
        expected_prev: str | None = None
        for seq, prev_hash, digest, text in self.db.execute(
            "SELECT seq, prev_hash, hash, payload FROM transactions ORDER BY seq"
        ):
            ok = record_hash(seq, prev_hash, json.loads(text)) == digest
            if expected_prev is not None and prev_hash != expected_prev:
                ok = False
            if not ok:
                broken.append(int(seq))
            expected_prev = digest
        return broken

    def prune_settled(self, before_iso: str) -> int:
        """Delete acknowledged records settled before ``before_iso`` (data minimisation:
        the device keeps personal data only until the server has it)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            seqs = [
                int(r[0])
                for r in self.db.execute(
                    "SELECT seq FROM outbox WHERE state = 'acked' AND settled_wall < ?",
                    [before_iso],
                )
            ]
            self.db.conn.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            self.db.conn.executemany("DELETE FROM transactions WHERE seq = ?", [(s,) for s in seqs])
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return len(seqs)

    # -- uploader status ----------------------------------------------------------

    def set_uploader_status(self, **fields: Any) -> None:
        """Record what the uploader last saw (only the named fields change)."""
        unknown = set(fields) - _STATUS_FIELDS
        if unknown:
            raise StoreError(f"unknown uploader status field(s): {sorted(unknown)}")
        if not fields:
            return
        assignments = ", ".join(f"{name} = ?" for name in fields)
        values = [int(v) if isinstance(v, bool) else v for v in fields.values()]
        self.db.execute(f"UPDATE uploader_status SET {assignments} WHERE id = 1", values)  # noqa: S608

    def uploader_status(self) -> UploaderStatus:
        """The uploader's state for the TUI."""
        row = self.db.execute(
            "SELECT last_attempt, last_success, last_error, server_reachable, device_revoked,"
            " clock_skew_s, clock_checked_boot, server_high_water FROM uploader_status"
        ).fetchone()
        states = self.outbox_states()
        return UploaderStatus(
            queue_length=states.get("pending", 0),
            quarantined=states.get("quarantined", 0),
            last_attempt=row[0],
            last_success=row[1],
            last_error=row[2],
            server_reachable=bool(row[3]),
            device_revoked=bool(row[4]),
            clock_skew_s=row[5],
            clock_checked_boot=row[6],
            server_high_water=row[7],
        )
