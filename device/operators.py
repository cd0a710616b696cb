"""Operator (clerk) accounts: 統合端末の操作者の認証 before any applicant PIN is asked for.

The guidelines require the integrated terminal's operator to be authenticated
before the applicant enters a PIN (第2-1-(1) B). This module keeps the clerks'
accounts in the ``operators`` table of a :class:`sqlite_utils.Database` handed in
by the composition root, and gives a signed-in :class:`OperatorSession` whose
``operator_id`` every transaction record carries.

Passwords are hashed with scrypt (memory-hard, from ``cryptography``) with a
random 16-byte salt per operator. The cost parameters are stored in each row, so
raising :data:`DEFAULT_KDF` later re-hashes nobody and locks nobody out.

Policy, all of it configurable by the caller:

- After ``max_failures`` consecutive wrong passwords an account is *locked* for
  ``lockout_s`` seconds (15 minutes by default), or until an administrator runs
  ``madoguchi operator unlock``, whichever comes first. A lock that ends by itself
  means nobody at the counter can lock a clerk out for good by typing wrong
  passwords under their id; it still limits guessing to ``max_failures`` tries
  per ``lockout_s``.
- Sign-in is no oracle: an unknown id, a wrong password and a locked account are
  refused with one :class:`SignInRefusedError`, one message, and the same work
  (one scrypt derivation with the store's parameters, one write transaction), so
  neither the screen nor the time it takes tells which ids exist or which are
  locked. Only the operator event log and the journal, which the administrator
  reads, say why.
- A session signs itself out after ``idle_timeout_s`` without activity
  (measured on the injected clock).

Every sign-in, failure, lock-out, sign-out and attributed action is written to
the ``operator_events`` table. No password, hash or salt is ever logged.

Accounts come from one of two places (``[operators] source`` in the configuration):

- **local**: made on this counter with ``madoguchi operator add`` (the demo, a
  closed site);
- **central**: made per office on the central server's console and delivered to the
  office's counters by the sync daemon (:meth:`OperatorStore.apply_central`), which
  writes them here with ``source = 'central'``. The verifier is the same scrypt
  record, so a cached account signs in with the server down for days; a revoked
  clerk's verifier is wiped at the next sync (the row stays with ``revoked_at``, so
  a later attempt under its id is still attributed), and from then on sign-in
  refuses the id with the one refusal and the same work. A store opened with
  ``central_only`` refuses local adds and signs in central accounts only.

The sign-in attempts (success, refusal, lock-out, sign-out) are uploaded by the sync
daemon from ``operator_events`` above a mark kept in ``operator_sync``
(:meth:`OperatorStore.pending_sign_ins`, :meth:`OperatorStore.mark_sign_ins_sent`).

The database connection may be used from a worker thread (the TUI signs in off
its event loop): open it with ``check_same_thread=False``; this class serialises
its own access with a lock.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, Protocol

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from device.private_files import private_database_file
from madoguchi.errors import ConfigError, PinError, StoreError

log = logging.getLogger(__name__)

#: Table holding one row per operator.
OPERATORS_TABLE = "operators"
#: Append-only table of what each operator did (sign-in, sign-out, actions).
EVENTS_TABLE = "operator_events"
#: The sync daemon's marks: the central generation held, the events sent, the store id.
SYNC_TABLE = "operator_sync"
#: ``operators.source`` of an account made here and of one delivered by the server.
LOCAL, CENTRAL = "local", "central"
#: The events that are sign-in attempts (uploaded and shown on the console).
SIGN_IN_ACTIONS = ("sign_in", "sign_in_refused", "sign_out")

#: Operator ids: short, printable ASCII, so they fit every screen and log line.
OPERATOR_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
#: Shortest password :meth:`OperatorStore.add` accepts.
MIN_PASSWORD_LENGTH = 8


class OperatorAuthError(PinError):
    """Operator authentication stopped an action (the terminal-side half of the PIN check).

    Never carries the password.
    """


class SignInRefusedError(OperatorAuthError, ValueError):
    """Sign-in refused: unknown id, wrong password or a locked account (never saying which).

    Every refusal carries :data:`REFUSED_MESSAGE` and nothing else, so that what the
    counter shows cannot tell an id that exists from one that does not, nor a locked
    account from a wrong password.
    """

    def __init__(self) -> None:
        super().__init__(REFUSED_MESSAGE)


class SignInUnavailableError(OperatorAuthError, StoreError):
    """Sign-in is refused because the operator accounts cannot be read or written."""


#: The one message of every sign-in refusal.
REFUSED_MESSAGE = (
    "sign-in refused: the operator id or the password is wrong, or the account is "
    "locked for a while after too many wrong passwords"
)


class SessionExpiredError(OperatorAuthError):
    """The operator was signed out (idle too long, or signed out explicitly)."""


class OperatorExistsError(StoreError, ValueError):
    """An operator with that id already exists."""


class UnknownOperatorError(StoreError, LookupError):
    """No operator with that id (administrative commands only; sign-in never says this)."""


class Clock(Protocol):
    """Where time comes from: monotonic seconds for idleness, wall time for the record."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class KdfParams:
    """scrypt cost parameters: memory is ``128 * n * r`` bytes, work grows with ``n * p``."""

    n: int
    r: int
    p: int
    length: int = 32

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1):
            raise ConfigError(f"scrypt n must be a power of two >= 2, not {self.n}")
        if self.r < 1 or self.p < 1 or self.length < 16:
            raise ConfigError("scrypt r and p must be >= 1 and the key at least 16 bytes")

    def derive(self, password: bytes, salt: bytes) -> bytes:
        """The scrypt key for ``password`` and ``salt``."""
        return Scrypt(salt=salt, length=self.length, n=self.n, r=self.r, p=self.p).derive(password)


