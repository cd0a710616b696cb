"""The device's HTTPS client for the central server (httpx, mutual TLS).

Every failure becomes a typed :mod:`sync.errors` error with a sentence a clerk
or an IT person can act on; retryable ones derive from
:class:`~sync.errors.RetryableSyncError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from device.store import OutboxItem
from madoguchi.schema import ShapeError, convert
from sync import wire
from sync.errors import (
    BatchRejectedError,
    DeviceRefusedError,
    ProtocolError,
    ServerFailureError,
    ServerUnreachableError,
    TlsTrustError,
)
from sync.protocol import batch_key, is_clean_id
from sync.tls import (
    DEVICE_CERT,
    DEVICE_KEY,
    SERVER_CA,
    device_http_client,
    tls_context,
    tls_failure,
)

# The TLS material's names and context stay importable from here (sync.tls holds them).
__all__ = ["DEVICE_CERT", "DEVICE_KEY", "SERVER_CA", "BatchReply", "SyncClient", "tls_context"]

_Answer = TypeVar("_Answer", bound=msgspec.Struct)


@dataclass(frozen=True, slots=True)
class BatchReply:
    """The server's answer to one batch, checked against what was sent."""

    statuses: dict[int, tuple[str, str | None]]  # seq -> (status, error)
    high_water: int
    clock_skew_s: float  # device clock minus server clock


def _skew(local_mid: float, server_time: Any) -> float:
    if not isinstance(server_time, str):
        raise ProtocolError("the server's answer has no server_time")
    try:
        server = datetime.fromisoformat(server_time)
    except ValueError as exc:
        raise ProtocolError("the server's server_time is not an ISO-8601 time") from exc
    if server.tzinfo is None:
        raise ProtocolError("the server's server_time has no time zone")
    return local_mid - server.timestamp()


class SyncClient:
    """Talks to one central server as one enrolled device."""

    def __init__(
        self,
        base_url: str,
        tls_dir: Path,
        *,
        timeout_s: float = 10.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.wall = wall
        self._http = device_http_client(tls_dir, base_url=self.base_url, timeout_s=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> tuple[dict[str, Any], float]:
        """Send a request; returns the JSON object answered and the local mid-time."""
        started = self.wall()
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ServerUnreachableError(f"the server did not answer in time ({exc!r})") from exc
        except httpx.ConnectError as exc:
            raise _connect_error(exc) from exc
        except httpx.RemoteProtocolError as exc:
            # Under TLS 1.3 a server that refuses the client certificate does so
            # after the client's side of the handshake: the connection just closes.
            raise ServerUnreachableError(
                "the server closed the connection without answering (it may have refused "
                f"this device's certificate, or be restarting): {exc}"
            ) from exc
        except httpx.TransportError as exc:
            raise ServerUnreachableError(f"connection to the server failed: {exc!r}") from exc
        local_mid = (started + self.wall()) / 2
        status = response.status_code
        if status >= 500:
            raise ServerFailureError(f"server error {status}: {response.text[:200]}")
        try:
            doc = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProtocolError(
                f"the server answered {status} with something that is not JSON"
            ) from exc
        if not isinstance(doc, dict):
            raise ProtocolError(f"the server answered {status} with JSON that is not an object")
        if status in (401, 403):
            raise DeviceRefusedError(
                f"the server refused this device ({status}): {doc.get('detail', '')}", status=status
            )
        if status >= 400:
            raise BatchRejectedError(
                f"the server refused the request ({status}): {doc.get('detail', '')}", status=status
            )
        if status != 200:
            raise ProtocolError(f"unexpected status {status} from the server")
        return doc, local_mid

    def clock_skew(self) -> float:
        """Device clock minus server clock, in seconds (one ``GET /v1/time``)."""
        doc, local_mid = self._request("GET", "/v1/time")
        return _skew(local_mid, doc.get("server_time"))

    def post_batch(self, items: Sequence[OutboxItem]) -> BatchReply:
        """Send ``items`` as one batch with a stable idempotency key."""
        body = wire.BatchRequest(
            [wire.BatchItem(i.seq, i.transaction_id, i.prev_hash, i.hash, i.payload) for i in items]
        )
        key = batch_key([i.transaction_id for i in items])
        doc, local_mid = self._request(
            "POST",
            "/v1/batches",
            content=msgspec.json.encode(body),
            headers={"Idempotency-Key": key, "Content-Type": "application/json"},
        )
        answer = _answer(doc, wire.BatchAnswer)
        if len(answer.results) != len(items):
            raise ProtocolError("the server's answer does not have one result per record")
        statuses: dict[int, tuple[str, str | None]] = {}
        for item, result in zip(items, answer.results, strict=True):
            if result.seq != item.seq:
                raise ProtocolError("the server's results do not match the records sent")
            statuses[item.seq] = (result.status, result.error)
        return BatchReply(statuses, answer.high_water, _skew(local_mid, answer.server_time))

    def set_card_status(self, card_id: str, status: str, reason: str = "") -> str:
        """``PUT /v1/cards/{card_id}/operation-status``: set a card's 運用状況 in the central
        registry (第4-3: back to ``in_operation``, 運用中); the status the server now holds."""
        if not is_clean_id(card_id):
            raise ProtocolError("a card id is 1-64 printable ASCII characters")
        change = wire.CardStatusChange(status, reason)  # type: ignore[arg-type]
        doc, _ = self._request(
            "PUT",
            f"/v1/cards/{card_id}/operation-status",
            content=msgspec.json.encode(change),
            headers={"Content-Type": "application/json"},
        )
        return _answer(doc, wire.CardStatus).status

    def request_certificate(self, kind: str, public_key_pem: str) -> str:
        """Ask the server's simulated issuing authority (``--simulate``) for a ``kind``
        certificate on ``public_key_pem``; returns the new certificate's serial."""
        asked = wire.IssueRequest(kind, public_key_pem)  # type: ignore[arg-type]
        doc, _ = self._request(
            "POST",
            "/v1/sim/issuing-authority/certificates",
            content=msgspec.json.encode(asked),
            headers={"Content-Type": "application/json"},
        )
        serial = _answer(doc, wire.IssueAnswer).serial
        if not is_clean_id(serial):
            raise ProtocolError("the issuing authority's answer has no certificate serial")
        return serial


def _answer(doc: dict[str, Any], kind: type[_Answer]) -> _Answer:
    """The server's answer as its :mod:`sync.wire` Struct; a :class:`ProtocolError`
    naming the field that does not fit."""
    try:
        return convert(doc, kind, "the server's answer")
    except ShapeError as exc:
        raise ProtocolError(str(exc)) from None


def _connect_error(exc: httpx.ConnectError) -> Exception:
    why = tls_failure(exc)
    if why is not None:
        return TlsTrustError(why)
    return ServerUnreachableError(f"cannot connect to the server: {exc}")
