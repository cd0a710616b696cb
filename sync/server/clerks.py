"""Clerk (窓口担当者) accounts managed centrally per office, and the counters' sign-ins.

The guidelines ask that the integrated terminal's operator be authenticated before an
applicant's PIN is asked for (第2-1-(1) B); :mod:`device.operators` does that on the
counter, offline. This module is the central half (issue 16):

- an office's clerks live in ``clerks`` (migration 8): id, display name, the scrypt
  verifier in exactly the form :meth:`device.operators.OperatorStore.sign_in` checks
  (so a counter checks it with the server down), ``active`` or ``revoked``, and the
  office's *generation* at the clerk's last change. ``clerk_offices`` holds each
  office's current generation, raised by one in the transaction of every change, so a
  counter asks "what changed after generation N" and an unchanged office costs one
  indexed read and a ``304``;
- a revoked clerk keeps its row (its id stays taken: records carry it as
  ``operator_id``, and a new person under an old id would blur who did what) but loses
  its verifier, which is never delivered again;
- every change is in the console's audit (``console_audit``), with the office;
- the counters upload every sign-in attempt (success, refusal, lock-out, sign-out:
  clerk id, device, time, never a password) to ``clerk_sign_ins``, keyed by (device,
  the accounts file's own id, the event's id), so a batch sent twice is kept once.

Device endpoints (mutual TLS, the authorization matrix's rows "read its office's clerk
accounts" and "upload its clerks' sign-in attempts"): ``GET /v1/clerks?since=N`` and
``POST /v1/clerks/sign-ins``. Their bodies are the msgspec Structs of
:mod:`sync.clerk_protocol`.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from device.operators import (
    DEFAULT_KDF,
    KdfParams,
    check_operator_id,
    password_verifier,
)
from madoguchi.errors import ConfigError
from sync.clerk_protocol import (
    ACTIVE,
    MAX_SIGN_INS,
    REVOKED,
    ClerkEntry,
    ClerkList,
    SignInAck,
    SignInBatch,
    SignInEventBody,
)
from sync.server.authz import Principal
from sync.server.repository import Dialect

#: Sign-in events a console page shows.
SIGN_IN_PAGE = 100


# -- storage -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clerk:
    """A clerk as the console shows it (never the verifier)."""

    office_code: str
    clerk_id: str
    display_name: str
    status: str
    generation: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class SignInRow:
    """One uploaded sign-in attempt."""

    office_code: str
    device_id: str
    clerk_id: str
    at: str
    action: str
    detail: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def check_display_name(name: str) -> str:
    """A clerk's display name: 1-64 printable characters (stripped)."""
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise ConfigError("a clerk's name is 1-64 printable characters")
    return name