#: OWASP lists scrypt N=2^17, r=8, p=1 (128 MiB) and, as equal-strength alternatives,
#: N=2^15, r=8, p=3. The Pi also runs the UI within a 120 MB budget, so we take the
#: 32 MiB variant: about 0.3 s on the 2-core x86 test machine, about 1 s on a Pi 4,
#: and the TUI runs it in a worker thread.
DEFAULT_KDF = KdfParams(n=2**15, r=8, p=3)
#: Consecutive wrong passwords that lock an account.
DEFAULT_MAX_FAILURES = 5
#: Seconds an account stays locked after ``max_failures`` wrong passwords (unless an
#: administrator unlocks it sooner).
DEFAULT_LOCKOUT_S = 900.0
#: Seconds without activity after which a session signs itself out.
DEFAULT_IDLE_TIMEOUT_S = 300.0
#: How often an open session looks whether its account was revoked centrally.
REVOCATION_CHECK_S = 5.0


def _password_bytes(password: str | bytes | bytearray) -> bytes:
    """Passwords compare in NFC, so the same text typed with another IME still matches."""
    if isinstance(password, str):
        return unicodedata.normalize("NFC", password).encode("utf-8")
    return bytes(password)


@dataclass(frozen=True, slots=True)
class Verifier:
    """A password's scrypt verifier as an account row holds it (no password in it)."""

    kdf: KdfParams
    salt: bytes
    password_hash: bytes

    def matches(self, password: str | bytes | bytearray) -> bool:
        """Whether ``password`` is the one this verifier was made from."""
        candidate = self.kdf.derive(_password_bytes(password), self.salt)
        return hmac.compare_digest(candidate, self.password_hash)


def password_verifier(
    password: str | bytes | bytearray, kdf: KdfParams = DEFAULT_KDF
) -> Verifier:
    """The verifier of a new password, in the format :meth:`OperatorStore.sign_in` checks
    (the central server makes clerks' verifiers with it, so a counter checks them offline).

    Raises:
        ConfigError: the password is shorter than :data:`MIN_PASSWORD_LENGTH`.
    """
    secret = _password_bytes(password)
    if len(secret) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    salt = os.urandom(16)
    return Verifier(kdf, salt, kdf.derive(secret, salt))


def check_operator_id(operator_id: str) -> None:
    """Raise :class:`ConfigError` unless ``operator_id`` is a well-formed operator id."""
    if not OPERATOR_ID_PATTERN.fullmatch(operator_id):
        raise ConfigError(
            f"operator id {operator_id!r} must be 1-32 letters, digits, '.', '_' or '-'"
        )


