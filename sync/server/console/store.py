"""The console's tables, next to the server's in the same database.

Staff accounts and their offices, server-side sessions, the console's audit log and
the offices' display names live in ``console_*`` tables, made by migration 4 (payments to
J-LIS 5, their corrections 6; ``madoguchi server migrate``,
:mod:`sync.server.migrations`): the store runs no DDL,
so it works as the same runtime role as the server, which may only read and write.
The 交付状況 report is summed by the database over ``report_facts`` (each record's
report rows, written at ingest by migration 3's design), and the transaction list is
filtered in SQL, so a month of a municipality never comes into Python row by row.

The store opens the database through its own :class:`Dialect` (SQLite: its own
connection; PostgreSQL: its own small pool), so a page never waits on the lock or the
connections the devices' ingest uses.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from madoguchi.errors import ConfigError
from sync.server.authz import Principal, Role
from sync.server.console import accounts
from sync.server.migrations import behind_message, schema_version
from sync.server.report import ReportRow
from sync.server.repository import AuditEntry, Dialect, SqlRepository

#: Consecutive failed sign-ins that lock an account, and for how long.
LOCK_AFTER = 5
LOCK_SECONDS = 15 * 60
#: A session ends after this long unused, and in any case after ``SESSION_MAX``.
SESSION_IDLE = 30 * 60
SESSION_MAX = 12 * 60 * 60
#: Transactions on one page of the list.
PAGE_SIZE = 50
#: The roles a console account may have.
STAFF_ROLES = (Role.STAFF, Role.ADMINISTRATOR, Role.IT)
#: PostgreSQL connections the console keeps at most (pages run on a few threads).
POOL_SIZE = 4

#: The sums of ``report_facts`` (migration 3) a report row is made of, in ReportRow's order.
_FACT_SUMS = ", ".join(
    f"SUM({name})"
    for name in (
        "transactions",
        "issued",
        "renewed",
        "revoked",
        "fee_collected_yen",
        "fee_payable_jlis_yen",
    )
)


@dataclass(frozen=True, slots=True)
class Staff:
    """A console account as the pages see it (no secret)."""

    staff_id: str
    display_name: str
    role: Role
    offices: tuple[str, ...]
    locked: bool = False

    def principal(self, office: str | None) -> Principal:
        """The principal asking about ``office``: its own when the account has it."""
        own = office if office is not None and office in self.offices else None
        return Principal(self.role, own, name=self.staff_id)


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser."""

    staff: Staff
    csrf: str


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One entry of the console's audit log."""

    id: int
    at: int
    actor: str
    action: str
    office_code: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class CounterRow:
    """What the server knows of one counter (device), for the fleet page."""

    device_id: str
    office_code: str
    status: str  # pending (token used, no certificate yet), active, revoked
    enrolled_at: str
    revoked_at: str
    records: int
    high_water: int  # every record up to this sequence number is here
    last_seq: int
    last_received_at: str
    rejected: int
    breaks: int  # records whose prev_hash is not the stored hash before them

    @property
    def gaps(self) -> int:
        """Sequence numbers below the last one received that never arrived."""
        return max(0, self.last_seq - self.records)

    @property
    def waiting(self) -> int:
        """Records held above a gap: received, but not yet contiguous."""
        return max(0, self.last_seq - self.high_water - self.gaps)

    @property
    def chain_ok(self) -> bool:
        """No gap, no break, nothing rejected."""
        return self.gaps == 0 and self.breaks == 0 and self.rejected == 0


@dataclass(frozen=True, slots=True)
class EnrolmentToken:
    """An enrolment token as the console lists it (never the token itself: only its hash
    is stored, and the token is shown once, when it is issued)."""

    device_id: str
    office_code: str
    expires_at: str
    used_at: str


