"""The central server as a Starlette ASGI app.

Every request must come with a client certificate that the TLS layer verified
against the server's CA (see :mod:`sync.server.tlsproto`); the certificate's
serial maps to an enrolled device, and a revoked device is refused with 403.
The one exception is ``POST /v1/enrolment``, which is authorised by a one-time
enrolment token instead. Errors are JSON ``{"error": code, "detail": text}``
with a 4xx status for anything the client got wrong.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from device.records import find_forbidden_data
from madoguchi.errors import SyncError
from sync import pki
from sync.errors import ConflictError, EnrolmentError, NotFoundError, RepositoryError
from sync.protocol import (
    MAX_BATCH_RECORDS,
    MAX_BODY_BYTES,
    REJECTED,
    ItemError,
    is_clean_id,
    is_office_code,
    parse_item,
    utc_now,
)
from sync.server.openapi import openapi_document
from sync.server.registry import CertificateStatus, OperationStatus
from sync.server.report import daily_report, report_csv, report_json
from sync.server.repository import DeviceInfo, Repository, StatusEntry
from sync.server.tlsproto import PEER_CERT_KEY

#: Paths served without a client certificate.
OPEN_PATHS = frozenset({"/v1/enrolment"})
#: Where ``build_app(ctx, updates=...)`` mounts the update endpoints (``updater/server.py``).
#: A device's requests there need its certificate like everywhere else; only the requests
#: the ``updates_open`` predicate names (IT's, which carry IT's bearer token) need none.
UPDATES_PREFIX = "/updates"
_MAX_SMALL_BODY = 64 * 1024


@dataclass
class ServerContext:
    """What the app needs: storage, the CA, the clock, and the simulation switch."""

    repo: Repository
    ca_key: pki.PrivateKey
    ca_cert: x509.Certificate
    simulate: bool = False
    now: Callable[[], datetime] = utc_now
    issuing_ca: tuple[pki.PrivateKey, x509.Certificate] | None = field(default=None)


def token_hash(token: str) -> str:
    """How enrolment tokens are stored (never in clear)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_enrolment_token(draw: Callable[[], str] = lambda: secrets.token_urlsafe(24)) -> str:
    """A one-time enrolment token, as the admin hands it over: ``device enroll --token T``.

    URL-safe base64 may begin with ``-``, which the command line reads as an option
    (``argument --token: expected one argument``): one token in 64 could not be used as
    printed. Such a draw is made again (192 random bits less one choice in 64).
    """
    while (token := draw()).startswith("-"):
        pass
    return token


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


