"""The central server's schema, as numbered migrations that ``madoguchi server migrate`` runs.

The server itself never changes the schema: it reads ``schema_info.version`` and serves
only when it is :data:`SCHEMA_VERSION` (``/readyz`` says why not), so on PostgreSQL the
role the server runs as needs no ``CREATE`` privilege, only ``SELECT``, ``INSERT``,
``UPDATE`` and ``DELETE`` on the tables (``server migrate --grant ROLE`` gives exactly
those). Migrations run as the schema's owner, one transaction for all the pending ones;
on PostgreSQL an advisory lock makes a second ``migrate`` wait, then find nothing to do.

A new migration is appended to :data:`MIGRATIONS` (never edit one that has shipped) and
:data:`SCHEMA_VERSION` follows by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.server.repository import Dialect

#: The advisory-lock key ``server migrate`` holds on PostgreSQL ("madoguchi" in ASCII, cut).
PG_MIGRATE_LOCK = 0x6D61646F67756368


@dataclass(frozen=True)
class Migration:
    """One step from ``version - 1`` to ``version``: statements, then (for data that SQL
    alone cannot derive) ``backfill(repository, cursor)`` in the same transaction."""

    version: int
    description: str
    statements: Callable[[Dialect], Sequence[str]]
    backfill: Callable[[Any, Any], None] | None = None


def _v1(dialect: Dialect) -> Sequence[str]:
    return (
        "CREATE TABLE devices (device_id TEXT PRIMARY KEY, office_code TEXT NOT NULL,"
        " cert_serial TEXT UNIQUE, status TEXT NOT NULL, enrolled_at TEXT, revoked_at TEXT,"
        " high_water BIGINT NOT NULL DEFAULT 0)",
        "CREATE TABLE enrolment_tokens (token_hash TEXT PRIMARY KEY,"
        " device_id TEXT NOT NULL, office_code TEXT NOT NULL, expires_at TEXT NOT NULL,"
        " used_at TEXT)",
        "CREATE TABLE records (device_id TEXT NOT NULL, seq BIGINT NOT NULL,"
        " transaction_id TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,"
        " payload TEXT NOT NULL, received_at TEXT NOT NULL, business_date TEXT NOT NULL,"
        " office_code TEXT NOT NULL, PRIMARY KEY (device_id, seq),"
        " UNIQUE (device_id, transaction_id))",
        "CREATE INDEX records_by_day ON records (business_date, office_code)",
        "CREATE TABLE rejections (device_id TEXT NOT NULL, seq BIGINT NOT NULL,"
        " transaction_id TEXT NOT NULL, reason TEXT NOT NULL, received_at TEXT NOT NULL,"
        " PRIMARY KEY (device_id, seq))",
        "CREATE TABLE batch_keys (device_id TEXT NOT NULL, idem_key TEXT NOT NULL,"
        " body_hash TEXT NOT NULL, received_at TEXT NOT NULL, PRIMARY KEY (device_id, idem_key))",
        "CREATE TABLE card_status (card_id TEXT PRIMARY KEY, status TEXT NOT NULL,"
        " reason TEXT NOT NULL, updated_at TEXT NOT NULL)",
        "CREATE TABLE certificate_status (serial TEXT PRIMARY KEY, kind TEXT NOT NULL,"
        " status TEXT NOT NULL, card_id TEXT, updated_at TEXT NOT NULL)",
    )


def _v2(dialect: Dialect) -> Sequence[str]:
    # Registry entries know their office (a certificate, the device that issued it), and
    # every registry change is kept in registry_audit (issue 13).
    return (
        "ALTER TABLE card_status ADD COLUMN office_code TEXT",
        "ALTER TABLE certificate_status ADD COLUMN office_code TEXT",
        "ALTER TABLE certificate_status ADD COLUMN issued_by TEXT",
        f"CREATE TABLE registry_audit ({dialect.audit_id}, at TEXT, actor TEXT, registry TEXT,"
        " entry_key TEXT, office_code TEXT, before_status TEXT, after_status TEXT, why TEXT)",
        "CREATE INDEX registry_audit_by_office ON registry_audit (office_code, id)",
    )


def _v3(dialect: Dialect) -> Sequence[str]:
    # Each record's share of the daily 交付状況 report, written with the record, so the
    # report is a GROUP BY over a day's rows instead of every payload parsed in Python.
    return (
        "CREATE TABLE report_facts (device_id TEXT NOT NULL, seq BIGINT NOT NULL,"
        " business_date TEXT NOT NULL, office_code TEXT NOT NULL,"
        " certificate_type TEXT NOT NULL, transactions BIGINT NOT NULL,"
        " issued BIGINT NOT NULL, renewed BIGINT NOT NULL, revoked BIGINT NOT NULL,"
        " fee_collected_yen BIGINT NOT NULL, fee_payable_jlis_yen BIGINT NOT NULL,"
        " PRIMARY KEY (device_id, seq, certificate_type))",
        "CREATE INDEX report_facts_by_day ON report_facts (business_date, office_code)",
    )


def _v3_backfill(repo: Any, cur: Any) -> None:
    repo.backfill_report_facts(cur)


def _v4(dialect: Dialect) -> Sequence[str]:
    # The office console (sync/server/console): staff accounts and their offices, the
    # offices' display names, server-side sessions and the console's audit log. The 交付状況
    # pages read report_facts (migration 3); the console keeps no report of its own.
    return (
        "CREATE TABLE console_staff (staff_id TEXT PRIMARY KEY,"
        " display_name TEXT NOT NULL, role TEXT NOT NULL, password_hash TEXT NOT NULL,"
        " totp_secret TEXT NOT NULL, totp_last_step BIGINT NOT NULL DEFAULT 0,"
        " failures INTEGER NOT NULL DEFAULT 0, locked_until BIGINT NOT NULL DEFAULT 0,"
        " created_at BIGINT NOT NULL)",
        "CREATE TABLE console_staff_offices (staff_id TEXT NOT NULL,"
        " office_code TEXT NOT NULL, PRIMARY KEY (staff_id, office_code))",
        "CREATE TABLE console_offices (office_code TEXT PRIMARY KEY, name TEXT NOT NULL)",
        "CREATE TABLE console_sessions (token_hash TEXT PRIMARY KEY,"
        " staff_id TEXT NOT NULL, csrf TEXT NOT NULL, created_at BIGINT NOT NULL,"
        " last_seen BIGINT NOT NULL)",
        f"CREATE TABLE console_audit ({dialect.audit_id}, at BIGINT NOT NULL,"
        " actor TEXT NOT NULL, action TEXT NOT NULL, office_code TEXT, detail TEXT NOT NULL)",
        "CREATE INDEX console_audit_by_office ON console_audit (office_code, id)",
    )


def _v5(dialect: Dialect) -> Sequence[str]:
    # Payments to J-LIS (機構) entered in the console, per office and month, set against the
    # fees payable the report sums (改正後 第2-1-(1)-ア-(ケ): 手数料の機構への支払い).
    return (
        f"CREATE TABLE console_payments ({dialect.audit_id}, office_code TEXT NOT NULL,"
        " month TEXT NOT NULL, amount_yen BIGINT NOT NULL, paid_on TEXT NOT NULL,"
        " note TEXT NOT NULL, entered_by TEXT NOT NULL, entered_at BIGINT NOT NULL)",
        "CREATE INDEX console_payments_by_month ON console_payments (month, office_code)",
    )


def _v6(dialect: Dialect) -> Sequence[str]:
    # Records by business month (sync/server/partitions.py, issue 15). record_keys holds,
    # unpartitioned, what must be unique across months: one record per (device_id, seq)
    # and per (device_id, transaction_id). retention_log audits what retention removed.
    # On PostgreSQL records and report_facts become RANGE-partitioned on business_date
    # (text compared byte-wise, COLLATE "C", whatever the database's locale); each record
    # row refers to its key row, so none is stored without its unique key. The backfill
    # makes the months' partitions and moves the rows, in this same transaction.
    pg = dialect.name == "postgresql"
    collate = ' COLLATE "C"' if pg else ""
    common = (
        "CREATE TABLE record_keys (device_id TEXT NOT NULL, seq BIGINT NOT NULL,"
        " transaction_id TEXT NOT NULL, hash TEXT NOT NULL,"
        f" business_date TEXT{collate} NOT NULL, PRIMARY KEY (device_id, seq),"
        " UNIQUE (device_id, transaction_id),"
        " UNIQUE (device_id, seq, transaction_id, business_date))",
        "INSERT INTO record_keys (device_id, seq, transaction_id, hash, business_date)"
        " SELECT device_id, seq, transaction_id, hash, business_date FROM records",
        f"CREATE TABLE retention_log ({dialect.audit_id}, at TEXT NOT NULL,"
        " actor TEXT NOT NULL, table_name TEXT NOT NULL, business_month TEXT NOT NULL,"
        " row_count BIGINT NOT NULL, how TEXT NOT NULL, period_months INTEGER NOT NULL)",
    )
    if not pg:
        return common
    return (
        *common,
        "ALTER TABLE records RENAME TO records_v5",
        "ALTER INDEX records_pkey RENAME TO records_v5_pkey",
        "DROP INDEX records_by_day",
        "ALTER TABLE report_facts RENAME TO report_facts_v5",
        "ALTER INDEX report_facts_pkey RENAME TO report_facts_v5_pkey",
        "DROP INDEX report_facts_by_day",
        "CREATE TABLE records (device_id TEXT NOT NULL, seq BIGINT NOT NULL,"
        " transaction_id TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,"
        " payload TEXT NOT NULL, received_at TEXT NOT NULL,"
        ' business_date TEXT COLLATE "C" NOT NULL, office_code TEXT NOT NULL,'
        " PRIMARY KEY (device_id, seq, business_date),"
        " FOREIGN KEY (device_id, seq, transaction_id, business_date)"
        " REFERENCES record_keys (device_id, seq, transaction_id, business_date))"
        " PARTITION BY RANGE (business_date)",
        "CREATE TABLE records_default PARTITION OF records DEFAULT",
        "CREATE INDEX records_by_day ON records (business_date, office_code)",
        "CREATE TABLE report_facts (device_id TEXT NOT NULL, seq BIGINT NOT NULL,"
        ' business_date TEXT COLLATE "C" NOT NULL, office_code TEXT NOT NULL,'
        " certificate_type TEXT NOT NULL, transactions BIGINT NOT NULL,"
        " issued BIGINT NOT NULL, renewed BIGINT NOT NULL, revoked BIGINT NOT NULL,"
        " fee_collected_yen BIGINT NOT NULL, fee_payable_jlis_yen BIGINT NOT NULL,"
        " PRIMARY KEY (device_id, seq, certificate_type, business_date))"
        " PARTITION BY RANGE (business_date)",
        "CREATE TABLE report_facts_default PARTITION OF report_facts DEFAULT",
        "CREATE INDEX report_facts_by_day ON report_facts (business_date, office_code)",
    )


def _v6_backfill(repo: Any, cur: Any) -> None:
    if repo.dialect.name != "postgresql":
        return
    import re
    from datetime import datetime, timedelta, timezone

    from sync.server import partitions

    today = datetime.now(timezone(timedelta(hours=9))).date()  # business dates are JST
    months = set(partitions.window(today, partitions.DEFAULT_AHEAD))
    for table in partitions.PARTITIONED:
        cur.execute(f"SELECT DISTINCT substr(business_date, 1, 7) FROM {table}_v5")  # noqa: S608
        # A malformed date (none passes ingest) stays in the default partition.
        months |= {str(m) for (m,) in cur.fetchall() if re.fullmatch(r"\d{4}-\d{2}", str(m))}
    for table in partitions.PARTITIONED:
        for month in sorted(months):
            partitions.add_month(cur, table, month)
        cur.execute(
            "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            [f"{table}_v5"],
        )
        columns = cur.fetchone()[0]
        cur.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_v5"  # noqa: S608
        )
        cur.execute(f"DROP TABLE {table}_v5")


def _v7(dialect: Dialect) -> Sequence[str]:
    # A payment entered wrongly is corrected by a new entry that names it (never an UPDATE
    # or DELETE of the original): its amount is the difference, so the month's sum follows.
    return ("ALTER TABLE console_payments ADD COLUMN corrects_id BIGINT",)


def _v8(dialect: Dialect) -> Sequence[str]:
    # Clerk (窓口担当者) accounts managed centrally per office and delivered to that office's
    # counters (sync/server/clerks.py): the scrypt verifier a counter checks offline, a
    # per-office generation so a counter fetches only what changed, and every sign-in
    # attempt the counters upload, kept once per (device, store, event).
    return (
        "CREATE TABLE clerk_offices (office_code TEXT PRIMARY KEY,"
        " generation BIGINT NOT NULL)",
        "CREATE TABLE clerks (office_code TEXT NOT NULL, clerk_id TEXT NOT NULL,"
        " display_name TEXT NOT NULL, kdf_n BIGINT NOT NULL, kdf_r BIGINT NOT NULL,"
        " kdf_p BIGINT NOT NULL, salt TEXT NOT NULL, password_hash TEXT NOT NULL,"
        " status TEXT NOT NULL, generation BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
        " PRIMARY KEY (office_code, clerk_id))",
        "CREATE INDEX clerks_by_generation ON clerks (office_code, generation)",
        "CREATE TABLE clerk_sign_ins (device_id TEXT NOT NULL, store_id TEXT NOT NULL,"
        " event_id BIGINT NOT NULL, office_code TEXT NOT NULL, clerk_id TEXT NOT NULL,"
        " at TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL,"
        " received_at TEXT NOT NULL, PRIMARY KEY (device_id, store_id, event_id))",
        "CREATE INDEX clerk_sign_ins_by_office ON clerk_sign_ins (office_code, at)",
    )


def _v9(dialect: Dialect) -> Sequence[str]:
    # The update delivery's state, shared by every server host (updater/store.py): the
    # published bundles' metadata (the files stay in the shared bundles directory), one
    # release per channel and platform with its signed pointer, the key list, staged
    # rollouts, the fleet's last reports and contact, a generation per channel that a
    # poll compares instead of re-reading, and the audit of IT's changes.
    return (
        "CREATE TABLE update_bundles (name TEXT PRIMARY KEY, version TEXT NOT NULL,"
        " platform TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT NOT NULL,"
        " published_at TEXT NOT NULL)",
        "CREATE TABLE update_releases (channel TEXT NOT NULL, platform TEXT NOT NULL,"
        " version TEXT NOT NULL, bundle TEXT NOT NULL, size BIGINT NOT NULL,"
        " sha256 TEXT NOT NULL, pointer TEXT, pointer_version TEXT,"
        " pointer_serial BIGINT NOT NULL DEFAULT 0,"
        " published_at TEXT NOT NULL, PRIMARY KEY (channel, platform))",
        "CREATE TABLE update_key_list (id INTEGER PRIMARY KEY, serial BIGINT NOT NULL,"
        " doc TEXT NOT NULL)",
        f"CREATE TABLE update_rollouts ({dialect.audit_id.replace('id ', 'rollout_id ', 1)},"
        " channel TEXT NOT NULL, platform TEXT NOT NULL, version TEXT NOT NULL,"
        " bundle TEXT NOT NULL, pointer TEXT NOT NULL, pointer_serial BIGINT NOT NULL,"
        " offices TEXT NOT NULL, percent INTEGER NOT NULL, state TEXT NOT NULL,"
        " halt_failures INTEGER NOT NULL, halted_reason TEXT NOT NULL DEFAULT '',"
        " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
        "CREATE INDEX update_rollouts_by_channel ON update_rollouts (channel, state)",
        "CREATE TABLE update_rollout_failures (rollout_id BIGINT NOT NULL,"
        " device_id TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,"
        " at TEXT NOT NULL, PRIMARY KEY (rollout_id, device_id))",
        "CREATE TABLE update_device_status (device_id TEXT PRIMARY KEY,"
        " state TEXT NOT NULL DEFAULT 'idle', version TEXT, running TEXT,"
        " reason TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
        " reported_at TEXT NOT NULL DEFAULT '', received_at TEXT NOT NULL,"
        " channel TEXT, platform TEXT, backlog BIGINT, quarantined BIGINT,"
        " office_code TEXT)",
        "CREATE TABLE update_generations (channel TEXT PRIMARY KEY,"
        " generation BIGINT NOT NULL)",
        f"CREATE TABLE update_audit ({dialect.audit_id}, at TEXT NOT NULL, actor TEXT NOT NULL,"
        " action TEXT NOT NULL, channel TEXT NOT NULL, detail TEXT NOT NULL)",
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "devices, enrolment tokens, records, rejections, batch keys, registries", _v1),
    Migration(2, "registry owners and the registry audit", _v2),
    Migration(3, "report facts: the daily report aggregated in SQL", _v3, _v3_backfill),
    Migration(4, "the office console: staff, offices, sessions, audit", _v4),
    Migration(5, "payments to J-LIS entered in the console", _v5),
    Migration(6, "records by business month: partitions, unique keys, retention log",
              _v6, _v6_backfill),
    Migration(7, "corrections of payments to J-LIS, each naming the entry it corrects", _v7),
    Migration(8, "clerk accounts per office and the counters' sign-in events", _v8),
    Migration(9, "update delivery state: releases, key list, rollouts, fleet", _v9),
)
#: The schema this code reads and writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


class SchemaBehindError(Exception):
    """The database's schema is older than this code's (or absent): run ``server migrate``."""


def schema_version(cur: Any, dialect: Dialect) -> int | None:
    """The database's schema version, or None when it has none yet (no ``schema_info``)."""
    if not dialect.has_table(cur, "schema_info"):
        return None
    cur.execute("SELECT version FROM schema_info")
    row = cur.fetchone()
    return None if row is None else int(row[0])


def behind_message(version: int | None) -> str | None:
    """Why the server cannot serve on a schema at ``version`` (None: it can)."""
    if version == SCHEMA_VERSION:
        return None
    if version is None:
        return (
            f"the database has no madoguchi schema; this server needs version {SCHEMA_VERSION}:"
            " run `madoguchi server migrate` as the schema's owner"
        )
    if version > SCHEMA_VERSION:
        return (
            f"the database schema is version {version}, newer than this server's"
            f" {SCHEMA_VERSION}: update this server"
        )
    return (
        f"the database schema is version {version}, this server needs {SCHEMA_VERSION}:"
        " run `madoguchi server migrate` as the schema's owner"
    )


def pending(version: int | None) -> list[Migration]:
    """The migrations a schema at ``version`` still needs, in order."""
    start = version or 0
    return [m for m in MIGRATIONS if m.version > start]