@dataclass(frozen=True, slots=True)
class CentralAccount:
    """One clerk as the central server delivers it (``status`` active or revoked)."""

    operator_id: str
    display_name: str
    status: str
    verifier: Verifier | None
    """None for a revoked clerk: its verifier is never delivered again."""


@dataclass(frozen=True, slots=True)
class SignInEvent:
    """One sign-in attempt to upload: the event's id, who, when, what (never a password)."""

    id: int
    operator_id: str
    at: str
    action: str
    detail: str


@dataclass(frozen=True, slots=True)
class OperatorInfo:
    """What may be shown about an operator: never the hash or the salt."""

    operator_id: str
    display_name: str
    failed_attempts: int
    locked: bool
    """Locked now (a lock whose time is up no longer counts)."""
    created_at: str
    locked_until: str | None = None
    """When the current lock ends (UTC, ISO 8601); ``None`` when not locked."""
    source: str = LOCAL
    """:data:`LOCAL` (``madoguchi operator add``) or :data:`CENTRAL` (the server's)."""


class OperatorSession:
    """A signed-in operator. Ask :meth:`check` before every action; :meth:`touch` on activity."""

    def __init__(
        self,
        *,
        store: OperatorStore,
        operator_id: str,
        display_name: str,
        idle_timeout_s: float,
        clock: Clock,
    ) -> None:
        self.operator_id = operator_id
        """The id every transaction record carries as ``operator_id``."""
        self.display_name = display_name
        """The name the screen shows."""
        self.idle_timeout_s = idle_timeout_s
        self.signed_in_at = clock.now()
        self._store = store
        self._clock = clock
        self._last_activity = clock.monotonic()
        self._revocation_checked = clock.monotonic()
        self._ended: str | None = None

    @property
    def active(self) -> bool:
        """Whether the session is still signed in (checks idleness, ends the session if
        idle, and ends it if the sync daemon revoked the account meanwhile)."""
        if self._ended is None and self.idle_for() >= self.idle_timeout_s:
            self.sign_out(reason="idle")
        if self._ended is None and self._revocation_due():
            self.sign_out(reason="revoked")
        return self._ended is None

    def _revocation_due(self) -> bool:
        """Whether the account was revoked (looked up at most every
        :data:`REVOCATION_CHECK_S`: ``active`` runs on every key press)."""
        now = self._clock.monotonic()
        if now - self._revocation_checked < REVOCATION_CHECK_S:
            return False
        self._revocation_checked = now
        return self._store.revoked(self.operator_id)

    def idle_for(self) -> float:
        """Seconds since the last activity."""
        return self._clock.monotonic() - self._last_activity

    def seconds_left(self) -> float:
        """Seconds until the idle sign-out (0 once signed out)."""
        if not self.active:
            return 0.0
        return max(0.0, self.idle_timeout_s - self.idle_for())

    def touch(self) -> None:
        """Record activity (a key press); raises SessionExpiredError if already signed out."""
        self.check()
        self._last_activity = self._clock.monotonic()

    def check(self) -> None:
        """Raise :class:`SessionExpiredError` unless the session is still signed in."""
        if not self.active:
            raise SessionExpiredError(
                f"operator {self.operator_id} is signed out ({self._ended}); sign in again"
            )

    def record(self, action: str, detail: str = "") -> None:
        """Attribute ``action`` to this operator in the event log (checks the session first).

        ``detail`` must never hold a PIN, a password or a My Number.
        """
        self.check()
        self._last_activity = self._clock.monotonic()
        self._store.log_event(self.operator_id, action, detail)

    def sign_out(self, *, reason: str = "explicit") -> None:
        """End the session; safe to call twice."""
        if self._ended is None:
            self._ended = reason
            self._store.log_event(self.operator_id, "sign_out", reason)
            log.info("operator %s signed out (%s)", self.operator_id, reason)

    @property
    def end_reason(self) -> str | None:
        """Why the session ended (``"idle"``, ``"explicit"``...), ``None`` while active."""
        return self._ended