class DeviceAuthMiddleware:
    """Refuse requests without an enrolled, unrevoked client certificate."""

    def __init__(
        self,
        app: ASGIApp,
        ctx: ServerContext,
        updates_open: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.updates_open = updates_open
        self._serials: dict[bytes, str] = {}

    def _is_open(self, method: str, path: str) -> bool:
        inner = path.removeprefix(UPDATES_PREFIX)
        if self.updates_open is not None and inner != path and inner.startswith("/"):
            return self.updates_open(method, inner)
        return path in OPEN_PATHS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_open(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        der = state.get(PEER_CERT_KEY)
        if not der:
            await _error(401, "client_certificate_required", "a client certificate is required")(
                scope, receive, send
            )
            return
        serial = self._serials.get(der)
        if serial is None:
            serial = pki.serial_of(x509.load_der_x509_certificate(der))
            if len(self._serials) > 4096:
                self._serials.clear()
            self._serials[der] = serial
        device = await run_in_threadpool(self.ctx.repo.device_for_cert, serial)
        if device is None:
            response = _error(401, "not_enrolled", "this client certificate is not enrolled")
        elif device.status != "active":
            response = _error(403, "device_revoked", f"device {device.device_id} is revoked")
        else:
            state["device"] = device
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json_object(
    request: Request, limit: int = _MAX_SMALL_BODY
) -> tuple[bytes, dict[str, Any]]:
    body = await _read_body(request, limit)
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(400, f"body is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise HTTPException(400, "body must be a JSON object")
    return body, doc


def _device(request: Request) -> DeviceInfo:
    device: DeviceInfo = request.state.device
    return device


async def _server_time(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    return JSONResponse({"server_time": ctx.now().isoformat()})


async def _post_batch(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    device = _device(request)
    body, doc = await _json_object(request, MAX_BODY_BYTES)
    raw_items = doc.get("records")
    if not isinstance(raw_items, list) or not raw_items:
        raise HTTPException(400, "records must be a non-empty list")
    if len(raw_items) > MAX_BATCH_RECORDS:
        raise HTTPException(413, f"at most {MAX_BATCH_RECORDS} records per batch")
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 128:
        raise HTTPException(400, "Idempotency-Key must be 1-128 characters")
    results: list[dict[str, Any]] = [{} for _ in raw_items]
    parsed = []
    for index, raw in enumerate(raw_items):
        try:
            parsed.append((index, parse_item(raw)))
        except ItemError as exc:
            results[index] = _item_result(raw, REJECTED, str(exc))
    received = ctx.now()
    try:
        outcomes, high_water = await run_in_threadpool(
            repo.ingest,
            device.device_id,
            [item for _, item in parsed],
            received_at=received,
            idem_key=key,
            body_hash=hashlib.sha256(body).hexdigest(),
        )
    except ConflictError as exc:
        raise HTTPException(409, str(exc)) from exc
    refused = []
    parsed_indexes = {i for i, _ in parsed}
    for (index, item), outcome in zip(parsed, outcomes, strict=True):
        results[index] = {
            "seq": item.seq,
            "transaction_id": item.transaction_id,
            "status": outcome.status,
            "error": outcome.error,
        }
        if outcome.status == REJECTED:
            refused.append((item.seq, item.transaction_id, outcome.error or ""))
    for index, result in enumerate(results):
        if result["status"] == REJECTED and index not in parsed_indexes:
            seq, txn = result.get("seq"), result.get("transaction_id")
            if isinstance(seq, int) and 0 < seq < 2**62 and is_clean_id(txn):
                refused.append((seq, txn, str(result["error"])))
    if refused:
        await run_in_threadpool(repo.reject, device.device_id, refused, received.isoformat())
    return JSONResponse(
        {
            "device_id": device.device_id,
            "high_water": high_water,
            "server_time": ctx.now().isoformat(),
            "results": results,
        }
    )


async def _device_me(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    device = await run_in_threadpool(repo.device, _device(request).device_id)
    if device is None:
        # its row went away after the middleware let it in: answer as the middleware would
        return _error(401, "not_enrolled", "this client certificate is not enrolled")
    return JSONResponse(
        {
            "device_id": device.device_id,
            "office_code": device.office_code,
            "status": device.status,
            "high_water": device.high_water,
            "server_time": ctx.now().isoformat(),
        }
    )


async def _device_chain(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    device_id = request.path_params["device_id"]
    device = await run_in_threadpool(repo.device, device_id)
    if device is None:
        raise HTTPException(404, f"no device {device_id!r}")
    chain = await run_in_threadpool(repo.chain, device_id)
    rejected = await run_in_threadpool(repo.rejections, device_id)
    return JSONResponse(chain_report(device, chain, rejected))


async def _report(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    date = request.query_params.get("date", "")
    office = request.query_params.get("office") or None
    fmt = request.query_params.get("format", "json")
    try:
        datetime.strptime(date, "%Y-%m-%d")
    except ValueError as exc:
        raise HTTPException(400, "date must be YYYY-MM-DD") from exc
    if fmt not in ("json", "csv"):
        raise HTTPException(400, "format must be json or csv")
    if office is not None and not is_office_code(office):
        raise HTTPException(400, "office must be at most 16 printable characters")
    records = await run_in_threadpool(repo.records_for_day, date, office)
    rows = daily_report(date, records)
    if fmt == "csv":
        return Response(report_csv(rows), media_type="text/csv; charset=utf-8")
    return JSONResponse(report_json(date, rows))


async def _card_status(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    card_id = _registry_key(request.path_params["card_id"], "card_id")
    if request.method == "PUT":
        _, doc = await _json_object(request)
        try:
            status = OperationStatus(doc.get("status"))
        except ValueError as exc:
            raise HTTPException(
                400, f"status must be one of {[s.value for s in OperationStatus]}"
            ) from exc
        reason = doc.get("reason", "")
        serials = doc.get("hold_certificate_serials", [])
        # Printable only: PostgreSQL refuses a NUL in text, and SQLite would keep what
        # PostgreSQL refuses, so the two databases must never see one.
        if not isinstance(reason, str) or len(reason) > 200 or not reason.isprintable():
            raise HTTPException(400, "reason must be at most 200 printable characters")
        if not isinstance(serials, list) or not all(is_clean_id(s) for s in serials):
            raise HTTPException(
                400, "hold_certificate_serials must be a list of 1-64 printable ASCII serials"
            )
        if find_forbidden_data(doc):
            raise HTTPException(422, "the request holds forbidden personal data")
        await run_in_threadpool(
            repo.set_card_status, card_id, status, reason, ctx.now().isoformat(), serials
        )
    entry = await run_in_threadpool(repo.card_status, card_id)
    return _registry_answer(entry, "card", ("card_id", "reason"), OperationStatus)


async def _certificate_status(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    serial = _registry_key(request.path_params["serial"], "serial")
    entry = await run_in_threadpool(repo.certificate_status, serial)
    return _registry_answer(entry, "certificate", ("serial", "kind"), CertificateStatus)


def _registry_answer(
    entry: StatusEntry | None,
    what: str,
    names: tuple[str, str],
    values: type[OperationStatus] | type[CertificateStatus],
) -> Response:
    """A registry entry as JSON: its key and detail under ``names``, the status and its label."""
    if entry is None:
        raise HTTPException(404, f"{what} unknown to the registry")
    status = values(entry.status)
    key_name, detail_name = names
    return JSONResponse(
        {
            key_name: entry.key,
            detail_name: entry.detail,
            "status": status.value,
            "label": status.label,
            "updated_at": entry.updated_at,
        }
    )


async def _enrol(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    _, doc = await _json_object(request)
    token, csr_pem = doc.get("token"), doc.get("csr_pem")
    if not isinstance(token, str) or not isinstance(csr_pem, str):
        raise HTTPException(400, "token and csr_pem must be strings")
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as exc:
        raise HTTPException(400, "csr_pem is not a PEM certificate signing request") from exc
    now = ctx.now()
    try:
        device_id, office = await run_in_threadpool(
            repo.use_enrolment_token, token_hash(token), now.isoformat()
        )
    except NotFoundError as exc:
        raise HTTPException(403, str(exc)) from exc
    try:
        cert = pki.sign_device_csr(ctx.ca_key, ctx.ca_cert, csr, device_id)
    except EnrolmentError as exc:
        raise HTTPException(400, str(exc)) from exc
    await run_in_threadpool(
        repo.bind_certificate, device_id, office, pki.serial_of(cert), now.isoformat()
    )
    return JSONResponse(
        {
            "device_id": device_id,
            "office_code": office,
            "certificate_pem": pki.cert_pem(cert).decode(),
            "ca_pem": pki.cert_pem(ctx.ca_cert).decode(),
        }
    )


async def _sim_issue(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    issuing_ca = ctx.issuing_ca
    if not ctx.simulate or issuing_ca is None:
        raise HTTPException(404, "the simulated issuing authority is not enabled")
    _, doc = await _json_object(request)
    kind, pem = doc.get("kind"), doc.get("public_key_pem")
    if kind not in ("sign", "auth") or not isinstance(pem, str):
        raise HTTPException(400, "kind must be sign or auth, public_key_pem a PEM string")
    cert = await run_in_threadpool(_issue_test_certificate, issuing_ca, kind, pem)
    serial = pki.serial_of(cert)
    await run_in_threadpool(
        repo.set_certificate_status,
        serial,
        kind,
        CertificateStatus.VALID,
        ctx.now().isoformat(),
    )
    return JSONResponse(
        {"serial": serial, "kind": kind, "certificate_pem": pki.cert_pem(cert).decode()}
    )


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        return _error(500, "error", f"unhandled {type(exc).__name__}")
    codes = {
        400: "bad_request",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        422: "unprocessable",
    }
    return _error(exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail))


async def _repository_error(request: Request, exc: Exception) -> Response:
    return _error(503, "storage_unavailable", str(exc))


async def _sync_error(request: Request, exc: Exception) -> Response:
    return _error(400, "bad_request", str(exc))


def device_id_of(request: Request) -> str | None:
    """The enrolled device a request was authenticated as (None: no device certificate)."""
    device: DeviceInfo | None = getattr(request.state, "device", None)
    return device.device_id if device is not None else None


def build_app(
    ctx: ServerContext,
    *,
    updates: ASGIApp | None = None,
    updates_open: Callable[[str, str], bool] | None = None,
) -> ASGIApp:
    """The ASGI app over ``ctx``; with ``updates`` (``updater.server.create_app``), one
    server also delivers updates, under :data:`UPDATES_PREFIX`. Requests there need a
    device certificate too, except those ``updates_open(method, path_inside)`` names."""
    routes: list[BaseRoute] = [
        Route("/v1/time", _server_time, methods=["GET"]),
        Route("/v1/batches", _post_batch, methods=["POST"]),
        Route("/v1/devices/me", _device_me, methods=["GET"]),
        Route("/v1/devices/{device_id}/chain", _device_chain, methods=["GET"]),
        Route("/v1/reports/daily", _report, methods=["GET"]),
        Route("/v1/cards/{card_id}/operation-status", _card_status, methods=["GET", "PUT"]),
        Route("/v1/certificates/{serial}/status", _certificate_status, methods=["GET"]),
        Route("/v1/enrolment", _enrol, methods=["POST"]),
        Route("/v1/sim/issuing-authority/certificates", _sim_issue, methods=["POST"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: _http_error,
        RepositoryError: _repository_error,
        SyncError: _sync_error,
    }
    if updates is not None:
        routes.append(Mount(UPDATES_PREFIX, app=updates))
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.ctx = ctx
    return DeviceAuthMiddleware(app, ctx, updates_open if updates is not None else None)


def _registry_key(value: str, name: str) -> str:
    if not is_clean_id(value):
        raise HTTPException(400, f"{name} must be 1-64 printable ASCII characters")
    if find_forbidden_data(value):
        # A 12-digit key would be an individual number (My Number): never a registry key.
        raise HTTPException(422, f"{name} looks like an individual number; use the card's id")
    return value


def _item_result(raw: Any, status: str, error: str) -> dict[str, Any]:
    seq = raw.get("seq") if isinstance(raw, dict) else None
    txn = raw.get("transaction_id") if isinstance(raw, dict) else None
    return {
        "seq": seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        "transaction_id": txn if isinstance(txn, str) else None,
        "status": status,
        "error": error,
    }


def _issue_test_certificate(
    issuing_ca: tuple[pki.PrivateKey, x509.Certificate], kind: str, pem: str
) -> x509.Certificate:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        public_key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise HTTPException(400, "public_key_pem is not a PEM public key") from exc
    if not isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise HTTPException(400, "public key must be RSA or EC")
    return pki.sign_test_certificate(*issuing_ca, public_key, kind)


def chain_report(
    device: DeviceInfo, chain: list[tuple[int, str, str]], rejected: list[tuple[int, str, str]]
) -> dict[str, Any]:
    """Gaps (missing sequence numbers) and breaks (a record whose ``prev_hash`` is not
    the stored hash of the record before it: an edit or a reordering on the device)."""
    gaps: list[list[int]] = []
    breaks: list[int] = []
    expected = 1
    previous: tuple[int, str] | None = None
    for seq, prev_hash, digest in chain:
        if seq > expected:
            gaps.append([expected, seq - 1])
        if previous is not None and previous[0] == seq - 1 and previous[1] != prev_hash:
            breaks.append(seq)
        previous = (seq, digest)
        expected = seq + 1
    return {
        "device_id": device.device_id,
        "records": len(chain),
        "high_water": device.high_water,
        "gaps": gaps,
        "breaks": breaks,
        "rejected": [{"seq": s, "transaction_id": t, "reason": r} for s, t, r in rejected],
    }


def enrolment_expiry(now: datetime, hours: int = 72) -> str:
    """When a new enrolment token stops working."""
    return (now + timedelta(hours=hours)).isoformat()
