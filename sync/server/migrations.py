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
    Migration(6, "update delivery state: releases, key list, rollouts, fleet", _v6),
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