class OperatorStore:
    """The operator accounts in a SQLite database.

    Args:
        db: a :class:`sqlite_utils.Database`; the tables are created if missing.
        clock: time source for idleness and event timestamps.
        kdf: cost parameters for *new* password hashes.
        max_failures: consecutive wrong passwords that lock an account.
        lockout_s: how long such a lock lasts (an administrator may end it sooner).
        idle_timeout_s: idle sign-out for sessions this store opens.
        central_only: accounts come from the central server (``[operators] source =
            "central"``): :meth:`add` is refused, and only central accounts sign in.
    """

    def __init__(
        self,
        db: Any,
        *,
        clock: Clock | None = None,
        kdf: KdfParams = DEFAULT_KDF,
        max_failures: int = DEFAULT_MAX_FAILURES,
        lockout_s: float = DEFAULT_LOCKOUT_S,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        central_only: bool = False,
    ) -> None:
        if max_failures < 1:
            raise ConfigError(f"max_failures must be >= 1, not {max_failures}")
        if lockout_s <= 0:
            raise ConfigError(f"lockout_s must be > 0, not {lockout_s}")
        if idle_timeout_s <= 0:
            raise ConfigError(f"idle_timeout_s must be > 0, not {idle_timeout_s}")
        self._db = db
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.kdf = kdf
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.idle_timeout_s = idle_timeout_s
        self.central_only = central_only
        self._lock = threading.RLock()
        # A fixed salt for the decoy hash of unknown ids: only timing matters there.
        self._decoy_salt = os.urandom(16)
        self._create_tables()


    def close(self) -> None:
        """Close the accounts database (its ``-wal``/``-shm`` files go with the last
        connection, not whenever the garbage collector gets to it)."""
        with self._lock:
            self._db.conn.close()
    def _create_tables(self) -> None:
        with self._lock:
            if OPERATORS_TABLE not in self._db.table_names():
                self._db[OPERATORS_TABLE].create(
                    {
                        "operator_id": str,
                        "display_name": str,
                        "kdf": str,
                        "kdf_n": int,
                        "kdf_r": int,
                        "kdf_p": int,
                        "salt": bytes,
                        "password_hash": bytes,
                        "failed_attempts": int,
                        "locked": int,
                        "locked_until": str,
                        "created_at": str,
                        "source": str,
                        "revoked_at": str,
                    },
                    pk="operator_id",
                    not_null={"display_name", "kdf", "salt", "password_hash"},
                    defaults={"failed_attempts": 0, "locked": 0, "source": LOCAL},
                )
            else:
                columns = self._db[OPERATORS_TABLE].columns_dict
                if "locked_until" not in columns:
                    # Accounts made before locks expired: a lock without an end stays
                    # until an administrator unlocks it, as it was promised then.
                    self._db[OPERATORS_TABLE].add_column("locked_until", str)
                if "source" not in columns:
                    # Accounts made before central delivery were all made here.
                    self._db[OPERATORS_TABLE].add_column("source", str, not_null_default=LOCAL)
                if "revoked_at" not in columns:
                    self._db[OPERATORS_TABLE].add_column("revoked_at", str)
            if SYNC_TABLE not in self._db.table_names():
                self._db[SYNC_TABLE].create({"name": str, "value": str}, pk="name")
            if EVENTS_TABLE not in self._db.table_names():
                self._db[EVENTS_TABLE].create(
                    {"id": int, "operator_id": str, "at": str, "action": str, "detail": str},
                    pk="id",
                )

    # -- administration -------------------------------------------------------------

    def add(
        self, operator_id: str, password: str | bytes | bytearray, *, display_name: str = ""
    ) -> OperatorInfo:
        """Create an operator account.

        Raises:
            ValueError (OperatorExistsError): the id is taken.
            ConfigError: the id is malformed, the password shorter than
                :data:`MIN_PASSWORD_LENGTH`, or the accounts are managed centrally.
        """
        if self.central_only:
            raise ConfigError(
                "this counter's clerk accounts are managed centrally ([operators] source ="
                ' "central"): add the clerk on the office console; it reaches this counter'
                " at the next sync"
            )
        check_operator_id(operator_id)
        verifier = password_verifier(password, self.kdf)
        salt, digest = verifier.salt, verifier.password_hash
        created = self._clock.now().isoformat(timespec="seconds")
        with self._lock:
            if self._row(operator_id) is not None:
                raise OperatorExistsError(f"operator {operator_id} already exists")
            self._db[OPERATORS_TABLE].insert(
                {
                    "operator_id": operator_id,
                    "display_name": display_name or operator_id,
                    "kdf": "scrypt",
                    "kdf_n": self.kdf.n,
                    "kdf_r": self.kdf.r,
                    "kdf_p": self.kdf.p,
                    "salt": salt,
                    "password_hash": digest,
                    "failed_attempts": 0,
                    "locked": 0,
                    "created_at": created,
                }
            )
            self.log_event(operator_id, "account_created", "")
        log.info("operator %s created", operator_id)
        return self.info(operator_id)

    def unlock(self, operator_id: str) -> None:
        """Clear a lock-out and the failure count (an administrator's action)."""
        with self._lock:
            if self._row(operator_id) is None:
                raise UnknownOperatorError(f"no operator {operator_id}")
            self._db[OPERATORS_TABLE].update(
                operator_id, {"failed_attempts": 0, "locked": 0, "locked_until": None}
            )
            self.log_event(operator_id, "unlocked", "")
        log.info("operator %s unlocked", operator_id)

    def info(self, operator_id: str) -> OperatorInfo:
        """The showable facts about one operator."""
        with self._lock:
            row = self._row(operator_id)
        if row is None:
            raise UnknownOperatorError(f"no operator {operator_id}")
        locked = self._locked(row)
        return OperatorInfo(
            operator_id=row["operator_id"],
            display_name=row["display_name"],
            failed_attempts=int(row["failed_attempts"]),
            locked=locked,
            created_at=row["created_at"],
            locked_until=row.get("locked_until") if locked else None,
            source=str(row.get("source") or LOCAL),
        )

    def revoked(self, operator_id: str) -> bool:
        """Whether ``operator_id`` can no longer sign in here (revoked centrally, or gone);
        a database that cannot be read answers True (fail closed)."""
        import sqlite3

        try:
            with self._lock:
                row = self._row(operator_id)
        except sqlite3.Error:
            return True
        return row is None or bool(row.get("revoked_at"))

    def operator_ids(self) -> list[str]:
        """Every operator id that may sign in (not a revoked central one), sorted."""
        with self._lock:
            rows = self._db[OPERATORS_TABLE].rows_where(
                "revoked_at IS NULL", select="operator_id", order_by="operator_id"
            )
            return [str(r["operator_id"]) for r in rows]

    def events(self, operator_id: str | None = None) -> list[dict[str, Any]]:
        """The event log, oldest first (optionally for one operator)."""
        with self._lock:
            table = self._db[EVENTS_TABLE]
            if operator_id is None:
                rows = table.rows_where(order_by="id")
            else:
                rows = table.rows_where("operator_id = ?", [operator_id], order_by="id")
            return [dict(r) for r in rows]

    # -- authentication -------------------------------------------------------------

    def sign_in(self, operator_id: str, password: str | bytes | bytearray) -> OperatorSession:
        """Check the password and open a session.

        Blocks for the scrypt work (about a second on a Pi): call it off the UI's
        event loop. Every refusal costs the same: one derivation with the store's
        parameters (a decoy for an unknown id, the account's own for a locked one)
        and one write transaction (the failure count and the event).

        Raises:
            SignInRefusedError: unknown id, wrong password, or a locked account, all
                alike; the reason goes to the event log and the journal only.
            SignInUnavailableError: the accounts cannot be read or the refusal cannot
                be counted (a read-only or broken database): sign-in fails closed.
        """
        import sqlite3

        try:
            return self._sign_in(operator_id, password)
        except sqlite3.Error as exc:
            # Never let a guess go uncounted, and never leave the sign-in screen waiting.
            log.error("sign-in refused: the operator accounts cannot be used (%s)",
                      type(exc).__name__)
            raise SignInUnavailableError(
                "sign-in refused: the operator accounts cannot be read or written"
            ) from None

    def _sign_in(self, operator_id: str, password: str | bytes | bytearray) -> OperatorSession:
        secret = _password_bytes(password)
        with self._lock:
            row = self._row(operator_id)
            if row is not None and self.central_only and row.get("source") != CENTRAL:
                # A local account on a centrally managed counter is no account: the
                # same refusal, the same work (its event says why, for the administrator).
                self.kdf.derive(secret, self._decoy_salt)
                self._refuse(operator_id, "local_account", failures=int(row["failed_attempts"]),
                             locked_until=row.get("locked_until"))
                log.warning("sign-in refused: operator %s is a local account", operator_id)
                raise SignInRefusedError()
            if row is not None and row.get("revoked_at"):
                # Revoked centrally: no verifier is left; the same refusal and work as an
                # unknown id, but the attempt is attributed (the office sees who tried).
                self.kdf.derive(secret, self._decoy_salt)
                self._refuse(operator_id, "revoked", failures=int(row["failed_attempts"]),
                             locked_until=row.get("locked_until"))
                log.warning("sign-in refused: operator %s is revoked", operator_id)
                raise SignInRefusedError()
            if row is None:
                # Same work as a real check, so timing does not reveal which ids exist.
                self.kdf.derive(secret, self._decoy_salt)
                # The typed id is not logged: a password typed into the id field by
                # mistake would land in the log.
                self._refuse(None, "unknown_id", failures=0, locked_until=None)
                log.warning("sign-in refused: unknown operator id")
                raise SignInRefusedError()
            params = KdfParams(n=row["kdf_n"], r=row["kdf_r"], p=row["kdf_p"],
                               length=len(row["password_hash"]))
            # Derived even for a locked account: a lock must not answer faster.
            candidate = params.derive(secret, row["salt"])
            if self._locked(row):
                self._refuse(operator_id, "locked", failures=int(row["failed_attempts"]),
                             locked_until=row.get("locked_until"))
                log.warning("sign-in refused: operator %s is locked", operator_id)
                raise SignInRefusedError()
            if not hmac.compare_digest(candidate, row["password_hash"]):
                # A lock whose time is up starts the count again.
                failures = 1 if row["locked"] else int(row["failed_attempts"]) + 1
                self._fail(operator_id, failures)
            self._db[OPERATORS_TABLE].update(
                operator_id, {"failed_attempts": 0, "locked": 0, "locked_until": None}
            )
            self.log_event(operator_id, "sign_in", "")
        log.info("operator %s signed in", operator_id)
        return OperatorSession(
            store=self,
            operator_id=operator_id,
            display_name=row["display_name"],
            idle_timeout_s=self.idle_timeout_s,
            clock=self._clock,
        )

    def _fail(self, operator_id: str, failures: int) -> NoReturn:
        if failures >= self.max_failures:
            until = (self._clock.now() + timedelta(seconds=self.lockout_s)).isoformat(
                timespec="seconds")
            self._refuse(operator_id, "locked_now", failures=failures, locked_until=until)
            log.warning("operator %s locked until %s after %d wrong passwords",
                        operator_id, until, failures)
        else:
            self._refuse(operator_id, f"wrong_password {failures}/{self.max_failures}",
                         failures=failures, locked_until=None)
            log.warning("sign-in refused: wrong password for operator %s", operator_id)
        raise SignInRefusedError()

    def _refuse(
        self, operator_id: str | None, why: str, *, failures: int, locked_until: str | None
    ) -> None:
        """Write a refusal: one transaction, the same two statements for every reason."""
        at = self._clock.now().isoformat(timespec="seconds")
        conn = self._db.conn
        with conn:  # one commit (one WAL sync) whatever the reason
            # For an unknown id the UPDATE matches no row: the same statement, no effect.
            conn.execute(
                "UPDATE operators SET failed_attempts = ?, locked = ?, "
                "locked_until = ? WHERE operator_id = ?",
                (failures, int(locked_until is not None), locked_until, operator_id or ""),
            )
            conn.execute(
                "INSERT INTO operator_events (operator_id, at, action, detail) "
                "VALUES (?, ?, ?, ?)",
                (operator_id or "", at, "sign_in_refused", why),
            )

    def _locked(self, row: dict[str, Any]) -> bool:
        """Whether ``row``'s account is locked now (a lock whose time is up is not)."""
        if not row["locked"]:
            return False
        until = row.get("locked_until")
        if until is None:
            return True  # a lock from before locks expired: until an administrator ends it
        return self._clock.now() < datetime.fromisoformat(until)

    # -- central accounts and the sign-in upload (the sync daemon) ------------------

    def sync_value(self, name: str) -> str | None:
        """A mark the sync daemon keeps here (None: never set)."""
        with self._lock:
            rows = list(self._db[SYNC_TABLE].rows_where("name = ?", [name], limit=1))
        return str(rows[0]["value"]) if rows else None

    def store_id(self) -> str:
        """This accounts file's own random id: uploaded event ids are unique with it, so a
        file made again (ids from 1) never looks like events the server already has."""
        with self._lock:
            found = self.sync_value("store_id")
            if found is None:
                found = os.urandom(16).hex()
                self._db[SYNC_TABLE].upsert({"name": "store_id", "value": found}, pk="name")
            return found

    def central_generation(self) -> int:
        """The generation of the office's clerk list this counter holds (0: none yet)."""
        value = self.sync_value("central_generation")
        return int(value) if value else 0

    def apply_central(
        self, accounts: list[CentralAccount], *, generation: int, full: bool
    ) -> tuple[int, int]:
        """Write the clerks the server delivered, in one transaction: an active one is
        added or updated (a new verifier ends its lock-out: the office reset the
        password), a revoked one loses its verifier, and with ``full`` (the server's whole list)
        every central account not in it is revoked. Local accounts are left alone.
        Returns (accounts written, accounts removed)."""
        now = self._clock.now().isoformat(timespec="seconds")
        written = removed = 0
        active = {a.operator_id for a in accounts if a.status == "active"}
        with self._lock, self._db.conn:
            conn = self._db.conn
            for account in accounts:
                check_operator_id(account.operator_id)
                row = self._row(account.operator_id)
                if account.status != "active" or account.verifier is None:
                    if row is not None and row.get("source") == CENTRAL:
                        removed += self._revoke(conn, account.operator_id, now)
                    continue
                v = account.verifier
                fields = (account.display_name or account.operator_id, v.kdf.n, v.kdf.r,
                          v.kdf.p, v.salt, v.password_hash)
                if row is None:
                    conn.execute(
                        "INSERT INTO operators (display_name, kdf, kdf_n, kdf_r, kdf_p, salt,"
                        " password_hash, failed_attempts, locked, created_at, source,"
                        " operator_id) VALUES (?, 'scrypt', ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
                        (*fields, now, CENTRAL, account.operator_id),
                    )
                    self._event(conn, account.operator_id, "central_added", now)
                else:
                    new_secret = bytes(row["password_hash"]) != v.password_hash
                    conn.execute(
                        "UPDATE operators SET display_name = ?, kdf = 'scrypt', kdf_n = ?,"
                        " kdf_r = ?, kdf_p = ?, salt = ?, password_hash = ?, source = ?,"
                        " revoked_at = NULL WHERE operator_id = ?",
                        (*fields, CENTRAL, account.operator_id),
                    )
                    if new_secret:
                        conn.execute(
                            "UPDATE operators SET failed_attempts = 0, locked = 0,"
                            " locked_until = NULL WHERE operator_id = ?",
                            (account.operator_id,),
                        )
                    self._event(conn, account.operator_id, "central_updated", now)
                written += 1
            if full:
                stale = [
                    r[0] for r in conn.execute(
                        "SELECT operator_id FROM operators WHERE source = ?"
                        " AND revoked_at IS NULL", (CENTRAL,))
                    if r[0] not in active
                ]
                for operator_id in stale:
                    removed += self._revoke(conn, operator_id, now)
            conn.execute(
                "INSERT INTO operator_sync (name, value) VALUES ('central_generation', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(generation),),
            )
        if written or removed:
            log.info("central clerk accounts: %d written, %d removed (generation %d)",
                     written, removed, generation)
        return written, removed

    def pending_sign_ins(self, limit: int = 500) -> list[SignInEvent]:
        """The sign-in attempts not yet acknowledged by the server, oldest first."""
        mark = int(self.sync_value("sign_ins_sent") or 0)
        marks = ", ".join("?" for _ in SIGN_IN_ACTIONS)
        with self._lock:
            rows = self._db.conn.execute(
                "SELECT id, operator_id, at, action, detail FROM operator_events"  # noqa: S608
                f" WHERE id > ? AND action IN ({marks}) ORDER BY id LIMIT ?",
                (mark, *SIGN_IN_ACTIONS, limit),
            ).fetchall()
        return [SignInEvent(int(i), str(o or ""), str(a), str(c), str(d or ""))
                for i, o, a, c, d in rows]

    def mark_sign_ins_sent(self, up_to: int) -> None:
        """The server holds every sign-in event up to ``up_to`` (the mark only moves on)."""
        with self._lock, self._db.conn:
            self._db.conn.execute(
                "INSERT INTO operator_sync (name, value) VALUES ('sign_ins_sent', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
                " WHERE CAST(excluded.value AS INTEGER) > CAST(operator_sync.value AS INTEGER)",
                (str(up_to),),
            )

    def _revoke(self, conn: Any, operator_id: str, at: str) -> int:
        """Revoke a central account: its verifier is wiped (the row stays, so a later
        attempt under its id is attributed); 1 if it was not revoked yet."""
        changed = conn.execute(
            "UPDATE operators SET salt = ?, password_hash = ?, revoked_at = ?"
            " WHERE operator_id = ? AND revoked_at IS NULL",
            (b"", b"", at, operator_id),
        ).rowcount
        if changed:
            self._event(conn, operator_id, "central_revoked", at)
        return int(changed)

    @staticmethod
    def _event(conn: Any, operator_id: str, action: str, at: str) -> None:
        conn.execute(
            "INSERT INTO operator_events (operator_id, at, action, detail) VALUES (?, ?, ?, '')",
            (operator_id, at, action),
        )

    # -- internals ------------------------------------------------------------------

    def log_event(self, operator_id: str, action: str, detail: str) -> None:
        """Append one attributed event (never pass secrets in ``detail``)."""
        with self._lock:
            self._db[EVENTS_TABLE].insert(
                {
                    "operator_id": operator_id,
                    "at": self._clock.now().isoformat(timespec="seconds"),
                    "action": action,
                    "detail": detail,
                }
            )

    def _row(self, operator_id: str) -> dict[str, Any] | None:
        rows = list(
            self._db[OPERATORS_TABLE].rows_where("operator_id = ?", [operator_id], limit=1)
        )
        return dict(rows[0]) if rows else None


