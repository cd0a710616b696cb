"""The server's storage behind one small interface, on SQLite or PostgreSQL.

:class:`SqlRepository` speaks portable SQL (``ON CONFLICT``, no vendor
functions) through a DB-API connection; :class:`Dialect` holds the few things
that differ (how to connect, the parameter marker, how to begin a write). SQLite
is the default for a single server process; PostgreSQL is for production.

Every public method is one database transaction, so ingest of one batch is atomic. On
PostgreSQL each takes a connection from a pool (psycopg_pool), so one process serves many
requests at once; writers of one device take turns on its row (``lock_device``). SQLite
keeps one connection behind a lock (its writes are serialised by the file anyway).

The schema is not made here: ``madoguchi server migrate`` runs the numbered migrations of
:mod:`sync.server.migrations`, and :meth:`SqlRepository.readiness` says whether this code
can serve on what it finds (``/readyz``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from madoguchi.errors import ConfigError
from sync.errors import (
    ConflictError,
    NotAllowedError,
    NotFoundError,
    RegistryRuleError,
    RepositoryError,
)
from sync.protocol import ACCEPTED, DUPLICATE, REJECTED, IncomingRecord
from sync.server import partitions
from sync.server.authz import (
    Answer,
    Operation,
    Principal,
    Role,
    decide,
    may_change_certificate,
    office_target,
)
from sync.server.migrations import (
    PG_MIGRATE_LOCK,
    SCHEMA_VERSION,
    behind_message,
    pending,
    schema_version,
)
from sync.server.registry import (
    ACTION_STATUS,
    CertificateStatus,
    OperationStatus,
    certificate_move_refused,
)
from sync.server.report import ReportRow, daily_report

#: PostgreSQL connections one server process keeps at most (``[sync] server_pool_size``).
DEFAULT_POOL_SIZE = 8

#: Most audit rows one read returns.
AUDIT_PAGE = 500

#: Columns of ``records`` with their PostgreSQL types (for bulk inserts).
_RECORD_COLUMNS = (
    ("device_id", "text"),
    ("seq", "bigint"),
    ("transaction_id", "text"),
    ("prev_hash", "text"),
    ("hash", "text"),
    ("payload", "text"),
    ("received_at", "text"),
    ("business_date", "text"),
    ("office_code", "text"),
)

#: Columns of ``record_keys`` (migration 6): what must be unique across months.
_KEY_COLUMNS = (
    ("device_id", "text"),
    ("seq", "bigint"),
    ("transaction_id", "text"),
    ("hash", "text"),
    ("business_date", "text"),
)

#: Columns of ``report_facts`` (migration 3): a record's rows of the daily report.
_FACT_COLUMNS = (
    ("device_id", "text"),
    ("seq", "bigint"),
    ("business_date", "text"),
    ("office_code", "text"),
    ("certificate_type", "text"),
    ("transactions", "bigint"),
    ("issued", "bigint"),
    ("renewed", "bigint"),
    ("revoked", "bigint"),
    ("fee_collected_yen", "bigint"),
    ("fee_payable_jlis_yen", "bigint"),
)
#: Who changed which registry entry, when, from what to what, and why (issue 13).
_AUDIT_COLUMNS = (
    ("at", "text"),
    ("actor", "text"),
    ("registry", "text"),
    ("entry_key", "text"),
    ("office_code", "text"),
    ("before_status", "text"),
    ("after_status", "text"),
    ("why", "text"),
)


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What ingest did with one item."""

    status: str  # ACCEPTED, DUPLICATE or REJECTED
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """An enrolled device."""

    device_id: str
    office_code: str
    cert_serial: str | None
    status: str  # "active" or "revoked"
    high_water: int


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """A registry entry (card operation status or certificate status)."""

    key: str
    status: str
    updated_at: str
    detail: str = ""
    office_code: str | None = None  # the office whose registry entry it is (None: before v2)
    issued_by: str | None = None  # certificates: the device that issued it


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One registry change: who, when, which entry of whose office, before, after, why."""

    id: int
    at: str
    actor: str
    registry: str  # "card" or "certificate"
    key: str
    office_code: str | None
    before: str | None
    after: str
    why: str


class Repository(Protocol):
    """What the server needs from storage."""

    def ingest(
        self,
        device_id: str,
        items: Sequence[IncomingRecord],
        *,
        received_at: datetime,
        idem_key: str | None = None,
        body_hash: str | None = None,
    ) -> tuple[list[ItemOutcome], int]:
        """Store new items, recognise duplicates, refuse conflicts; returns the
        outcome per item and the device's high-water mark."""
        ...

    def reject(self, device_id: str, rejected: Sequence[tuple[int, str, str]], when: str) -> None:
        """Remember refused items ``(seq, transaction_id, reason)`` for the chain report."""
        ...

    def device(self, device_id: str) -> DeviceInfo | None:
        """One device, or None."""
        ...

    def device_for_cert(self, serial: str) -> DeviceInfo | None:
        """The device a client certificate belongs to, or None."""
        ...

    def add_enrolment_token(
        self, token_hash: str, device_id: str, office: str, expires: str
    ) -> None:
        """Allow one enrolment of ``device_id`` with the token whose hash is given."""
        ...

    def use_enrolment_token(self, token_hash: str, now: str) -> tuple[str, str]:
        """Consume a token; returns ``(device_id, office_code)``."""
        ...

    def bind_certificate(self, device_id: str, office: str, serial: str, now: str) -> None:
        """Make ``serial`` the device's (only) valid certificate."""
        ...

    def revoke_device(self, device_id: str, now: str) -> None:
        """Refuse the device from now on."""
        ...

    def records_for_day(self, date: str, office: str | None) -> list[tuple[str, dict[str, Any]]]:
        """``(office_code, payload)`` of every record of one business date."""
        ...

    def daily_report(self, date: str, office: str | None) -> list[ReportRow]:
        """The daily 交付状況 report of one business date, aggregated by the database."""
        ...

    def chain(self, device_id: str) -> list[tuple[int, str, str]]:
        """``(seq, prev_hash, hash)`` of the device's records in order."""
        ...

    def rejections(self, device_id: str) -> list[tuple[int, str, str]]:
        """``(seq, transaction_id, reason)`` refused for the device."""
        ...

    def card_status(self, card_id: str) -> StatusEntry | None:
        """The card's operation status, or None when unknown."""
        ...

    def set_card_status(
        self,
        card_id: str,
        status: OperationStatus,
        reason: str,
        now: str,
        hold_serials: Sequence[str] = (),
        *,
        actor: Principal,
        release_serials: Sequence[str] = (),
    ) -> None:
        """Set a card's operation status as ``actor`` (hold its certificates when
        suspended, release held ones when back in operation); every change audited."""
        ...

    def certificate_status(self, serial: str) -> StatusEntry | None:
        """A certificate's status, or None when unknown."""
        ...

    def set_certificate_status(
        self,
        serial: str,
        kind: str,
        status: CertificateStatus,
        now: str,
        *,
        actor: Principal,
        office: str | None,
        issued_by: str | None = None,
        why: str = "",
    ) -> None:
        """Set a certificate's status as ``actor`` (the registry rules apply); a new
        entry belongs to ``office``."""
        ...

    def registry_audit(
        self, office: str | None, after_id: int = 0, limit: int = AUDIT_PAGE
    ) -> list[AuditEntry]:
        """Registry changes in order, of one office (None: all), after ``after_id``."""
        ...

    def readiness(self) -> str | None:
        """Why the server cannot serve on this database now (None: it can)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def _database_error(exc: Exception) -> RepositoryError:
    """A driver's error in one line (PostgreSQL adds the statement and a caret on the
    next ones)."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return RepositoryError(f"database error: {first}")