#: A counter's device id as the console accepts it (what ``device enroll`` sends back).
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: How long a token issued from the console may live, in hours.
TOKEN_HOURS = (24, 72, 168)


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment to J-LIS entered in the console, or a correction of one (``corrects_id``:
    the entry it corrects; its ``amount_yen`` is the difference, its ``note`` the reason)."""

    id: int
    office_code: str
    month: str
    amount_yen: int
    paid_on: str
    note: str
    entered_by: str
    corrects_id: int | None = None


#: The largest single payment the console takes (a typo guard, not a rule).
MAX_PAYMENT_YEN = 1_000_000_000


@dataclass(frozen=True, slots=True)
class RegisterRow:
    """One line of the old 交付記録簿 (現行 第2-1-(1)-ケ, deleted by the amendment): a day's
    certificates of one type handed over at one office, paid and free."""

    office_code: str
    date: str
    certificate_type: str
    delivered: int  # issued and renewed: each a request the 機構 answered
    paid: int  # of those, in a transaction that collected a fee

    @property
    def free(self) -> int:
        """Handed over without a fee."""
        return self.delivered - self.paid


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    """What the transaction list is narrowed to (empty strings: any)."""

    first: str
    last: str
    offices: tuple[str, ...]
    device_id: str = ""
    procedure: str = ""
    decision: str = ""
    abandonment: str = ""
    operator: str = ""


@dataclass(frozen=True, slots=True)
class TransactionRow:
    """What the list shows of one record: never personal data (the record has none,
    and only these fields leave the database)."""

    business_date: str
    office_code: str
    device_id: str
    seq: int
    completed_at: str
    procedure: str
    decision: str
    abandonment: str
    operator: str
    citations: tuple[str, ...]
    certificates: tuple[tuple[str, str], ...]  # (kind, action)
    fee_collected_yen: int


class ConsoleStore:
    """The console's storage on the server's database (SQLite or PostgreSQL)."""

    def __init__(self, dialect: Dialect, *, pool_size: int = POOL_SIZE) -> None:
        """Open ``dialect``'s database; refuse a schema that is not this code's (the
        message says to run ``madoguchi server migrate``)."""
        self.dialect = dialect
        # The registries (運用状況, certificate status) through the server's own code, on
        # this store's connection or pool (the repository opens the dialect).
        self.registry = SqlRepository(dialect, pool_size=pool_size)
        try:
            with self._transaction() as cur:
                problem = behind_message(schema_version(cur, dialect))
        except BaseException:
            dialect.close()
            raise
        if problem is not None:
            dialect.close()
            raise ConfigError(problem)

    def close(self) -> None:
        """Release the connection(s)."""
        self.dialect.close()

    def _q(self, text: str) -> str:
        return self.dialect.sql(text)

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self.dialect.transaction() as cur:
            yield cur

    def _audit(self, cur: Any, actor: str, action: str, office: str | None, detail: str) -> None:
        cur.execute(
            self._q(
                "INSERT INTO console_audit (at, actor, action, office_code, detail)"
                " VALUES (?, ?, ?, ?, ?)"
            ),
            [int(time.time()), actor, action, office, detail],
        )

    # -- accounts -----------------------------------------------------------------

    def add_staff(
        self,
        staff_id: str,
        display_name: str,
        role: Role,
        password: str,
        offices: Sequence[str],
        *,
        actor: str,
    ) -> accounts.NewAccount:
        """Make an account; returns its TOTP enrolment (shown once, never again)."""
        accounts.check_staff_id(staff_id)
        if role not in STAFF_ROLES:
            raise ConfigError(f"a console account is staff, administrator or IT, not {role.value}")
        if role.office_bound and not offices:
            raise ConfigError("office staff and administrators need at least one office")
        if not display_name.strip() or not display_name.isprintable() or len(display_name) > 64:
            raise ConfigError("a display name is 1-64 printable characters")
        if any(not o or len(o) > 16 or not o.isprintable() for o in offices):
            raise ConfigError("an office code is 1-16 printable characters")
        problem = accounts.password_problem(password)
        if problem:
            raise ConfigError(f"the password needs {problem}")
        secret = accounts.new_totp_secret()
        digest = accounts.hash_password(password)
        with self._transaction() as cur:
            cur.execute(self._q("SELECT 1 FROM console_staff WHERE staff_id = ?"), [staff_id])
            if cur.fetchone() is not None:
                raise ConfigError(f"there is already a staff account {staff_id!r}")
            cur.execute(
                self._q(
                    "INSERT INTO console_staff (staff_id, display_name, role, password_hash,"
                    " totp_secret, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                ),
                [staff_id, display_name, role.value, digest, secret, int(time.time())],
            )
            for office in sorted(set(offices)):
                cur.execute(
                    self._q(
                        "INSERT INTO console_staff_offices (staff_id, office_code) VALUES (?, ?)"
                    ),
                    [staff_id, office],
                )
            owned: list[str | None] = [*sorted(set(offices))] or [None]
            for place in owned:
                self._audit(cur, actor, "staff_added", place, staff_id)
        return accounts.NewAccount(staff_id, secret, accounts.totp_uri(secret, staff_id))

    def _staff(self, cur: Any, staff_id: str, now: float) -> Staff | None:
        cur.execute(
            self._q(
                "SELECT display_name, role, locked_until FROM console_staff WHERE staff_id = ?"
            ),
            [staff_id],
        )
        row = cur.fetchone()
        if row is None:
            return None
        cur.execute(
            self._q(
                "SELECT office_code FROM console_staff_offices WHERE staff_id = ?"
                " ORDER BY office_code"
            ),
            [staff_id],
        )
        offices = tuple(str(r[0]) for r in cur.fetchall())
        return Staff(staff_id, str(row[0]), Role(row[1]), offices, int(row[2]) > now)

    def sign_in(self, staff_id: str, password: str, code: str, now: float) -> Staff | None:
        """The account if all three are right and it is not locked; else None, whatever
        was wrong (the page says the same for all). Failures count towards the lock."""
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT password_hash, totp_secret, totp_last_step, failures, locked_until"  # noqa: S608
                    f" FROM console_staff WHERE staff_id = ?{self.dialect.for_update}"
                ),
                [staff_id],
            )
            row = cur.fetchone()
            if row is None:
                accounts.check_password(password, accounts.DUMMY_HASH)  # same time as a miss
                self._audit(cur, "anonymous", "sign_in_failed", None, "unknown_account")
                return None
            stored, secret, last_step, failures, locked_until = row
            password_ok = accounts.check_password(password, str(stored))
            step = accounts.totp_step(str(secret), code, now, int(last_step))
            if int(locked_until) > now:
                self._audit(cur, f"staff:{staff_id}", "sign_in_refused", None, "locked")
                return None
            if not password_ok or step is None:
                failures = int(failures) + 1
                lock = int(now) + LOCK_SECONDS if failures >= LOCK_AFTER else 0
                cur.execute(
                    self._q(
                        "UPDATE console_staff SET failures = ?, locked_until = ? WHERE staff_id = ?"
                    ),
                    [0 if lock else failures, lock, staff_id],
                )
                why = "wrong_password" if not password_ok else "wrong_code"
                self._audit(cur, f"staff:{staff_id}", "sign_in_failed", None, why)
                if lock:
                    self._audit(cur, f"staff:{staff_id}", "locked_out", None, "too_many_failures")
                return None
            cur.execute(
                self._q(
                    "UPDATE console_staff SET failures = 0, totp_last_step = ? WHERE staff_id = ?"
                ),
                [step, staff_id],
            )
            self._audit(cur, f"staff:{staff_id}", "signed_in", None, "")
            return self._staff(cur, staff_id, now)

    def unlock(self, staff_id: str, *, actor: str) -> None:
        """Lift a lock-out."""
        with self._transaction() as cur:
            found = self._staff(cur, staff_id, time.time())
            if found is None:
                raise ConfigError(f"no staff account {staff_id!r}")
            cur.execute(
                self._q(
                    "UPDATE console_staff SET failures = 0, locked_until = 0 WHERE staff_id = ?"
                ),
                [staff_id],
            )
            places: tuple[str | None, ...] = found.offices or (None,)
            for place in places:
                self._audit(cur, actor, "unlocked", place, staff_id)

    def staff(self, staff_id: str) -> Staff | None:
        """One account, or None."""
        with self._transaction() as cur:
            return self._staff(cur, staff_id, time.time())

    def list_staff(self, offices: Sequence[str] | None) -> list[Staff]:
        """The accounts that have one of ``offices`` (None: all)."""
        with self._transaction() as cur:
            if offices is None:
                cur.execute("SELECT staff_id FROM console_staff ORDER BY staff_id")
            else:
                if not offices:
                    return []
                marks = ", ".join("?" for _ in offices)
                cur.execute(
                    self._q(
                        "SELECT DISTINCT staff_id FROM console_staff_offices"  # noqa: S608
                        f" WHERE office_code IN ({marks}) ORDER BY staff_id"
                    ),
                    list(offices),
                )
            ids = [str(r[0]) for r in cur.fetchall()]
            now = time.time()
            return [s for i in ids if (s := self._staff(cur, i, now)) is not None]

    # -- sessions -------------------------------------------------------------------

    def open_session(self, staff_id: str, now: float) -> tuple[str, str]:
        """A new session for a signed-in account: ``(session token, CSRF token)``."""
        token, csrf = accounts.new_token(), accounts.new_token()
        with self._transaction() as cur:
            cur.execute(
                self._q("DELETE FROM console_sessions WHERE last_seen < ? OR created_at < ?"),
                [int(now) - SESSION_IDLE, int(now) - SESSION_MAX],
            )
            cur.execute(
                self._q(
                    "INSERT INTO console_sessions (token_hash, staff_id, csrf, created_at,"
                    " last_seen) VALUES (?, ?, ?, ?, ?)"
                ),
                [accounts.token_digest(token), staff_id, csrf, int(now), int(now)],
            )
        return token, csrf

    def session(self, token: str, now: float) -> Session | None:
        """The live session of ``token`` (its idle clock restarted), or None."""
        digest = accounts.token_digest(token)
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT staff_id, csrf, created_at, last_seen FROM console_sessions"
                    " WHERE token_hash = ?"
                ),
                [digest],
            )
            row = cur.fetchone()
            if row is None:
                return None
            if int(row[3]) < now - SESSION_IDLE or int(row[2]) < now - SESSION_MAX:
                cur.execute(self._q("DELETE FROM console_sessions WHERE token_hash = ?"), [digest])
                return None
            staff = self._staff(cur, str(row[0]), now)
            if staff is None:
                return None
            if int(row[3]) < int(now):
                cur.execute(
                    self._q("UPDATE console_sessions SET last_seen = ? WHERE token_hash = ?"),
                    [int(now), digest],
                )
            return Session(staff, str(row[1]))

    def close_session(self, token: str, staff_id: str) -> None:
        """Sign out: the session is gone from the server (its cookie opens nothing)."""
        with self._transaction() as cur:
            cur.execute(
                self._q("DELETE FROM console_sessions WHERE token_hash = ?"),
                [accounts.token_digest(token)],
            )
            self._audit(cur, f"staff:{staff_id}", "signed_out", None, "")

    # -- offices, audit -------------------------------------------------------------

    def set_office_name(self, office: str, name: str, *, actor: str) -> None:
        """Give an office the name the pages show."""
        if not office or len(office) > 16 or not office.isprintable():
            raise ConfigError("an office code is 1-16 printable characters")
        if not name.strip() or len(name) > 64 or not name.isprintable():
            raise ConfigError("an office name is 1-64 printable characters")
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "INSERT INTO console_offices (office_code, name) VALUES (?, ?)"
                    " ON CONFLICT (office_code) DO UPDATE SET name = excluded.name"
                ),
                [office, name],
            )
            self._audit(cur, actor, "office_named", office, name)

    def offices(self) -> dict[str, str]:
        """Every office the server knows (enrolled devices, named offices, accounts),
        with its name (the code when it has none)."""
        with self._transaction() as cur:
            cur.execute(
                "SELECT office_code FROM devices UNION SELECT office_code FROM"
                " console_staff_offices UNION SELECT office_code FROM console_offices"
            )
            codes = sorted(str(r[0]) for r in cur.fetchall() if r[0])
            cur.execute("SELECT office_code, name FROM console_offices")
            names = {str(c): str(n) for c, n in cur.fetchall()}
        return {code: names.get(code, code) for code in codes}

    def devices(self, offices: Sequence[str]) -> list[tuple[str, str]]:
        """``(device_id, office_code)`` of the counters of ``offices``."""
        if not offices:
            return []
        marks = ", ".join("?" for _ in offices)
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT device_id, office_code FROM devices"  # noqa: S608
                    f" WHERE office_code IN ({marks}) ORDER BY office_code, device_id"
                ),
                list(offices),
            )
            return [(str(d), str(o)) for d, o in cur.fetchall()]

    def fleet(self, offices: Sequence[str]) -> list[CounterRow]:
        """The counters of ``offices``: enrolment, last upload, the chain's gaps and breaks
        (as ``GET /v1/devices/{id}/chain`` computes them, here counted in SQL)."""
        if not offices:
            return []
        marks = ", ".join("?" for _ in offices)
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT d.device_id, d.office_code, d.status, d.enrolled_at,"  # noqa: S608
                    " d.revoked_at, COALESCE(r.n, 0), d.high_water, COALESCE(r.last_seq, 0),"
                    " r.last_at, (SELECT COUNT(*) FROM rejections AS j"
                    " WHERE j.device_id = d.device_id),"
                    " (SELECT COUNT(*) FROM records AS b JOIN records AS p"
                    " ON p.device_id = b.device_id AND p.seq = b.seq - 1"
                    " WHERE b.device_id = d.device_id AND p.hash <> b.prev_hash)"
                    " FROM devices AS d LEFT JOIN (SELECT device_id, COUNT(*) AS n,"
                    " MAX(seq) AS last_seq, MAX(received_at) AS last_at FROM records"
                    " WHERE device_id IN (SELECT device_id FROM devices"
                    f" WHERE office_code IN ({marks})) GROUP BY device_id) AS r"
                    f" ON r.device_id = d.device_id WHERE d.office_code IN ({marks})"
                ),
                [*offices, *offices],
            )
            found = cur.fetchall()
        rows = [
            CounterRow(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3] or ""),
                str(r[4] or ""),
                int(r[5]),
                int(r[6]),
                int(r[7]),
                str(r[8] or ""),
                int(r[9]),
                int(r[10]),
            )
            for r in found
        ]
        return sorted(rows, key=lambda c: (c.office_code, c.device_id))

    def issue_enrolment_token(
        self, device_id: str, office: str, hours: int, now: float, *, actor: str
    ) -> tuple[str, str]:
        """A one-time token for counter ``device_id`` of ``office``, valid ``hours``:
        ``(token, expiry)``. Only its hash is kept; a counter already enrolled and not
        revoked is refused (revoke it first)."""
        from datetime import UTC, datetime

        from sync.server.app import enrolment_expiry, new_enrolment_token, token_hash

        if not _DEVICE_ID.fullmatch(device_id):
            raise ConfigError("a device id is 1-64 letters, digits, '.', '_' or '-'")
        if hours not in TOKEN_HOURS:
            raise ConfigError(f"a token lives {', '.join(map(str, TOKEN_HOURS))} hours")
        token = new_enrolment_token()
        expires = enrolment_expiry(datetime.fromtimestamp(now, UTC), hours)
        with self._transaction() as cur:
            cur.execute(
                self._q("SELECT status, office_code FROM devices WHERE device_id = ?"),
                [device_id],
            )
            row = cur.fetchone()
            if row is not None and str(row[0]) != "revoked":
                raise ConfigError(f"device {device_id!r} is already enrolled")
            cur.execute(
                self._q(
                    "INSERT INTO enrolment_tokens (token_hash, device_id, office_code,"
                    " expires_at) VALUES (?, ?, ?, ?)"
                ),
                [token_hash(token), device_id, office, expires],
            )
            self._audit(cur, actor, "enrolment_token_issued", office, device_id)
        return token, expires

    def enrolment_tokens(self, offices: Sequence[str], limit: int = 50) -> list[EnrolmentToken]:
        """The newest tokens of ``offices`` (used, unused or expired)."""
        if not offices:
            return []
        marks = ", ".join("?" for _ in offices)
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT device_id, office_code, expires_at, used_at FROM enrolment_tokens"  # noqa: S608
                    f" WHERE office_code IN ({marks}) ORDER BY expires_at DESC LIMIT ?"
                ),
                [*offices, limit],
            )
            return [
                EnrolmentToken(str(d), str(o), str(e), str(u or ""))
                for d, o, e, u in cur.fetchall()
            ]

    def add_payment(
        self, office: str, month: str, amount_yen: int, paid_on: str, note: str, *, actor: str
    ) -> int:
        """Record a payment to J-LIS for ``office``'s fees of ``month`` (``YYYY-MM``); its
        id. Audited with the amount."""
        from datetime import datetime

        try:
            datetime.strptime(month + "-01", "%Y-%m-%d")
            datetime.strptime(paid_on, "%Y-%m-%d")
        except ValueError as exc:
            raise ConfigError("a month is YYYY-MM and a payment date YYYY-MM-DD") from exc
        if not 0 < amount_yen <= MAX_PAYMENT_YEN:
            raise ConfigError(f"a payment is 1 to {MAX_PAYMENT_YEN} yen")
        if len(note) > 200 or not note.isprintable():
            raise ConfigError("a note is at most 200 printable characters")
        with self._transaction() as cur:
            new_id = self._insert_payment(
                cur, Payment(0, office, month, amount_yen, paid_on, note, actor)
            )
            self._audit(
                cur, actor, "payment_recorded", office, f"{month} ¥{amount_yen:,} {paid_on}"
            )
        return new_id

    def payments(self, offices: Sequence[str], month: str) -> list[Payment]:
        """The payments of ``offices`` for ``month``, in the order entered."""
        if not offices:
            return []
        marks = ", ".join("?" for _ in offices)
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT id, office_code, month, amount_yen, paid_on, note, entered_by,"  # noqa: S608
                    " corrects_id FROM console_payments WHERE month = ?"
                    f" AND office_code IN ({marks}) ORDER BY id"
                ),
                [month, *offices],
            )
            return [_payment(row) for row in cur.fetchall()]

    def payment(self, payment_id: int) -> Payment | None:
        """One entry (a payment or a correction), or None."""
        with self._transaction() as cur:
            return self._select_payment(cur, payment_id)

    def _select_payment(self, cur: Any, payment_id: int, lock: str = "") -> Payment | None:
        cur.execute(
            self._q(
                "SELECT id, office_code, month, amount_yen, paid_on, note, entered_by,"  # noqa: S608
                f" corrects_id FROM console_payments WHERE id = ?{lock}"
            ),
            [payment_id],
        )
        row = cur.fetchone()
        return None if row is None else _payment(row)

    def correct_payment(
        self, payment_id: int, amount_yen: int, paid_on: str, reason: str, *, actor: str
    ) -> Payment:
        """Correct payment ``payment_id``: it was in truth ``amount_yen`` (0: it was never
        made) paid on ``paid_on``. A new entry names it and holds the difference from what
        it counts for now (its amount and earlier corrections), ``reason`` as its note; the
        original is never changed. Returns the new entry; audited with old and new amount."""
        from datetime import datetime

        try:
            datetime.strptime(paid_on, "%Y-%m-%d")
        except ValueError as exc:
            raise ConfigError("a payment date is YYYY-MM-DD") from exc
        if not 0 <= amount_yen <= MAX_PAYMENT_YEN:
            raise ConfigError(f"a corrected payment is 0 to {MAX_PAYMENT_YEN} yen")
        if not reason.strip() or len(reason) > 200 or not reason.isprintable():
            raise ConfigError("a correction needs a reason of at most 200 printable characters")
        with self._transaction() as cur:
            original = self._select_payment(cur, payment_id, self.dialect.for_update)
            if original is None:
                raise ConfigError(f"no payment {payment_id}")
            if original.corrects_id is not None:
                raise ConfigError("correct the payment itself, not a correction of it")
            cur.execute(
                self._q(
                    "SELECT COALESCE(SUM(amount_yen), 0) FROM console_payments"
                    " WHERE corrects_id = ?"
                ),
                [payment_id],
            )
            counted = original.amount_yen + int(cur.fetchone()[0])
            if counted == amount_yen:
                raise ConfigError("the payment already counts for that amount")
            fix = Payment(
                0,
                original.office_code,
                original.month,
                amount_yen - counted,
                paid_on,
                reason.strip(),
                actor,
                payment_id,
            )
            new_id = self._insert_payment(cur, fix)
            self._audit(
                cur,
                actor,
                "payment_corrected",
                original.office_code,
                f"{original.month} #{payment_id} ¥{counted:,} → ¥{amount_yen:,} {paid_on}"
                f" ({reason.strip()})",
            )
        return dataclasses.replace(fix, id=new_id)

    def _insert_payment(self, cur: Any, entry: Payment) -> int:
        """Write ``entry`` (its id is the database's) and return its id."""
        cur.execute(
            self._q(
                "INSERT INTO console_payments (office_code, month, amount_yen, paid_on,"
                " note, entered_by, entered_at, corrects_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id"
            ),
            [
                entry.office_code,
                entry.month,
                entry.amount_yen,
                entry.paid_on,
                entry.note,
                entry.entered_by,
                int(time.time()),
                entry.corrects_id,
            ],
        )
        # This row's own id (not the newest of the month: another worker may write one).
        return int(cur.fetchone()[0])

    def note(self, actor: str, action: str, office: str | None, detail: str) -> None:
        """Put a change made elsewhere (the registry's own code) in the console's audit."""
        with self._transaction() as cur:
            self._audit(cur, actor, action, office, detail)

    def registry_history(self, registry: str, key: str, limit: int = 100) -> list[AuditEntry]:
        """The changes of one registry entry (``card`` or ``certificate``), oldest first."""
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT id, at, actor, registry, entry_key, office_code, before_status,"
                    " after_status, why FROM registry_audit WHERE registry = ? AND entry_key = ?"
                    " ORDER BY id LIMIT ?"
                ),
                [registry, key, limit],
            )
            return [
                AuditEntry(int(i), str(a), str(w), str(r), str(k), o, b, str(af), str(y or ""))
                for i, a, w, r, k, o, b, af, y in cur.fetchall()
            ]

    def audit(
        self, offices: Sequence[str] | None, actors: Sequence[str] = (), limit: int = 200
    ) -> list[AuditRow]:
        """The newest audit entries of ``offices`` (None: all), and those by or about
        ``actors`` (an administrator's own accounts)."""
        sql = "SELECT id, at, actor, action, office_code, detail FROM console_audit"
        params: list[Any] = []
        if offices is not None:
            clauses = []
            if offices:
                clauses.append(f"office_code IN ({', '.join('?' for _ in offices)})")
                params += list(offices)
            if actors:
                clauses.append(f"actor IN ({', '.join('?' for _ in actors)})")
                params += list(actors)
            if not clauses:
                return []
            sql += " WHERE " + " OR ".join(clauses)
        params.append(limit)
        with self._transaction() as cur:
            cur.execute(self._q(sql + " ORDER BY id DESC LIMIT ?"), params)
            return [
                AuditRow(int(r[0]), int(r[1]), str(r[2]), str(r[3]), r[4], str(r[5]))
                for r in cur.fetchall()
            ]

    # -- reports and transactions ---------------------------------------------------

    def report(self, first: str, last: str, offices: Sequence[str]) -> list[ReportRow]:
        """The 交付状況 of ``offices`` for each business date from ``first`` to ``last``:
        the database sums the ``report_facts`` rows ingest wrote with each record (one
        index range of ``report_facts_by_day``), the same rows as
        :func:`sync.server.report.daily_report` over each day's records."""
        if not offices:
            return []
        marks = ", ".join("?" for _ in offices)
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT office_code, business_date, certificate_type,"  # noqa: S608
                    f" {_FACT_SUMS} FROM report_facts WHERE business_date BETWEEN ? AND ?"
                    f" AND office_code IN ({marks})"
                    " GROUP BY office_code, business_date, certificate_type"
                ),
                [first, last, *offices],
            )
            found = cur.fetchall()
        # Sorted here by code point, as daily_report does (not by the database's collation).
        return sorted(
            (
                ReportRow(str(o), str(d), str(k), *(int(v) for v in sums))
                for o, d, k, *sums in found
            ),
            key=lambda r: (r.office_code, r.date, r.certificate_type),
        )

    def register(self, first: str, last: str, offices: Sequence[str]) -> list[RegisterRow]:
        """The 交付記録簿's counts per office, day and certificate type from ``first`` to
        ``last``, summed by the database over ``report_facts``: a certificate is 有償 when
        its transaction collected a fee (the record's fee, whichever type its share went
        to), else 無償. Days and types with nothing handed over are left out."""
        if not offices:
            return []
        marks = ", ".join("?" for _ in offices)
        sql = (
            "SELECT f.office_code, f.business_date, f.certificate_type,"  # noqa: S608
            " SUM(f.issued + f.renewed),"
            " SUM(CASE WHEN t.fee > 0 THEN f.issued + f.renewed ELSE 0 END)"
            " FROM report_facts AS f JOIN (SELECT device_id, seq,"
            " SUM(fee_collected_yen) AS fee FROM report_facts"
            f" WHERE business_date BETWEEN ? AND ? AND office_code IN ({marks})"
            " GROUP BY device_id, seq) AS t ON t.device_id = f.device_id AND t.seq = f.seq"
            f" WHERE f.business_date BETWEEN ? AND ? AND f.office_code IN ({marks})"
            " AND f.certificate_type <> 'none'"
            " GROUP BY f.office_code, f.business_date, f.certificate_type"
            " HAVING SUM(f.issued + f.renewed) > 0"
        )
        with self._transaction() as cur:
            cur.execute(self._q(sql), [first, last, *offices, first, last, *offices])
            found = cur.fetchall()
        return sorted(
            (RegisterRow(str(o), str(d), str(k), int(n), int(p)) for o, d, k, n, p in found),
            key=lambda r: (r.office_code, r.date, r.certificate_type),
        )

    def transactions(
        self, flt: TransactionFilter, offset: int = 0, limit: int = PAGE_SIZE
    ) -> list[TransactionRow]:
        """One page of the records ``flt`` selects, newest business date first."""
        if not flt.offices:
            return []
        marks = ", ".join("?" for _ in flt.offices)
        sql = (
            "SELECT business_date, office_code, device_id, seq, payload FROM records"  # noqa: S608
            f" WHERE business_date BETWEEN ? AND ? AND office_code IN ({marks})"
        )
        params: list[Any] = [flt.first, flt.last, *flt.offices]
        field = _json_field(self.dialect.name)
        for name, value in (
            ("procedure", flt.procedure),
            ("decision", flt.decision),
            ("abandonment_reason", flt.abandonment),
            ("operator_id", flt.operator),
        ):
            if value:
                sql += f" AND {field.format(name=name)} = ?"
                params.append(value)
        if flt.device_id:
            sql += " AND device_id = ?"
            params.append(flt.device_id)
        sql += " ORDER BY business_date DESC, office_code, device_id, seq DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        with self._transaction() as cur:
            cur.execute(self._q(sql), params)
            rows = cur.fetchall()
        return [_transaction_row(r) for r in rows]