class ClerkStore:
    """The office's clerks and the counters' sign-ins, on the server's database."""

    def __init__(self, dialect: Dialect, *, kdf: KdfParams = DEFAULT_KDF) -> None:
        self.dialect = dialect
        self.kdf = kdf

    def _q(self, text: str) -> str:
        return self.dialect.sql(text)

    def _audit(self, cur: Any, actor: str, action: str, office: str, detail: str) -> None:
        cur.execute(
            self._q(
                "INSERT INTO console_audit (at, actor, action, office_code, detail)"
                " VALUES (?, ?, ?, ?, ?)"
            ),
            [int(time.time()), actor, action, office, detail],
        )

    def _next_generation(self, cur: Any, office: str) -> int:
        # The UPDATE holds the office's row until commit (PostgreSQL): changes of one
        # office take turns, and each gets its own generation.
        cur.execute(
            self._q(
                "INSERT INTO clerk_offices (office_code, generation) VALUES (?, 0)"
                " ON CONFLICT (office_code) DO NOTHING"
            ),
            [office],
        )
        cur.execute(
            self._q("UPDATE clerk_offices SET generation = generation + 1 WHERE office_code = ?"),
            [office],
        )
        cur.execute(self._q("SELECT generation FROM clerk_offices WHERE office_code = ?"), [office])
        return int(cur.fetchone()[0])

    def _status(self, cur: Any, office: str, clerk_id: str) -> str | None:
        cur.execute(
            self._q(
                "SELECT status FROM clerks WHERE office_code = ? AND clerk_id = ?"  # noqa: S608
                f"{self.dialect.for_update}"
            ),
            [office, clerk_id],
        )
        row = cur.fetchone()
        return None if row is None else str(row[0])

    def add(
        self, office: str, clerk_id: str, display_name: str, password: str, *, actor: str
    ) -> int:
        """A new active clerk of ``office`` with an initial password; the new generation.

        Raises:
            ConfigError: a malformed id or name, a short password, or an id the office
                already has (a revoked one included: ids are never reused).
        """
        check_operator_id(clerk_id)
        name = check_display_name(display_name)
        verifier = password_verifier(password, self.kdf)  # the slow part, outside the lock
        with self.dialect.transaction() as cur:
            if self._status(cur, office, clerk_id) is not None:
                raise ConfigError(f"the office already has a clerk {clerk_id!r}")
            generation = self._next_generation(cur, office)
            cur.execute(
                self._q(
                    "INSERT INTO clerks (office_code, clerk_id, display_name, kdf_n, kdf_r,"
                    " kdf_p, salt, password_hash, status, generation, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                [office, clerk_id, name, verifier.kdf.n, verifier.kdf.r, verifier.kdf.p,
                 _b64(verifier.salt), _b64(verifier.password_hash), ACTIVE, generation,
                 int(time.time())],
            )
            self._audit(cur, actor, "clerk_added", office, clerk_id)
        return generation

    def reset_password(self, office: str, clerk_id: str, password: str, *, actor: str) -> int:
        """Give an active clerk a new password (it ends a lock-out at the counters at
        the next sync); the new generation.

        Raises:
            LookupError: no active clerk of that id in ``office``.
            ConfigError: the password is too short.
        """
        verifier = password_verifier(password, self.kdf)
        with self.dialect.transaction() as cur:
            if self._status(cur, office, clerk_id) != ACTIVE:
                raise LookupError(f"no active clerk {clerk_id!r} in office {office}")
            generation = self._next_generation(cur, office)
            cur.execute(
                self._q(
                    "UPDATE clerks SET kdf_n = ?, kdf_r = ?, kdf_p = ?, salt = ?,"
                    " password_hash = ?, generation = ?, updated_at = ?"
                    " WHERE office_code = ? AND clerk_id = ?"
                ),
                [verifier.kdf.n, verifier.kdf.r, verifier.kdf.p, _b64(verifier.salt),
                 _b64(verifier.password_hash), generation, int(time.time()), office, clerk_id],
            )
            self._audit(cur, actor, "clerk_password_reset", office, clerk_id)
        return generation

    def revoke(self, office: str, clerk_id: str, *, actor: str) -> int:
        """Revoke a clerk: its verifier is dropped, the counters delete the account at
        their next sync; the new generation.

        Raises:
            LookupError: no active clerk of that id in ``office``.
        """
        with self.dialect.transaction() as cur:
            if self._status(cur, office, clerk_id) != ACTIVE:
                raise LookupError(f"no active clerk {clerk_id!r} in office {office}")
            generation = self._next_generation(cur, office)
            cur.execute(
                self._q(
                    "UPDATE clerks SET status = ?, salt = '', password_hash = '',"
                    " generation = ?, updated_at = ? WHERE office_code = ? AND clerk_id = ?"
                ),
                [REVOKED, generation, int(time.time()), office, clerk_id],
            )
            self._audit(cur, actor, "clerk_revoked", office, clerk_id)
        return generation

    def clerks(self, office: str) -> list[Clerk]:
        """The office's clerks, active first, then by id."""
        with self.dialect.transaction() as cur:
            cur.execute(
                self._q(
                    "SELECT office_code, clerk_id, display_name, status, generation, updated_at"
                    " FROM clerks WHERE office_code = ? ORDER BY status, clerk_id"
                ),
                [office],
            )
            return [
                Clerk(str(o), str(c), str(n), str(s), int(g), int(u))
                for o, c, n, s, g, u in cur.fetchall()
            ]

    def generation(self, office: str) -> int:
        """The office's clerk-list generation (0: never changed)."""
        with self.dialect.transaction() as cur:
            return self._generation(cur, office)

    def _generation(self, cur: Any, office: str) -> int:
        cur.execute(self._q("SELECT generation FROM clerk_offices WHERE office_code = ?"), [office])
        row = cur.fetchone()
        return 0 if row is None else int(row[0])

    def delivery(self, office: str, since: int) -> ClerkList:
        """What a counter of ``office`` holding generation ``since`` needs: the clerks
        changed after it, or, for a counter ahead of the server (a restored backup) or
        with nothing yet, the whole list of active clerks (``full``)."""
        with self.dialect.transaction() as cur:
            generation = self._generation(cur, office)
            full = since <= 0 or since > generation
            sql = (
                "SELECT clerk_id, display_name, status, generation, kdf_n, kdf_r, kdf_p, salt,"
                " password_hash FROM clerks WHERE office_code = ?"
            )
            params: list[Any] = [office]
            if full:
                sql += " AND status = ?"
                params.append(ACTIVE)
            else:
                sql += " AND generation > ?"
                params.append(since)
            cur.execute(self._q(sql + " ORDER BY generation"), params)
            entries = [
                ClerkEntry(str(c), str(n), s, int(g), "scrypt", int(kn), int(kr), int(kp),
                           str(salt), str(digest))
                if s == ACTIVE else ClerkEntry(str(c), str(n), s, int(g))
                for c, n, s, g, kn, kr, kp, salt, digest in cur.fetchall()
            ]
        return ClerkList(office, generation, full, entries)

    def store_sign_ins(
        self, device_id: str, office: str, batch: SignInBatch, received_at: str
    ) -> int:
        """Keep a counter's sign-in events; one already held is not kept twice. Returns
        how many were new."""
        rows = [
            (device_id, batch.store_id, e.id, office, e.clerk_id, e.at, e.action, e.detail,
             received_at)
            for e in batch.events
        ]
        with self.dialect.transaction() as cur:
            cur.execute(
                self._q("SELECT COUNT(*) FROM clerk_sign_ins WHERE device_id = ? AND store_id = ?"),
                [device_id, batch.store_id],
            )
            before = int(cur.fetchone()[0])
            self.dialect.insert_rows(
                cur,
                "clerk_sign_ins",
                _SIGN_IN_COLUMNS,
                rows,
                " ON CONFLICT (device_id, store_id, event_id) DO NOTHING",
            )
            cur.execute(
                self._q("SELECT COUNT(*) FROM clerk_sign_ins WHERE device_id = ? AND store_id = ?"),
                [device_id, batch.store_id],
            )
            return int(cur.fetchone()[0]) - before

    def sign_ins(
        self, offices: Sequence[str], *, clerk_id: str | None = None, limit: int = SIGN_IN_PAGE
    ) -> list[SignInRow]:
        """The newest sign-in attempts at the counters of ``offices`` (one clerk's)."""
        if not offices:
            return []
        sql = (
            "SELECT office_code, device_id, clerk_id, at, action, detail FROM clerk_sign_ins"  # noqa: S608
            f" WHERE office_code IN ({', '.join('?' for _ in offices)})"
        )
        params: list[Any] = list(offices)
        if clerk_id is not None:
            sql += " AND clerk_id = ?"
            params.append(clerk_id)
        params.append(limit)
        with self.dialect.transaction() as cur:
            cur.execute(self._q(sql + " ORDER BY at DESC, event_id DESC LIMIT ?"), params)
            return [SignInRow(*(str(v) for v in row)) for row in cur.fetchall()]