class Dialect:
    """What differs between SQLite and PostgreSQL."""

    name = "sqlite"
    marker = "?"
    #: The audit table's key column.
    audit_id = "id INTEGER PRIMARY KEY AUTOINCREMENT"
    #: Appended to a SELECT of rows this transaction will change (SQLite: BEGIN IMMEDIATE
    #: already holds the write lock).
    for_update = ""

    def __init__(self, target: str) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._conn: Any = None

    def open(self, pool_size: int) -> None:
        """Connect (SQLite: one connection; ``pool_size`` is PostgreSQL's)."""
        self._conn = self.connect()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection for one transaction (SQLite: the one, behind the lock)."""
        with self._lock:
            yield self._conn

    def close(self) -> None:
        """Release the connection(s)."""
        with self._lock:
            self._conn.close()

    def has_table(self, cur: Any, name: str) -> bool:
        """True when table ``name`` exists."""
        cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
        return cur.fetchone() is not None

    def lock_migrations(self, cur: Any) -> None:
        """Make a second ``server migrate`` wait (SQLite: BEGIN IMMEDIATE already does)."""

    def grant(self, cur: Any, role: str) -> None:
        """Give ``role`` what the server needs at run time, no more."""
        raise ConfigError("--grant names a PostgreSQL role; SQLite has no roles")

    def connect(self) -> Any:
        """A new DB-API connection."""
        path = Path(self.target)
        path.parent.mkdir(parents=True, exist_ok=True)
        # The registries and every record: readable by the server only, whatever the
        # umask (SQLite gives its -wal and -shm files the database file's mode).
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        conn = sqlite3.connect(
            self.target, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def begin(self, conn: Any) -> None:
        """Start a write transaction."""
        conn.execute("BEGIN IMMEDIATE")

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor in one write transaction: committed when the block ends, rolled back
        when it raises; a driver error becomes :class:`RepositoryError` (one line)."""
        # A driver error here fails the request (503): :meth:`read` turns it into a
        # RepositoryError, and the pool replaces a connection that died.
        with self.read() as cur:
            conn = cur.connection
            try:
                self.begin(conn)
                yield cur
                conn.execute("COMMIT")
            except BaseException:
                with suppress(*self.error_types()):
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def read(self) -> Iterator[Any]:
        """A cursor outside any transaction, for a read of one statement that must see
        the latest commit: one round trip per statement, where :meth:`transaction` costs
        a ``BEGIN`` and a ``COMMIT`` more. A driver error becomes
        :class:`RepositoryError`, as there."""
        errors = self.error_types()
        try:
            with self.connection() as conn:
                cur = conn.cursor()
                try:
                    yield cur
                finally:
                    cur.close()
        except errors as exc:
            raise _database_error(exc) from exc

    def sql(self, text: str) -> str:
        """Put this dialect's parameter marker into ``text``."""
        return text if self.marker == "?" else text.replace("?", self.marker)

    def error_types(self) -> tuple[type[Exception], ...]:
        """The driver's exception base classes."""
        return (sqlite3.Error,)

    def lock_device(self, cur: Any, device_id: str) -> None:
        """Serialise writers of one device (SQLite: BEGIN IMMEDIATE already does)."""

    def insert_rows(
        self,
        cur: Any,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        tail: str = "",
    ) -> None:
        """Insert many rows in one call (SQLite: executemany runs the loop in C)."""
        if not rows:
            return
        names = ", ".join(name for name, _ in columns)
        marks = ", ".join("?" for _ in columns)
        cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}){tail}", rows)  # noqa: S608


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3."""

    name = "postgresql"
    marker = "%s"
    audit_id = "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    for_update = " FOR UPDATE"

    def open(self, pool_size: int) -> None:
        from psycopg_pool import ConnectionPool

        # Each checkout is checked (one empty round trip), so a restarted PostgreSQL or a
        # terminated backend costs no request: the pool replaces the dead connection.
        self._pool = ConnectionPool(
            self.target, min_size=1, max_size=pool_size, open=False, timeout=10.0,
            # Plan each statement for its parameters: a generic plan made while a table
            # was small (a new server's first minutes) stays in a kept connection until
            # the next ANALYZE, and seq-scans the table once it is large (measured: the
            # database's share of a batch grew threefold within a minute of ingest).
            kwargs={"autocommit": True, "options": "-c plan_cache_mode=force_custom_plan"},
            check=ConnectionPool.check_connection,
            name="madoguchi-server",
        )
        try:
            self._pool.open(wait=True, timeout=10.0)
        except Exception as exc:
            self._pool.close()
            raise RepositoryError(f"cannot connect to PostgreSQL: {exc}") from exc

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        self._pool.close()

    def has_table(self, cur: Any, name: str) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return bool(cur.fetchone()[0])

    def lock_migrations(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [PG_MIGRATE_LOCK])

    def grant(self, cur: Any, role: str) -> None:
        from psycopg import sql

        cur.execute("SELECT current_schema()")
        schema = sql.Identifier(cur.fetchone()[0])
        who = sql.Identifier(role)
        cur.execute(sql.SQL(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}"
        ).format(schema, who))
        cur.execute(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, who)
        )

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN")

    def lock_device(self, cur: Any, device_id: str) -> None:
        # Two server processes ingesting for one device take turns on its row.
        cur.execute("SELECT 1 FROM devices WHERE device_id = %s FOR UPDATE", [device_id])

    def insert_rows(
        self,
        cur: Any,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        tail: str = "",
    ) -> None:
        """One statement with one array parameter per column (``unnest``): a single
        round trip and a short query whatever the batch size."""
        if not rows:
            return
        names = ", ".join(name for name, _ in columns)
        arrays = ", ".join(f"%b::{kind}[]" for _, kind in columns)
        cur.execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}){tail}",  # noqa: S608
            # %b: binary arrays, so the JSON payloads need no per-element escaping.
            [list(column) for column in zip(*rows, strict=True)],
        )

    def error_types(self) -> tuple[type[Exception], ...]:
        import psycopg

        return (psycopg.Error,)


def open_repository(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> SqlRepository:
    """A repository for ``sqlite:///path``, a plain path, or ``postgresql://…``.

    Makes no schema: see :meth:`SqlRepository.migrate` and :meth:`SqlRepository.readiness`.
    """
    if url.startswith(("postgresql://", "postgres://")):
        return SqlRepository(PostgresDialect(url), pool_size=pool_size)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    return SqlRepository(
        Dialect("/" + path if url.startswith("sqlite:///") else path), pool_size=pool_size
    )


class SqlRepository:
    """:class:`Repository` on a DB-API connection (SQLite) or a pool of them (PostgreSQL)."""

    def __init__(self, dialect: Dialect, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.dialect = dialect
        dialect.open(pool_size)

    def _q(self, text: str) -> str:
        return self.dialect.sql(text)

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self.dialect.transaction() as cur:
            yield cur

    def close(self) -> None:
        """Release the connection(s)."""
        self.dialect.close()

    # -- schema ---------------------------------------------------------------

    def schema_version(self) -> int | None:
        """The database's schema version (None: no schema yet)."""
        with self._transaction() as cur:
            return schema_version(cur, self.dialect)

    def readiness(self) -> str | None:
        """Why this server cannot serve now (None: it can): the database unreachable, or
        its schema not the one this code reads (``/readyz``)."""
        try:
            return behind_message(self.schema_version())
        except RepositoryError as exc:
            return f"the database is unreachable: {exc}"

    def migrate(self, *, grant: str | None = None) -> tuple[int | None, int]:
        """Run the pending migrations in one transaction, as the schema's owner; with
        ``grant``, give that role the run-time privileges (PostgreSQL). Returns the
        versions before and after."""
        try:
            return self._migrate(grant)
        except RepositoryError as exc:
            if "permission denied" not in str(exc):
                raise
            raise RepositoryError(
                f"{exc}: this role may not change the schema; run `madoguchi server migrate`"
                " as the schema's owner"
            ) from exc

    def _migrate(self, grant: str | None) -> tuple[int | None, int]:
        with self._transaction() as cur:
            self.dialect.lock_migrations(cur)
            before = schema_version(cur, self.dialect)
            if before is not None and before > SCHEMA_VERSION:
                raise RepositoryError(behind_message(before) or "schema too new")
            if before is None:
                cur.execute("CREATE TABLE schema_info (version INTEGER NOT NULL)")
                cur.execute(self._q("INSERT INTO schema_info (version) VALUES (?)"), [0])
            steps = pending(before)
            for migration in steps:
                for statement in migration.statements(self.dialect):
                    cur.execute(statement)
                if migration.backfill is not None:
                    migration.backfill(self, cur)
            if steps:  # nothing to do writes nothing: the runtime role may run it too
                cur.execute(self._q("UPDATE schema_info SET version = ?"), [SCHEMA_VERSION])
            if self.dialect.name == "postgresql":
                # The coming months' partitions (DDL only when one is missing).
                partitions.maintain(cur, partitions.business_today())
            if grant:
                self.dialect.grant(cur, grant)
        return before, SCHEMA_VERSION

    # -- ingest ---------------------------------------------------------------

    def ingest(
        self,
        device_id: str,
        items: Sequence[IncomingRecord],
        *,
        received_at: datetime,
        idem_key: str | None = None,
        body_hash: str | None = None,
    ) -> tuple[list[ItemOutcome], int]:
        """See :meth:`Repository.ingest`."""
        when = received_at.isoformat(timespec="milliseconds")
        with self._transaction() as cur:
            self.dialect.lock_device(cur, device_id)
            if idem_key is not None:
                self._check_batch_key(cur, device_id, idem_key, body_hash or "", when)
            by_seq, by_txn = self._existing(cur, device_id, items)
            enrolled = self._enrolled_office(cur, device_id)
            outcomes: list[ItemOutcome] = []
            candidates: list[tuple[int, IncomingRecord]] = []
            taken_seq: dict[int, str] = {}
            for given in items:
                item, outcome = _filed_office(given, enrolled)
                if outcome.status == ACCEPTED:
                    outcome = _classify(item, by_seq, by_txn, taken_seq)
                if outcome.status == ACCEPTED:
                    candidates.append((len(outcomes), item))
                    taken_seq[item.seq] = item.transaction_id
                outcomes.append(outcome)
            actor = Principal(Role.COUNTER, enrolled, device_id)
            fresh: list[IncomingRecord] = []
            changes = _CertificateChanges(self._certificates(cur, candidates), actor, when)
            for index, item in candidates:
                refused = changes.apply(item)
                if refused is None:
                    fresh.append(item)
                else:
                    outcomes[index] = ItemOutcome(REJECTED, refused)
            if fresh:
                # The keys first: on PostgreSQL each record row refers to its key row
                # (migration 6), whose constraints keep (device_id, seq) and
                # (device_id, transaction_id) unique across the monthly partitions.
                self.dialect.insert_rows(
                    cur,
                    "record_keys",
                    _KEY_COLUMNS,
                    [(device_id, r.seq, r.transaction_id, r.hash, r.business_date)
                     for r in fresh],
                )
                self.dialect.insert_rows(
                    cur,
                    "records",
                    _RECORD_COLUMNS,
                    [
                        (
                            device_id,
                            r.seq,
                            r.transaction_id,
                            r.prev_hash,
                            r.hash,
                            r.canonical,
                            when,
                            r.business_date,
                            r.office_code,
                        )
                        for r in fresh
                    ],
                )
                self._write_certificates(cur, changes, when)
                self.write_report_facts(
                    cur, [(device_id, r.seq, r.business_date, r.office_code, r.payload)
                          for r in fresh]
                )
            high_water = self._advance_high_water(cur, device_id)
        return outcomes, high_water

    def write_report_facts(
        self, cur: Any, records: Sequence[tuple[str, int, str, str, dict[str, Any]]]
    ) -> None:
        """Each record's rows of the daily report (``report.daily_report`` of the record
        alone: the report is a sum over records, so the day's is their GROUP BY)."""
        rows = [
            (device_id, seq, date, office, row.certificate_type, row.transactions, row.issued,
             row.renewed, row.revoked, row.fee_collected_yen, row.fee_payable_jlis_yen)
            for device_id, seq, date, office, payload in records
            for row in daily_report(date, [(office, payload)])
        ]
        self.dialect.insert_rows(cur, "report_facts", _FACT_COLUMNS, rows)

    def backfill_report_facts(self, cur: Any, chunk: int = 5000) -> None:
        """Migration 3: the report facts of the records stored before it, in chunks."""
        after: tuple[str, int] = ("", -1)
        while True:
            cur.execute(self._q(
                "SELECT device_id, seq, business_date, office_code, payload FROM records"
                " WHERE device_id > ? OR (device_id = ? AND seq > ?)"
                " ORDER BY device_id, seq LIMIT ?"
            ), [after[0], after[0], after[1], chunk])
            found = cur.fetchall()
            if not found:
                return
            self.write_report_facts(
                cur, [(str(d), int(q), str(b), str(o), json.loads(p)) for d, q, b, o, p in found]
            )
            after = (str(found[-1][0]), int(found[-1][1]))

    def daily_report(self, date: str, office: str | None) -> list[ReportRow]:
        """The daily 交付状況 report of one business date (one office, or all), summed by
        the database over the day's report facts; the same rows as
        :func:`sync.server.report.daily_report` over :meth:`records_for_day`."""
        names = ", ".join(f"sum({name})" for name, _ in _FACT_COLUMNS[5:])
        sql = (
            f"SELECT office_code, certificate_type, {names} FROM report_facts"  # noqa: S608
            " WHERE business_date = ?"
        )
        params = [date]
        if office is not None:
            sql += " AND office_code = ?"
            params.append(office)
        with self._transaction() as cur:
            cur.execute(self._q(sql + " GROUP BY office_code, certificate_type"), params)
            found = cur.fetchall()
        # sorted here, by code point as report.daily_report does (not the database's
        # collation, which may be a locale's)
        return sorted(
            (ReportRow(str(o), date, str(k), *(int(v) for v in sums)) for o, k, *sums in found),
            key=lambda r: (r.office_code, r.certificate_type),
        )

    def _enrolled_office(self, cur: Any, device_id: str) -> str | None:
        cur.execute(self._q("SELECT office_code FROM devices WHERE device_id = ?"), [device_id])
        row = cur.fetchone()
        return None if row is None else str(row[0])

    def _check_batch_key(self, cur: Any, device_id: str, key: str, digest: str, when: str) -> None:
        cur.execute(
            self._q("SELECT body_hash FROM batch_keys WHERE device_id = ? AND idem_key = ?"),
            [device_id, key],
        )
        row = cur.fetchone()
        if row is None:
            cur.execute(
                self._q(
                    "INSERT INTO batch_keys (device_id, idem_key, body_hash, received_at)"
                    " VALUES (?, ?, ?, ?)"
                ),
                [device_id, key, digest, when],
            )
        elif row[0] != digest:
            raise ConflictError(
                "Idempotency-Key was already used with a different request body (replay refused)"
            )

    def _existing(
        self, cur: Any, device_id: str, items: Sequence[IncomingRecord]
    ) -> tuple[dict[int, tuple[str, str]], dict[str, tuple[int, str]]]:
        by_seq: dict[int, tuple[str, str]] = {}
        by_txn: dict[str, tuple[int, str]] = {}
        if not items:
            return by_seq, by_txn
        seqs = [i.seq for i in items]
        cur.execute(
            self._q(
                "SELECT seq, transaction_id, hash FROM record_keys"
                " WHERE device_id = ? AND seq BETWEEN ? AND ?"
            ),
            [device_id, min(seqs), max(seqs)],
        )
        for seq, txn, digest in cur.fetchall():
            by_seq[int(seq)] = (str(txn), str(digest))
            by_txn[str(txn)] = (int(seq), str(digest))
        ids = [i.transaction_id for i in items]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            cur.execute(
                self._q(
                    "SELECT seq, transaction_id, hash FROM record_keys"  # noqa: S608
                    f" WHERE device_id = ? AND transaction_id IN ({marks})"
                ),
                [device_id, *chunk],
            )
            for seq, txn, digest in cur.fetchall():
                by_txn[str(txn)] = (int(seq), str(digest))
        return by_seq, by_txn

    def _certificates(
        self, cur: Any, candidates: Sequence[tuple[int, IncomingRecord]]
    ) -> dict[str, StatusEntry]:
        """The registry entries the candidates' certificate actions name, locked for this
        transaction (PostgreSQL: another server process waits until it commits)."""
        serials = sorted({serial for _, item in candidates for _, _, serial in _actions(item)})
        found: dict[str, StatusEntry] = {}
        for start in range(0, len(serials), 500):
            chunk = serials[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            cur.execute(
                self._q(
                    "SELECT serial, status, updated_at, kind, office_code, issued_by"  # noqa: S608
                    f" FROM certificate_status WHERE serial IN ({marks})"
                    f" ORDER BY serial{self.dialect.for_update}"
                ),
                chunk,
            )
            for serial, status, updated, kind, office, issuer in cur.fetchall():
                found[str(serial)] = StatusEntry(
                    str(serial), str(status), str(updated), str(kind), office, issuer
                )
        return found

    def _write_certificates(self, cur: Any, changes: _CertificateChanges, when: str) -> None:
        # One row per serial (the last change in the batch wins): PostgreSQL refuses an
        # upsert that touches the same row twice in one statement. The WHERE keeps 失効
        # final even if another process revoked the certificate meanwhile.
        self.dialect.insert_rows(
            cur,
            "certificate_status",
            (
                ("serial", "text"),
                ("kind", "text"),
                ("status", "text"),
                ("updated_at", "text"),
                ("office_code", "text"),
                ("issued_by", "text"),
            ),
            [
                (serial, kind, status, when, office, issuer)
                for serial, kind, status, office, issuer in changes.changed()
            ],
            " ON CONFLICT (serial) DO UPDATE SET status = excluded.status,"
            " kind = excluded.kind, updated_at = excluded.updated_at"
            " WHERE certificate_status.status <> 'revoked'",
        )
        self._audit(cur, changes.audit)

    def _audit(self, cur: Any, rows: Sequence[tuple[str, ...] | tuple[Any, ...]]) -> None:
        self.dialect.insert_rows(cur, "registry_audit", _AUDIT_COLUMNS, rows)

    def _advance_high_water(self, cur: Any, device_id: str) -> int:
        cur.execute(self._q("SELECT high_water FROM devices WHERE device_id = ?"), [device_id])
        row = cur.fetchone()
        mark = int(row[0]) if row else 0
        while True:
            cur.execute(
                self._q(
                    "SELECT seq FROM record_keys WHERE device_id = ? AND seq > ?"
                    " ORDER BY seq LIMIT 2000"
                ),
                [device_id, mark],
            )
            seqs = [int(r[0]) for r in cur.fetchall()]
            start = mark
            for seq in seqs:
                if seq != mark + 1:
                    break
                mark = seq
            if mark == start or len(seqs) < 2000 or mark != seqs[-1]:
                break
        # Never moves back, even with several server processes (PostgreSQL).
        cur.execute(
            self._q("UPDATE devices SET high_water = ? WHERE device_id = ? AND high_water < ?"),
            [mark, device_id, mark],
        )
        return mark

    def reject(self, device_id: str, rejected: Sequence[tuple[int, str, str]], when: str) -> None:
        """See :meth:`Repository.reject`."""
        if not rejected:
            return
        with self._transaction() as cur:
            cur.executemany(
                self._q(
                    "INSERT INTO rejections (device_id, seq, transaction_id, reason, received_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, seq) DO UPDATE SET"
                    " reason = excluded.reason, received_at = excluded.received_at"
                ),
                [(device_id, seq, txn, reason, when) for seq, txn, reason in rejected],
            )

    # -- devices and enrolment ---------------------------------------------------

    def _device_row(self, where: str, value: str) -> DeviceInfo | None:
        # Every request with a client certificate asks this (the gate): one statement,
        # so no transaction around it (a poll went from about 1.1 to 0.8 ms of server CPU).
        with self.dialect.read() as cur:
            cur.execute(
                self._q(
                    "SELECT device_id, office_code, cert_serial, status, high_water"  # noqa: S608
                    f" FROM devices WHERE {where} = ?"
                ),
                [value],
            )
            row = cur.fetchone()
        if row is None:
            return None
        return DeviceInfo(str(row[0]), str(row[1]), row[2], str(row[3]), int(row[4]))

    def device(self, device_id: str) -> DeviceInfo | None:
        """See :meth:`Repository.device`."""
        return self._device_row("device_id", device_id)

    def device_for_cert(self, serial: str) -> DeviceInfo | None:
        """See :meth:`Repository.device_for_cert`."""
        return self._device_row("cert_serial", serial)

    def add_enrolment_token(
        self, token_hash: str, device_id: str, office: str, expires: str
    ) -> None:
        """See :meth:`Repository.add_enrolment_token`."""
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "INSERT INTO enrolment_tokens (token_hash, device_id, office_code, expires_at)"
                    " VALUES (?, ?, ?, ?)"
                ),
                [token_hash, device_id, office, expires],
            )

    def use_enrolment_token(self, token_hash: str, now: str) -> tuple[str, str]:
        """See :meth:`Repository.use_enrolment_token`."""
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT device_id, office_code, expires_at, used_at FROM enrolment_tokens"
                    " WHERE token_hash = ?"
                ),
                [token_hash],
            )
            row = cur.fetchone()
            if row is None or row[3] is not None or str(row[2]) < now:
                raise NotFoundError("enrolment token unknown, already used or expired")
            cur.execute(
                self._q("UPDATE enrolment_tokens SET used_at = ? WHERE token_hash = ?"),
                [now, token_hash],
            )
        return str(row[0]), str(row[1])

    def bind_certificate(self, device_id: str, office: str, serial: str, now: str) -> None:
        """See :meth:`Repository.bind_certificate`."""
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "INSERT INTO devices (device_id, office_code, cert_serial, status, enrolled_at)"
                    " VALUES (?, ?, ?, 'active', ?) ON CONFLICT (device_id) DO UPDATE SET"
                    " office_code = excluded.office_code, cert_serial = excluded.cert_serial,"
                    " status = 'active', enrolled_at = excluded.enrolled_at, revoked_at = NULL"
                ),
                [device_id, office, serial, now],
            )

    def revoke_device(self, device_id: str, now: str) -> None:
        """See :meth:`Repository.revoke_device`."""
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "UPDATE devices SET status = 'revoked', revoked_at = ? WHERE device_id = ?"
                ),
                [now, device_id],
            )
            if cur.rowcount != 1:
                raise NotFoundError(f"no device {device_id!r}")

    # -- reading records ------------------------------------------------------------

    def records_for_day(self, date: str, office: str | None) -> list[tuple[str, dict[str, Any]]]:
        """See :meth:`Repository.records_for_day`."""
        sql = "SELECT office_code, payload FROM records WHERE business_date = ?"
        params = [date]
        if office is not None:
            sql += " AND office_code = ?"
            params.append(office)
        with self._transaction() as cur:
            cur.execute(self._q(sql + " ORDER BY office_code, device_id, seq"), params)
            rows = cur.fetchall()
        return [(str(o), json.loads(p)) for o, p in rows]

    def chain(self, device_id: str) -> list[tuple[int, str, str]]:
        """See :meth:`Repository.chain`."""
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT seq, prev_hash, hash FROM records WHERE device_id = ? ORDER BY seq"
                ),
                [device_id],
            )
            return [(int(s), str(p), str(h)) for s, p, h in cur.fetchall()]

    def rejections(self, device_id: str) -> list[tuple[int, str, str]]:
        """See :meth:`Repository.rejections`."""
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT seq, transaction_id, reason FROM rejections WHERE device_id = ?"
                    " ORDER BY seq"
                ),
                [device_id],
            )
            return [(int(s), str(t), str(r)) for s, t, r in cur.fetchall()]

    # -- registries -------------------------------------------------------------------

    def card_status(self, card_id: str) -> StatusEntry | None:
        """See :meth:`Repository.card_status`."""
        with self._transaction() as cur:
            return self._card_row(cur, card_id)

    def _card_row(self, cur: Any, card_id: str, lock: str = "") -> StatusEntry | None:
        cur.execute(
            self._q(
                "SELECT status, updated_at, reason, office_code FROM card_status"  # noqa: S608
                f" WHERE card_id = ?{lock}"
            ),
            [card_id],
        )
        row = cur.fetchone()
        if row is None:
            return None
        return StatusEntry(card_id, str(row[0]), str(row[1]), str(row[2]), row[3])

    def set_card_status(
        self,
        card_id: str,
        status: OperationStatus,
        reason: str,
        now: str,
        hold_serials: Sequence[str] = (),
        *,
        actor: Principal,
        release_serials: Sequence[str] = (),
    ) -> None:
        """See :meth:`Repository.set_card_status`."""
        with self._transaction() as cur:
            entry = self._card_row(cur, card_id, self.dialect.for_update)
            office = entry.office_code if entry is not None else actor.office_code
            if entry is not None and not _may_change_card(actor, entry.office_code):
                raise NotAllowedError(f"card {card_id} is in another office's registry")
            why = reason or f"運用状況 → {status.label}"
            cur.execute(
                self._q(
                    "INSERT INTO card_status (card_id, status, reason, updated_at, office_code)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (card_id) DO UPDATE SET"
                    " status = excluded.status, reason = excluded.reason,"
                    " updated_at = excluded.updated_at"
                ),
                [card_id, status.value, reason, now, office],
            )
            before = entry.status if entry is not None else None
            audit: list[tuple[Any, ...]] = []
            if before != status.value:
                audit.append((now, actor.actor, "card", card_id, office, before, status.value, why))
            moves = []
            if status is OperationStatus.SUSPENDED:
                moves = [(s, CertificateStatus.TEMPORARY_HOLD) for s in hold_serials]
            elif status is OperationStatus.IN_OPERATION:
                moves = [(s, CertificateStatus.VALID) for s in release_serials]
            for serial, target in moves:
                audit.extend(self._move_held(cur, serial, target, (card_id, now, why), actor))
            self._audit(cur, audit)

    def _move_held(
        self,
        cur: Any,
        serial: str,
        target: CertificateStatus,
        change: tuple[str, str, str],
        actor: Principal,
    ) -> list[tuple[Any, ...]]:
        """Put one certificate of a suspended card on 一時保留, or release it (有効 again);
        ``change`` is ``(card_id, now, why)``. A 失効 or unknown one is left as it is;
        another office's is refused."""
        card_id, now, why = change
        cur.execute(
            self._q(
                "SELECT status, office_code, issued_by FROM certificate_status"  # noqa: S608
                f" WHERE serial = ?{self.dialect.for_update}"
            ),
            [serial],
        )
        row = cur.fetchone()
        if row is None:
            return []
        before = CertificateStatus(row[0])
        if not may_change_certificate(actor, row[1], row[2]):
            raise NotAllowedError(f"certificate {serial} is in another office's registry")
        if before is target or certificate_move_refused(before, target, by_record=False):
            return []
        if target is CertificateStatus.VALID and before is not CertificateStatus.TEMPORARY_HOLD:
            return []
        cur.execute(
            self._q(
                "UPDATE certificate_status SET status = ?, card_id = ?, updated_at = ?"
                " WHERE serial = ? AND status = ?"
            ),
            [target.value, card_id, now, serial, before.value],
        )
        return [(now, actor.actor, "certificate", serial, row[1], before.value, target.value, why)]

    def certificate_status(self, serial: str) -> StatusEntry | None:
        """See :meth:`Repository.certificate_status`."""
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT status, updated_at, kind, office_code, issued_by"
                    " FROM certificate_status WHERE serial = ?"
                ),
                [serial],
            )
            row = cur.fetchone()
        if row is None:
            return None
        return StatusEntry(serial, str(row[0]), str(row[1]), str(row[2]), row[3], row[4])

    def set_certificate_status(
        self,
        serial: str,
        kind: str,
        status: CertificateStatus,
        now: str,
        *,
        actor: Principal,
        office: str | None,
        issued_by: str | None = None,
        why: str = "",
    ) -> None:
        """See :meth:`Repository.set_certificate_status`."""
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT status, office_code, issued_by FROM certificate_status"  # noqa: S608
                    f" WHERE serial = ?{self.dialect.for_update}"
                ),
                [serial],
            )
            row = cur.fetchone()
            before = CertificateStatus(row[0]) if row is not None else None
            owner = row[1] if row is not None else office
            if row is not None and not may_change_certificate(actor, row[1], row[2]):
                raise NotAllowedError(f"certificate {serial} is in another office's registry")
            refused = certificate_move_refused(before, status, by_record=False)
            if refused is not None:
                raise RegistryRuleError(f"certificate {serial}: {refused}")
            cur.execute(
                self._q(
                    "INSERT INTO certificate_status"
                    " (serial, kind, status, updated_at, office_code, issued_by)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO UPDATE SET"
                    " status = excluded.status, updated_at = excluded.updated_at"
                ),
                [serial, kind, status.value, now, owner, issued_by],
            )
            if before is not status:
                self._audit(
                    cur,
                    [
                        (
                            now,
                            actor.actor,
                            "certificate",
                            serial,
                            owner,
                            before.value if before is not None else None,
                            status.value,
                            why,
                        )
                    ],
                )

    def registry_audit(
        self, office: str | None, after_id: int = 0, limit: int = AUDIT_PAGE
    ) -> list[AuditEntry]:
        """See :meth:`Repository.registry_audit`."""
        names = ", ".join(name for name, _ in _AUDIT_COLUMNS)
        sql = f"SELECT id, {names} FROM registry_audit WHERE id > ?"  # noqa: S608
        params: list[Any] = [after_id]
        if office is not None:
            sql += " AND office_code = ?"
            params.append(office)
        params.append(max(1, min(limit, AUDIT_PAGE)))
        with self._transaction() as cur:
            cur.execute(self._q(sql + " ORDER BY id LIMIT ?"), params)
            rows = cur.fetchall()
        return [
            AuditEntry(
                int(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                str(r[4]),
                r[5],
                r[6],
                str(r[7]),
                str(r[8]),
            )
            for r in rows
        ]


def _filed_office(item: IncomingRecord, enrolled: str | None) -> tuple[IncomingRecord, ItemOutcome]:
    """The record under the office its device was enrolled for.

    A record without an office code is filed under the enrolled office; one that names
    another office is refused, so that no device counts in another office's report.
    """
    if enrolled is None or item.office_code == enrolled:
        return item, ItemOutcome(ACCEPTED)
    if not item.office_code:
        return dataclasses.replace(item, office_code=enrolled), ItemOutcome(ACCEPTED)
    return item, ItemOutcome(
        REJECTED,
        f"office_code {item.office_code!r} is not the office this device was enrolled for"
        f" ({enrolled!r}): check [sync] office_code, or enrol the device for that office",
    )


def _classify(
    item: IncomingRecord,
    by_seq: dict[int, tuple[str, str]],
    by_txn: dict[str, tuple[int, str]],
    taken_seq: dict[int, str],
) -> ItemOutcome:
    known = by_txn.get(item.transaction_id)
    if known is not None:
        if known == (item.seq, item.hash):
            return ItemOutcome(DUPLICATE)
        return ItemOutcome(
            REJECTED, "transaction_id already stored with different content (replay refused)"
        )
    holder = by_seq.get(item.seq)
    if holder is not None or item.seq in taken_seq:
        return ItemOutcome(REJECTED, f"sequence number {item.seq} already used by another record")
    return ItemOutcome(ACCEPTED)


def _may_change_card(actor: Principal, office: str | None) -> bool:
    """The card rule of the matrix (an entry from before v2 has no office: its own)."""
    target = office_target(actor, office)
    return decide(actor, Operation.CHANGE_CARD_STATUS, target) is Answer.ALLOW


def _actions(item: IncomingRecord) -> list[tuple[str, str, str]]:
    """``(kind, action, serial)`` of a record's certificate actions that name a serial
    (``sync.protocol.parse_item`` has checked their shape)."""
    return [
        (str(c["kind"]), str(c["action"]), str(c["serial"]))
        for c in item.payload.get("certificates") or ()
        if c.get("serial")
    ]


class _CertificateChanges:
    """The registry changes of one batch, record by record, under the registry rules.

    A record whose certificate actions break a rule (another office's certificate, a
    失効 one made valid, a 一時保留 lifted by a record) is refused as a whole, so the
    registry never holds half of a record. (Plain tuples on this path: it runs for every
    certificate of every record ingested.)
    """

    def __init__(self, existing: dict[str, StatusEntry], actor: Principal, when: str) -> None:
        self.existing = existing
        #: serial -> (status, kind, office, issued_by), as the batch leaves it so far
        self.state: dict[str, tuple[str, str, str | None, str | None]] = {
            e.key: (e.status, e.detail, e.office_code, e.issued_by) for e in existing.values()
        }
        self.actor = actor
        self._who = actor.actor
        self.when = when
        self.audit: list[tuple[Any, ...]] = []

    def apply(self, item: IncomingRecord) -> str | None:
        """Take ``item``'s changes, or return why the record is refused."""
        local: dict[str, tuple[str, str, str | None, str | None]] = {}
        audit: list[tuple[Any, ...]] = []
        for kind, action, serial in _actions(item):
            status = ACTION_STATUS[action]
            entry = local.get(serial) or self.state.get(serial)
            if entry is None:
                before = None
                office, issuer = self.actor.office_code, self.actor.device_id
            else:
                before = CertificateStatus(entry[0])
                office, issuer = entry[2], entry[3]
                if not may_change_certificate(self.actor, office, issuer):
                    return (
                        f"certificate {serial} is in another office's registry: a counter"
                        " changes only its own office's certificates"
                    )
            refused = certificate_move_refused(before, status, by_record=True)
            if refused is not None:
                return f"certificate {serial}: {refused}"
            local[serial] = (status.value, kind, office, issuer)
            if before is not status:
                audit.append(
                    (
                        self.when,
                        self._who,
                        "certificate",
                        serial,
                        office,
                        None if before is None else before.value,
                        status.value,
                        f"record {item.transaction_id} (seq {item.seq}): {action}",
                    )
                )
        self.state.update(local)
        self.audit.extend(audit)
        return None

    def changed(self) -> list[tuple[str, str, str, str | None, str | None]]:
        """``(serial, kind, status, office, issued_by)`` of the entries to write: new ones
        and those whose status or kind changed, in serial order. That is the order they
        were locked in; two batches inserting the same new serials then take their index
        entries in one order, and the second waits instead of deadlocking."""
        out = []
        for serial, (status, kind, office, issuer) in sorted(self.state.items()):
            old = self.existing.get(serial)
            if old is None or (old.status, old.detail) != (status, kind):
                out.append((serial, kind, status, office, issuer))
        return out