def _payment(row: Sequence[Any]) -> Payment:
    i, o, m, a, p, n, e, c = row
    return Payment(
        int(i), str(o), str(m), int(a), str(p), str(n), str(e), None if c is None else int(c)
    )


def _json_field(dialect: str) -> str:
    """A top-level text field of a record's payload, in this dialect's SQL."""
    if dialect == "postgresql":
        return "(payload::jsonb ->> '{name}')"
    return "json_extract(payload, '$.{name}')"


def _transaction_row(row: Sequence[Any]) -> TransactionRow:
    payload = json.loads(row[4])
    fee = payload.get("fee_collected_yen")
    return TransactionRow(
        business_date=str(row[0]),
        office_code=str(row[1]),
        device_id=str(row[2]),
        seq=int(row[3]),
        completed_at=str(payload.get("completed_at", "")),
        procedure=str(payload.get("procedure", "")),
        decision=str(payload.get("decision", "")),
        abandonment=str(payload.get("abandonment_reason") or ""),
        operator=str(payload.get("operator_id", "")),
        citations=tuple(
            str(r.get("citation", "")) for r in payload.get("reasons") or () if isinstance(r, dict)
        ),
        certificates=tuple(
            (str(c.get("kind", "")), str(c.get("action", "")))
            for c in payload.get("certificates") or ()
            if isinstance(c, dict)
        ),
        fee_collected_yen=fee if isinstance(fee, int) and not isinstance(fee, bool) else 0,
    )