_SIGN_IN_COLUMNS = (
    ("device_id", "text"),
    ("store_id", "text"),
    ("event_id", "bigint"),
    ("office_code", "text"),
    ("clerk_id", "text"),
    ("at", "text"),
    ("action", "text"),
    ("detail", "text"),
    ("received_at", "text"),
)


# -- the device endpoints ---------------------------------------------------------------


def _store(request: Request) -> ClerkStore:
    return ClerkStore(request.app.state.ctx.repo.dialect)


def etag(generation: int) -> str:
    """The ETag of an office's clerk list at ``generation``."""
    return f'"clerks-{generation}"'


async def get_clerks(request: Request) -> Response:
    """``GET /v1/clerks[?since=N]``: the counter's own office's clerks (the gate has
    refused another office). ``If-None-Match`` of the current generation: 304."""
    principal: Principal = request.state.principal
    office = principal.office_code or ""
    raw = request.query_params.get("since", "0")
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise HTTPException(400, "since must be a generation (a whole number >= 0)")
    since = int(raw)
    store = _store(request)
    generation = await run_in_threadpool(store.generation, office)
    tag = etag(generation)
    if since == generation and request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"ETag": tag})
    answer = await run_in_threadpool(store.delivery, office, since)
    return Response(
        msgspec.json.encode(answer),
        media_type="application/json",
        headers={"ETag": etag(answer.generation), "Cache-Control": "no-store"},
    )


async def post_sign_ins(request: Request) -> Response:
    """``POST /v1/clerks/sign-ins``: keep the counter's sign-in attempts (idempotent)."""
    principal: Principal = request.state.principal
    try:
        batch = msgspec.json.decode(await request.body(), type=SignInBatch)
    except msgspec.ValidationError as exc:
        raise HTTPException(400, f"sign-ins: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise HTTPException(400, f"body is not JSON: {exc}") from exc
    for event in batch.events:
        try:
            datetime.fromisoformat(event.at)
        except ValueError as exc:
            raise HTTPException(400, f"event {event.id}: at is not an ISO-8601 time") from exc
    store = _store(request)
    ctx = request.app.state.ctx
    stored = await run_in_threadpool(
        store.store_sign_ins,
        principal.device_id or "",
        principal.office_code or "",
        batch,
        ctx.now().isoformat(),
    )
    ack = SignInAck(stored, max(e.id for e in batch.events))
    return JSONResponse(msgspec.to_builtins(ack))


__all__ = [
    "ACTIVE",
    "MAX_SIGN_INS",
    "REVOKED",
    "Clerk",
    "ClerkEntry",
    "ClerkStore",
    "SignInBatch",
    "SignInEventBody",
    "SignInRow",
    "etag",
    "get_clerks",
    "post_sign_ins",
]
