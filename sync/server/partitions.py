"""Records by business month: PostgreSQL partitions, and the retention that drops them.

On PostgreSQL ``records`` and ``report_facts`` (the tables that grow with every record) are
partitioned by RANGE on ``business_date``, one partition per business month
(``records_2026_11`` holds 2026-11-01 to 2026-11-30) and a DEFAULT partition
(``records_default``) for a month that has none yet. So a day's report or a month's console
page reads one partition, and retention drops a whole month with ``DROP TABLE`` instead of
deleting rows. SQLite stays one table per kind; the same retention deletes the rows.

The running server has no DDL rights, so it never creates a partition: a record whose month
has no partition lands in the default one. ``madoguchi server partitions`` (and ``server
migrate``, and the daily ``madoguchi-server-retention.timer``), run as the schema's owner,
creates the next months ahead and moves any rows out of the default partition into their
month's own.

A partition's primary key must include the partition column, so the guarantees ingest relies
on, one record per ``(device_id, seq)`` and per ``(device_id, transaction_id)``, live in the
unpartitioned ``record_keys`` (migration 6): its primary key and unique constraint hold them
across months, and each record row refers to its key row by ``(device_id, seq,
transaction_id, business_date)``, so no record can be stored without its (unique) key.

Retention (第4-4 申請書等の保存): the guidelines' text names the documents to keep but, in
the source we have, gives no period (ア–ケ are (略)). The period is taken from the rule the
guidelines rest on: 公的個人認証法施行令 第2条 keeps an issuance record (発行記録) until ten
years from the day after its certificate expires, and a certificate is valid until the fifth
birthday after issue (at most five years): fifteen years from issue, plus a day. The default,
:data:`DEFAULT_RETENTION_MONTHS`, is 181 months counted from the end of the record's business
month; ``[sync] server_retention_months`` sets another (a municipality's 文書管理規程 may keep
longer). See docs/sync.md ("Retention").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from madoguchi.errors import ConfigError

#: The tables partitioned by business month, in the order retention drops them.
PARTITIONED = ("records", "report_facts")

#: Months kept after the end of a record's business month: 15 years (施行令 第2条: ten
#: years after the day after expiry; the certificate lasts at most five) and one more
#: month for the day after expiry and the month's rounding.
DEFAULT_RETENTION_MONTHS = 181

#: Shortest period the configuration may set (a typo must not drop a year's records).
MIN_RETENTION_MONTHS = 12

#: Months ``server partitions`` creates ahead of the current one.
DEFAULT_AHEAD = 3

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_of(day: str) -> str:
    """``YYYY-MM`` of a ``YYYY-MM-DD`` business date."""
    return day[:7]


def shift(month: str, count: int) -> str:
    """The month ``count`` months after ``month`` (before, when negative)."""
    found = _MONTH.match(month)
    if found is None:
        raise ValueError(f"not a month: {month!r}")
    index = int(found[1]) * 12 + int(found[2]) - 1 + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def partition_name(table: str, month: str) -> str:
    """The partition of ``table`` holding ``month``: ``records_2026_11``."""
    return f"{table}_{month.replace('-', '_')}"


def bounds(month: str) -> tuple[str, str]:
    """The business dates ``[first, next month's first)`` of ``month``."""
    return f"{month}-01", f"{shift(month, 1)}-01"


def first_kept(today: date, period_months: int) -> str:
    """The oldest month retention keeps on ``today``: a month goes only when its last day is
    ``period_months`` months behind the first of the current month, so every record in it
    is at least that old."""
    return shift(today.strftime("%Y-%m"), -period_months)


#: The business dates' zone (the records' ``business_date`` is a date in Japan).
JST = timezone(timedelta(hours=9))

#: Tables without a business date whose rows retention removes by when they were received:
#: items the server refused (for the chain report) and batches' idempotency keys.
BY_RECEIPT = ("rejections", "batch_keys")


def business_today() -> date:
    """Today's business date (JST, as the records' ``business_date``)."""
    return datetime.now(JST).date()


def window(today: date, ahead: int) -> list[str]:
    """The months a maintenance run makes sure exist: last month to ``ahead`` ahead."""
    current = today.strftime("%Y-%m")
    return [shift(current, n) for n in range(-1, ahead + 1)]


@dataclass(frozen=True)
class MonthRows:
    """What retention found of one table's month past the period."""

    table: str
    month: str
    rows: int
    how: str  # "drop partition" (PostgreSQL) or "delete rows"


# -- PostgreSQL ----------------------------------------------------------------------


def attached_months(cur: Any, table: str) -> set[str]:
    """The months that have a partition of ``table``."""
    cur.execute(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass",
        [table],
    )
    pattern = re.compile(rf"^{table}_(\d{{4}})_(\d{{2}})$")
    months = set()
    for (name,) in cur.fetchall():
        found = pattern.match(str(name))
        if found is not None:
            months.add(f"{found[1]}-{found[2]}")
    return months


def default_months(cur: Any, table: str) -> set[str]:
    """The months of the rows waiting in ``table``'s default partition."""
    cur.execute(f"SELECT DISTINCT substr(business_date, 1, 7) FROM {table}_default")  # noqa: S608
    return {str(m) for (m,) in cur.fetchall()}


def add_month(cur: Any, table: str, month: str) -> int:
    """Give ``month`` its own partition of ``table``, moving its rows out of the default
    partition; returns how many rows moved. One transaction (the caller's): a concurrent
    insert into the default partition waits for it."""
    name = partition_name(table, month)
    first, after = bounds(month)
    # A plain table filled first and attached after: ATTACH checks the rows once and
    # builds the partitioned indexes on the filled table.
    cur.execute(
        f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    cur.execute(
        f"WITH moved AS (DELETE FROM {table}_default"  # noqa: S608
        " WHERE business_date >= %s AND business_date < %s RETURNING *)"
        f" INSERT INTO {name} SELECT * FROM moved",
        [first, after],
    )
    moved = int(cur.rowcount or 0)
    # Bounds as literals (DDL takes no parameters); both are made here from a checked month.
    cur.execute(
        f"ALTER TABLE {table} ATTACH PARTITION {name}"
        f" FOR VALUES FROM ('{first}') TO ('{after}')"
    )
    return moved


def maintain(cur: Any, today: date, ahead: int = DEFAULT_AHEAD) -> list[tuple[str, str, int]]:
    """Make sure every month of :func:`window` and every month waiting in a default
    partition has its own partition; returns ``(table, month, rows moved)`` of each one
    made. Only reads when nothing is missing (the runtime role may run it then)."""
    made = []
    for table in PARTITIONED:
        have = attached_months(cur, table)
        wanted = set(window(today, ahead)) | default_months(cur, table)
        for month in sorted(wanted - have):
            made.append((table, month, add_month(cur, table, month)))
    return made


def expired_partitions(cur: Any, first_kept_month: str) -> list[MonthRows]:
    """The partitions (and default-partition rows) wholly before ``first_kept_month``."""
    out = []
    for table in PARTITIONED:
        for month in sorted(attached_months(cur, table)):
            if month < first_kept_month:
                cur.execute(f"SELECT count(*) FROM {partition_name(table, month)}")  # noqa: S608
                out.append(MonthRows(table, month, int(cur.fetchone()[0]), "drop partition"))
        out.extend(_expired_rows(cur, f"{table}_default", table, first_kept_month, "%s"))
    return out


# -- both ----------------------------------------------------------------------------


def _expired_rows(
    cur: Any, source: str, table: str, first_kept_month: str, marker: str
) -> list[MonthRows]:
    cur.execute(
        f"SELECT substr(business_date, 1, 7), count(*) FROM {source}"  # noqa: S608
        f" WHERE business_date < {marker} GROUP BY substr(business_date, 1, 7)",
        [f"{first_kept_month}-01"],
    )
    return [MonthRows(table, str(m), int(n), "delete rows") for m, n in sorted(cur.fetchall())]


def expired_rows(cur: Any, first_kept_month: str) -> list[MonthRows]:
    """SQLite: the rows of each table's months before ``first_kept_month``."""
    out = []
    for table in PARTITIONED:
        out.extend(_expired_rows(cur, table, table, first_kept_month, "?"))
    return out


def remove(cur: Any, found: Iterable[MonthRows], first_kept_month: str, postgres: bool) -> None:
    """Drop or delete what :func:`expired_partitions`/:func:`expired_rows` found."""
    marker = "%s" if postgres else "?"
    for entry in found:
        if entry.how == "drop partition":
            cur.execute(f"DROP TABLE {partition_name(entry.table, entry.month)}")
    for table in PARTITIONED:
        # Default-partition rows (PostgreSQL) or the table's rows (SQLite) of those months.
        source = f"{table}_default" if postgres else table
        cur.execute(
            f"DELETE FROM {source} WHERE business_date < {marker}",  # noqa: S608
            [f"{first_kept_month}-01"],
        )


def remove_keys(cur: Any, first_kept_month: str, postgres: bool) -> int:
    """The key rows of the records before ``first_kept_month``; how many went. On
    PostgreSQL each record refers to its key, so a key still in use cannot go."""
    marker = "%s" if postgres else "?"
    cur.execute(
        f"DELETE FROM record_keys WHERE business_date < {marker}",  # noqa: S608
        [f"{first_kept_month}-01"],
    )
    return int(cur.rowcount or 0)


def received_before(first_kept_month: str) -> str:
    """The first instant of ``first_kept_month`` in Japan, as the UTC ISO text that
    ``received_at`` columns hold (they compare as text)."""
    start = datetime.fromisoformat(f"{first_kept_month}-01T00:00:00").replace(tzinfo=JST)
    return start.astimezone(UTC).isoformat()


def received_before_text(first_kept_month: str) -> str:
    """:func:`received_before` as an operator reads it: midnight in Japan first (the
    guidelines' days are Japan's), the stored UTC instant after it."""
    return f"{first_kept_month}-01 00:00 JST ({received_before(first_kept_month)})"


def by_receipt(cur: Any, first_kept_month: str, postgres: bool, *, remove: bool) -> dict[str, int]:
    """The rows of :data:`BY_RECEIPT` received before ``first_kept_month`` (Japan time):
    how many per table, removed when ``remove``."""
    marker = "%s" if postgres else "?"
    bound = received_before(first_kept_month)
    found: dict[str, int] = {}
    for table in BY_RECEIPT:
        if remove:
            cur.execute(f"DELETE FROM {table} WHERE received_at < {marker}", [bound])  # noqa: S608
            found[table] = int(cur.rowcount or 0)
        else:
            cur.execute(
                f"SELECT count(*) FROM {table} WHERE received_at < {marker}",  # noqa: S608
                [bound],
            )
            found[table] = int(cur.fetchone()[0])
    return found


def months_text(found: Sequence[MonthRows]) -> list[str]:
    """One line per table and month, for the command's output."""
    return [f"{e.table} {e.month}: {e.rows} rows ({e.how})" for e in found]


# -- the administration commands -------------------------------------------------------


def run_maintenance(
    repo: Any, today: date, ahead: int = DEFAULT_AHEAD
) -> list[tuple[str, str, int]]:
    """``madoguchi server partitions``: :func:`maintain` in one transaction as the schema's
    owner, behind the migration lock (two runs take turns); SQLite has nothing to do."""
    if repo.dialect.name != "postgresql":
        return []
    with repo.dialect.transaction() as cur:
        repo.dialect.lock_migrations(cur)
        return maintain(cur, today, ahead)


@dataclass(frozen=True)
class RetentionRun:
    """What one retention run removed (or, dry, would remove)."""

    first_kept_month: str
    period_months: int
    removed: list[MonthRows]
    keys_removed: int
    dry_run: bool
    #: Rows of :data:`BY_RECEIPT` received before the first kept month, per table.
    received_removed: dict[str, int]

    def received_text(self) -> list[str]:
        """One line per table of :data:`BY_RECEIPT` that had rows to remove."""
        bound = received_before_text(self.first_kept_month)
        return [f"{table} received before {bound}: {rows} rows (delete rows)"
                for table, rows in self.received_removed.items() if rows]


def run_retention(
    repo: Any, today: date, period_months: int, *, actor: str, dry_run: bool = False
) -> RetentionRun:
    """``madoguchi server retention``: remove every month wholly past the period (one
    transaction, each table and month audited in ``retention_log``), then those records'
    keys (a second one); ``dry_run`` only reports. Never touches a month on or after
    :func:`first_kept`."""
    if period_months < MIN_RETENTION_MONTHS:
        raise ConfigError(
            f"a retention period of {period_months} months is shorter than the least"
            f" allowed ({MIN_RETENTION_MONTHS})"
        )
    keep = first_kept(today, period_months)
    postgres = repo.dialect.name == "postgresql"
    marker = "%s" if postgres else "?"
    with repo.dialect.transaction() as cur:
        repo.dialect.lock_migrations(cur)
        found = expired_partitions(cur, keep) if postgres else expired_rows(cur, keep)
        if dry_run:
            cur.execute(
                f"SELECT count(*) FROM record_keys WHERE business_date < {marker}",  # noqa: S608
                [f"{keep}-01"],
            )
            keys = int(cur.fetchone()[0])
            received = by_receipt(cur, keep, postgres, remove=False)
            return RetentionRun(keep, period_months, found, keys, True, received)
        remove(cur, found, keep, postgres)
        when = datetime.now(UTC).isoformat(timespec="seconds")
        cur.executemany(
            "INSERT INTO retention_log (at, actor, table_name, business_month, row_count,"  # noqa: S608
            f" how, period_months) VALUES ({', '.join([marker] * 7)})",
            [(when, actor, e.table, e.month, e.rows, e.how, period_months) for e in found],
        )
    # The keys in a second transaction: dropping a partition holds an ACCESS EXCLUSIVE lock
    # on its parent table (ingest and reports wait) until commit, so that one stays short.
    # Keys left by a run that stops here only refuse those long-gone records as duplicates;
    # the next run removes them.
    with repo.dialect.transaction() as cur:
        repo.dialect.lock_migrations(cur)
        keys = remove_keys(cur, keep, postgres)
        received = by_receipt(cur, keep, postgres, remove=True)
        # Audited as the months are: the last month removed, and how.
        cur.executemany(
            "INSERT INTO retention_log (at, actor, table_name, business_month, row_count,"  # noqa: S608
            f" how, period_months) VALUES ({', '.join([marker] * 7)})",
            [(when, actor, table, shift(keep, -1), rows,
              f"delete rows received before {received_before_text(keep)}", period_months)
             for table, rows in received.items() if rows],
        )
    return RetentionRun(keep, period_months, found, keys, False, received)