def open_operator_db(path: str) -> Any:
    """A :class:`sqlite_utils.Database` on ``path`` usable from worker threads (WAL mode).

    The file is made (or tightened to) 0600 and its folder 0700 before SQLite opens
    it, whatever the umask: SQLite gives its ``-wal`` and ``-shm`` files the
    database file's mode.
    """
    import sqlite3

    import sqlite_utils

    try:
        private_database_file(path)
        conn = sqlite3.connect(path, check_same_thread=False)
        db = sqlite_utils.Database(conn)
        db.enable_wal()
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the operator accounts {path}: {exc}") from exc
    return db


__all__ = [
    "CENTRAL",
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_KDF",
    "DEFAULT_LOCKOUT_S",
    "DEFAULT_MAX_FAILURES",
    "LOCAL",
    "REFUSED_MESSAGE",
    "REVOCATION_CHECK_S",
    "SIGN_IN_ACTIONS",
    "CentralAccount",
    "Clock",
    "KdfParams",
    "OperatorAuthError",
    "OperatorExistsError",
    "OperatorInfo",
    "OperatorSession",
    "OperatorStore",
    "SessionExpiredError",
    "SignInEvent",
    "SignInRefusedError",
    "SignInUnavailableError",
    "SystemClock",
    "UnknownOperatorError",
    "Verifier",
    "check_operator_id",
    "open_operator_db",
    "password_verifier",
]
