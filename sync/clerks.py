"""The counter's half of centrally managed clerk accounts (issue 16), run by the sync daemon.

At every contact the uploader makes with the server (each batch sent, each idle
ping), :meth:`ClerkSync.sync_once`:

1. asks ``GET /v1/clerks?since=G`` with ``If-None-Match`` for the generation ``G``
   of the office's clerk list the counter holds: an unchanged list is a ``304`` and
   nothing more; a changed one carries only the clerks changed after ``G`` (or the
   whole list, ``full``, when the counter has none or is ahead of the server), which
   :meth:`device.operators.OperatorStore.apply_central` writes in one transaction:
   added, updated, a revoked clerk loses its verifier, so it cannot sign in from then on;
2. uploads the sign-in attempts logged since the last acknowledged one
   (``POST /v1/clerks/sign-ins``), at most :data:`~sync.server.clerks.MAX_SIGN_INS` at
   a time, and moves the mark only after the server answered. A ``kill -9`` between
   the two sends the same events again, which the server keeps once: nothing lost,
   nothing twice.

With the server unreachable nothing changes on the counter: the cached accounts keep
signing in (the verifier is checked locally) and the events wait. A failure is logged
and returned, never raised into the uploader's loop.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec

from device.operators import (
    OPERATOR_ID_PATTERN,
    CentralAccount,
    KdfParams,
    OperatorStore,
    Verifier,
)
from madoguchi.errors import ConfigError
from sync.clerk_protocol import (
    MAX_SIGN_INS,
    ClerkEntry,
    ClerkList,
    SignInAck,
    SignInBatch,
    SignInEventBody,
)
from sync.errors import (
    DeviceRefusedError,
    ProtocolError,
    ServerFailureError,
    ServerUnreachableError,
    TlsTrustError,
)
from sync.tls import device_http_client, tls_failure

log = logging.getLogger(__name__)

#: Sign-in uploads per contact at most: with the fetch, at most three requests of at most
#: ``request_timeout_s`` each, well inside the sync unit's 30 s watchdog between two
#: pings of the uploader's loop; a larger backlog drains over the next contacts.
BATCHES_PER_CONTACT = 2


@dataclass(frozen=True, slots=True)
class ClerkSyncResult:
    """What one pass did."""

    generation: int = 0
    written: int = 0
    removed: int = 0
    unchanged: bool = False
    sign_ins_sent: int = 0
    error: str | None = None


def _account(entry: ClerkEntry) -> CentralAccount:
    verifier = None
    if entry.status == "active":
        try:
            verifier = Verifier(
                KdfParams(entry.kdf_n, entry.kdf_r, entry.kdf_p),
                base64.b64decode(entry.salt_b64, validate=True),
                base64.b64decode(entry.password_hash_b64, validate=True),
            )
        except (ValueError, ConfigError) as exc:
            raise ProtocolError(f"clerk {entry.clerk_id}: a malformed verifier ({exc})") from exc
        if len(verifier.salt) < 16 or len(verifier.password_hash) < 16:
            raise ProtocolError(f"clerk {entry.clerk_id}: a verifier too short")
    return CentralAccount(entry.clerk_id, entry.display_name, entry.status, verifier)


def _clean_id(operator_id: str) -> str:
    """An id the server takes (one that could not be an account's is sent as unknown):
    one event the server refuses would hold back every event behind it."""
    return operator_id if OPERATOR_ID_PATTERN.fullmatch(operator_id) else ""


def _clean_detail(detail: str) -> str:
    """The reason as printable ASCII of at most 64 characters (what the server takes)."""
    return "".join(c if " " <= c <= "~" else "?" for c in detail)[:64]


class ClerkSync:
    """Fetches the office's clerks into the counter's operator store and uploads the
    counter's sign-in attempts. ``http`` is a mutual-TLS client on the server."""

    def __init__(
        self,
        operators: OperatorStore,
        http: httpx.Client,
        *,
        central: bool,
        batches_per_contact: int = BATCHES_PER_CONTACT,
    ) -> None:
        self.operators = operators
        self.http = http
        self.central = central
        self.batches_per_contact = batches_per_contact
        """Fetch the office's clerks (``[operators] source = "central"``); without it
        only the sign-in attempts are uploaded (local accounts, still attributed)."""

    @classmethod
    def connect(
        cls,
        operators: OperatorStore,
        base_url: str,
        tls_dir: Path,
        *,
        central: bool,
        timeout_s: float = 10.0,
    ) -> ClerkSync:
        """A :class:`ClerkSync` with its own client on the enrolled device's certificate."""
        http = device_http_client(tls_dir, base_url=base_url, timeout_s=timeout_s)
        return cls(operators, http, central=central)

    def close(self) -> None:
        """Close the HTTP client (the operator store is the caller's)."""
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException as exc:
            raise ServerUnreachableError(f"the server did not answer in time ({exc!r})") from exc
        except httpx.ConnectError as exc:
            why = tls_failure(exc)
            if why is not None:
                raise TlsTrustError(why) from exc
            raise ServerUnreachableError(f"cannot connect to the server: {exc}") from exc
        except httpx.TransportError as exc:
            raise ServerUnreachableError(f"connection to the server failed: {exc!r}") from exc
        if response.status_code >= 500:
            raise ServerFailureError(f"server error {response.status_code}")
        if response.status_code in (401, 403):
            raise DeviceRefusedError(
                f"the server refused this device ({response.status_code}): {response.text[:200]}",
                status=response.status_code,
            )
        if response.status_code not in (200, 304):
            raise ProtocolError(
                f"the server answered {response.status_code}: {response.text[:200]}"
            )
        return response

    def fetch(self) -> ClerkSyncResult:
        """Bring the office's clerks up to date (one conditional GET)."""
        held = self.operators.central_generation()
        response = self._call(
            "GET", "/v1/clerks", params={"since": held},
            headers={"If-None-Match": f'"clerks-{held}"'},
        )
        if response.status_code == 304:
            return ClerkSyncResult(generation=held, unchanged=True)
        try:
            answer = msgspec.json.decode(response.content, type=ClerkList)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ProtocolError(f"the clerk list is not the protocol: {exc}") from exc
        accounts = [_account(e) for e in answer.clerks]
        try:
            written, removed = self.operators.apply_central(
                accounts, generation=answer.generation, full=answer.full
            )
        except ConfigError as exc:
            raise ProtocolError(f"the clerk list holds a bad entry: {exc}") from exc
        return ClerkSyncResult(answer.generation, written, removed)

    def upload(self) -> int:
        """Send the sign-in attempts not yet acknowledged (at most
        ``batches_per_contact`` batches); how many were sent."""
        sent = 0
        store_id = self.operators.store_id()
        for _ in range(self.batches_per_contact):
            events = self.operators.pending_sign_ins(MAX_SIGN_INS)
            if not events:
                break
            batch = SignInBatch(
                store_id,
                [
                    SignInEventBody(e.id, _clean_id(e.operator_id), e.at, e.action,  # type: ignore[arg-type]
                                    _clean_detail(e.detail))
                    for e in events
                ],
            )
            response = self._call(
                "POST", "/v1/clerks/sign-ins", content=msgspec.json.encode(batch),
                headers={"Content-Type": "application/json"},
            )
            try:
                ack = msgspec.json.decode(response.content, type=SignInAck)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise ProtocolError(
                    f"the sign-in acknowledgement is not the protocol: {exc}"
                ) from exc
            if ack.up_to != events[-1].id:
                raise ProtocolError("the server acknowledged other sign-in events than sent")
            self.operators.mark_sign_ins_sent(ack.up_to)
            sent += len(events)
            if len(events) < MAX_SIGN_INS:
                break
        return sent

    def sync_once(self) -> ClerkSyncResult:
        """Fetch, then upload; a failure is logged and returned (the cache stays)."""
        try:
            result = self.fetch() if self.central else ClerkSyncResult(unchanged=True)
            sent = self.upload()
        except (ServerUnreachableError, TlsTrustError, ServerFailureError, ProtocolError,
                DeviceRefusedError) as exc:
            log.warning("clerk accounts not synchronised, will retry: %s", exc)
            return ClerkSyncResult(generation=self.operators.central_generation(), error=str(exc))
        except sqlite3.Error as exc:
            log.error("clerk accounts not synchronised: the operator store failed (%s)", exc)
            return ClerkSyncResult(error=f"operator store: {exc}")
        return ClerkSyncResult(result.generation, result.written, result.removed,
                               result.unchanged, sent)
