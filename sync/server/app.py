"""The central server as a Starlette ASGI app.

Every request passes one :class:`Gate` first. It finds the endpoint in
:data:`sync.server.authz.ENDPOINTS` (anything else is 404/405), bounds the body
(size; JSON nesting depth before anything parses it), works out who is asking
(IT's bearer token; a client certificate that the TLS layer verified against the
server's CA and whose serial maps to an enrolled, unrevoked device; or nobody) and
asks :func:`sync.server.authz.decide` whether that principal may do this. Only
when the answer depends on a resource's office (a card's, a device's) does the
handler look it up and ask the same policy, through :func:`_authorize`. Errors
are JSON ``{"error": code, "detail": text}``; a database failure is a generic 503
whose details go to the log only.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec
from cryptography import x509
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from device.records import find_forbidden_data
from madoguchi.errors import SyncError
from madoguchi.logs import log_fields
from madoguchi.schema import ShapeError, decode_json
from sync import pki, wire
from sync.errors import (
    ConflictError,
    EnrolmentError,
    NotAllowedError,
    NotFoundError,
    RepositoryError,
)
from sync.protocol import (
    ACCEPTED,
    DUPLICATE,
    MAX_BATCH_RECORDS,
    REJECTED,
    ItemError,
    check_item,
    is_clean_id,
    is_office_code,
    json_too_deep,
    utc_now,
)
from sync.server import authz, clerks
from sync.server.authz import (
    ISSUING_AUTHORITY,
    UPDATES_PREFIX,
    Answer,
    Endpoint,
    Principal,
    Role,
)
from sync.server.authz import (
    Scope as TargetScope,
)
from sync.server.health import Readiness, healthz, readyz
from sync.server.openapi import openapi_json
from sync.server.registry import CertificateStatus, OperationStatus
from sync.server.report import report_csv, report_json
from sync.server.repository import AUDIT_PAGE, DeviceInfo, Repository, StatusEntry
from sync.server.tlsproto import PEER_CERT_KEY

__all__ = [
    "UPDATES_PREFIX",
    "Gate",
    "ServerContext",
    "build_app",
    "device_id_of",
    "device_office_of",
]

log = logging.getLogger(__name__)

_Body = TypeVar("_Body", bound=msgspec.Struct)

#: A console (a later issue) plugs in here: it finds its staff or administrator
#: principal in a request (a session), or returns None.
Authenticator = Callable[[Scope], Principal | None]


@dataclass
class ServerContext:
    """What the app needs: storage, the CA, the clock, and the simulation switch."""

    repo: Repository
    #: The CA key on the host that signs enrolments; None on every other host (it
    #: verifies device certificates with ``ca_cert`` and refuses enrolment, 421).
    ca_key: pki.PrivateKey | None
    ca_cert: x509.Certificate
    simulate: bool = False
    now: Callable[[], datetime] = utc_now
    issuing_ca: tuple[pki.PrivateKey, x509.Certificate] | None = field(default=None)
    #: IT's bearer token (today the update delivery's publish token); None: IT has no
    #: HTTP credential and works with the ``madoguchi server`` commands on the host.
    it_token: str | None = None
    #: Enrolment attempts per client address: a burst, then one per ``enrol_refill_s``.
    enrol_burst: int = 20
    enrol_refill_s: float = 3.0
    #: Whether the database answers with the schema this code reads (``/readyz``).
    readiness: Readiness = field(init=False)

    def __post_init__(self) -> None:
        self.readiness = Readiness(self.repo.readiness)


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


def _answer(body: msgspec.Struct, status: int = 200) -> Response:
    """An answer encoded through its :mod:`sync.wire` Struct."""
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json")


def _error(status: int, code: str, detail: str) -> Response:
    return _answer(wire.Error(code, detail), status)


class _BodyTooLarge(Exception):
    pass


class _RateLimit:
    """A token bucket per client address (per server process)."""

    def __init__(self, burst: int, refill_s: float) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        tokens, since = self._buckets.get(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - since) / self.refill_s)
        if len(self._buckets) > 10_000:
            self._buckets.clear()  # a flood of addresses: forget them rather than grow
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            return False
        self._buckets[address] = (tokens - 1.0, now)
        return True


_REFUSAL_CODES = {401: "client_certificate_required", 403: "forbidden"}


class Gate:
    """The one door of the server: endpoint, body bounds, principal, policy."""

    def __init__(
        self, app: ASGIApp, ctx: ServerContext, authenticators: Sequence[Authenticator] = ()
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.authenticators = tuple(authenticators)
        self._serials: dict[bytes, str] = {}
        self._enrolments = _RateLimit(ctx.enrol_burst, ctx.enrol_refill_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint, params, path_known = authz.match(scope["method"], scope["path"])
        if endpoint is None:
            # Only a principal learns which paths exist; anyone else is asked to prove itself.
            principal, refusal = await self._principal(scope, Headers(scope=scope), None)
            if refusal is None and principal.role is Role.ANONYMOUS:
                refusal = _refusal(principal, None, Answer.UNAUTHENTICATED)
            if refusal is None and path_known:
                refusal = _error(405, "method_not_allowed", "method not allowed")
            await (refusal or _error(404, "not_found", "no such endpoint"))(scope, receive, send)
            return
        refusal = await self._admit(scope, endpoint, params)
        if refusal is None and endpoint.operation not in authz.PROBES:
            refusal = await self._not_ready()
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        # What the request logs names the counter it came from (journal: MADOGUCHI_DEVICE_ID).
        principal = scope.get("state", {}).get("principal")
        with log_fields(device_id=getattr(principal, "device_id", None)):
            await self._pass(scope, receive, send, endpoint)

    async def _not_ready(self) -> Response | None:
        """503 while the database is unreachable or its schema is not this code's."""
        readiness = self.ctx.readiness
        if readiness.reason is None:  # ready: no look (a database error is a 503 anyway)
            return None
        reason = await run_in_threadpool(readiness.refusal)
        return None if reason is None else _error(503, "not_ready", reason)

    async def _admit(
        self, scope: Scope, endpoint: Endpoint, params: dict[str, str]
    ) -> Response | None:
        """The refusal of a request (None: let it in): size, principal, policy, rate."""
        headers = Headers(scope=scope)
        refusal = _declared_size(headers, endpoint)
        if refusal is None:
            principal, refusal = await self._principal(scope, headers, endpoint)
        if refusal is None:
            refusal = self._decide(principal, endpoint, params, scope)
        if refusal is None and endpoint.operation is authz.Operation.ENROL:
            client = scope.get("client")
            if not self._enrolments.allow(client[0] if client else "?"):
                refusal = _error(429, "too_many_requests", "too many enrolment attempts; wait")
                refusal.headers["Retry-After"] = str(int(self.ctx.enrol_refill_s) + 1)
        return refusal

    async def _pass(self, scope: Scope, receive: Receive, send: Send, endpoint: Endpoint) -> None:
        """Hand the request on with its body bounded (JSON: read, depth-checked, replayed)."""
        try:
            if endpoint.json_body:
                body = await _read_all(receive, endpoint.max_body)
                if json_too_deep(body):
                    await _error(400, "bad_request", "JSON nested too deep (at most 32 levels)")(
                        scope, receive, send
                    )
                    return
                receive = _replay(body, receive)
            else:
                receive = _capped(receive, endpoint.max_body)
        except _BodyTooLarge:
            await _too_large(endpoint)(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(endpoint)(scope, receive, send)

    async def _principal(
        self, scope: Scope, headers: Headers, endpoint: Endpoint | None
    ) -> tuple[Principal, Response | None]:
        state = scope.setdefault("state", {})
        state["endpoint"] = endpoint
        rules = authz.POLICY[endpoint.operation] if endpoint is not None else {}
        if rules and all(r.uniform and r.own is Answer.ALLOW for r in rules.values()):
            state["principal"] = authz.ANONYMOUS  # open to all (enrolment: the token decides)
            return authz.ANONYMOUS, None
        token = self.ctx.it_token
        given = headers.get("authorization")
        found: Principal | None = None
        if token and given is not None:
            expected = f"Bearer {token}".encode()
            found = authz.IT if secrets.compare_digest(given.encode(), expected) else None
        for authenticate in self.authenticators:
            found = found or authenticate(scope)
        der = state.get(PEER_CERT_KEY)
        if found is not None or not der:
            state["principal"] = found or authz.ANONYMOUS
            return state["principal"], None
        return await self._counter(scope, der)

    async def _counter(self, scope: Scope, der: bytes) -> tuple[Principal, Response | None]:
        """The counter a verified client certificate belongs to (or why it is refused)."""
        state = scope["state"]
        serial = self._serials.get(der)
        if serial is None:
            serial = pki.serial_of(x509.load_der_x509_certificate(der))
            if len(self._serials) > 4096:
                self._serials.clear()
            self._serials[der] = serial
        try:
            device = await run_in_threadpool(self.ctx.repo.device_for_cert, serial)
        except RepositoryError as exc:
            return authz.ANONYMOUS, _storage_error(scope["path"], exc)
        if device is None:
            return authz.ANONYMOUS, _error(
                401, "not_enrolled", "this client certificate is not enrolled"
            )
        if device.status != "active":
            return authz.ANONYMOUS, _error(
                403, "device_revoked", f"device {device.device_id} is revoked"
            )
        principal = Principal(Role.COUNTER, device.office_code, device.device_id)
        state["device"] = device
        state["principal"] = principal
        return principal, None

    def _decide(
        self, principal: Principal, endpoint: Endpoint, params: dict[str, str], scope: Scope
    ) -> Response | None:
        """Decide here when no database lookup is needed; else leave it to the handler."""
        state = scope["state"]
        rule = authz.rule_of(principal, endpoint.operation)
        answer: Answer | None = None
        if rule.uniform:
            answer = rule.own
        elif endpoint.scope is TargetScope.DEVICE and principal.role is Role.COUNTER:
            named = params[endpoint.device_param]
            target = authz.device_target(principal, named, None)
            answer = authz.decide(principal, endpoint.operation, target)
            if answer is Answer.FORBIDDEN:
                state["decided"] = True
                return _error(
                    403,
                    "forbidden",
                    f"this certificate is device {principal.device_id}, not {named}: a counter"
                    f" may not {endpoint.operation.value} of another device",
                )
        elif endpoint.scope is TargetScope.OFFICE and endpoint.office_query:
            office = QueryParams(scope.get("query_string", b"")).get("office") or None
            target = authz.office_target(principal, office)
            answer = authz.decide(principal, endpoint.operation, target)
        state["decided"] = answer is not None
        return None if answer is None else _refusal(principal, endpoint, answer)


def _refusal(principal: Principal, endpoint: Endpoint | None, answer: Answer) -> Response | None:
    if answer is Answer.ALLOW:
        return None
    if answer is Answer.UNAUTHENTICATED:
        if principal.role is Role.ANONYMOUS:
            return _error(401, "client_certificate_required", "a client certificate is required")
        return _error(401, "it_token_required", "this needs IT's bearer token")
    if endpoint is None:
        return _error(403, "forbidden", "forbidden")
    return _error(
        403,
        "forbidden",
        f"a {principal.role.value} may not {endpoint.operation.value} here"
        " (see the authorization matrix in docs/security.md)",
    )


def _authorize(
    request: Request, *, office: str | None = None, device: DeviceInfo | None = None
) -> None:
    """The policy's answer for a target the handler looked up (a card's office, a
    device); a no-op when the gate already decided."""
    if request.state.decided:
        return
    principal: Principal = request.state.principal
    endpoint: Endpoint = request.state.endpoint
    if endpoint.scope is TargetScope.DEVICE:
        target = (
            authz.device_target(principal, device.device_id, device.office_code)
            if device is not None
            else authz.Target.OTHER
        )
    else:
        target = authz.office_target(principal, office)
    answer = authz.decide(principal, endpoint.operation, target)
    if answer is not Answer.ALLOW:
        raise HTTPException(
            int(answer),
            f"a {principal.role.value} may not {endpoint.operation.value} of another office",
        )


def _declared_size(headers: Headers, endpoint: Endpoint) -> Response | None:
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            return _error(400, "bad_request", "Content-Length must be a number")
        if int(declared) > endpoint.max_body:
            return _too_large(endpoint)
    elif endpoint.max_body == 0 and "transfer-encoding" in headers:
        return _too_large(endpoint)
    return None


def _too_large(endpoint: Endpoint) -> Response:
    if endpoint.max_body == 0:
        return _error(413, "too_large", "this request takes no body")
    return _error(413, "too_large", f"request body over {endpoint.max_body} bytes")


async def _read_all(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _capped(receive: Receive, limit: int) -> Receive:
    size = 0

    async def capped() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise _BodyTooLarge
        return message

    return capped


def _storage_error(path: str, exc: Exception) -> Response:
    log.error("storage error on %s: %s", path, exc)
    return _error(503, "storage_unavailable", "the server's storage is unavailable; try again")


async def _decode(request: Request, kind: type[_Body]) -> tuple[bytes, _Body]:
    """The body as its :mod:`sync.wire` Struct (the gate has bounded its size and depth);
    a 400 naming the field when it does not fit."""
    body = await request.body()
    try:
        return body, decode_json(body, kind)
    except ShapeError as exc:
        raise HTTPException(400, str(exc)) from None


def _device(request: Request) -> DeviceInfo:
    device: DeviceInfo = request.state.device
    return device


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


async def _server_time(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    return _answer(wire.ServerTime(ctx.now().isoformat()))


async def _post_batch(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    device = _device(request)
    body, envelope = await _decode(request, wire.BatchEnvelope)
    raw_items = envelope.records
    if len(raw_items) > MAX_BATCH_RECORDS:
        raise HTTPException(413, f"at most {MAX_BATCH_RECORDS} records per batch")
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 128:
        raise HTTPException(400, "Idempotency-Key must be 1-128 characters")
    results: list[wire.ItemResult | None] = [None for _ in raw_items]
    parsed = []
    for index, raw in enumerate(raw_items):
        try:
            parsed.append((index, check_item(wire.decode_item(raw))))
        except (ShapeError, ItemError) as exc:
            results[index] = _item_result(raw, str(exc))
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
        results[index] = wire.ItemResult(
            _item_status(outcome.status), item.seq, item.transaction_id, outcome.error
        )
        if outcome.status == REJECTED:
            refused.append((item.seq, item.transaction_id, outcome.error or ""))
    answered: list[wire.ItemResult] = []
    for index, result in enumerate(results):
        if result is None:  # every item was parsed or refused above: a bug if not
            raise SyncError("a batch item was neither parsed nor refused")
        answered.append(result)
        if result.status == REJECTED and index not in parsed_indexes:
            seq, txn = result.seq, result.transaction_id
            if seq is not None and 0 < seq < 2**62 and is_clean_id(txn):
                refused.append((seq, txn, str(result.error)))
    if refused:
        await run_in_threadpool(repo.reject, device.device_id, refused, received.isoformat())
    return _answer(
        wire.BatchAnswer(device.device_id, high_water, ctx.now().isoformat(), answered)
    )


async def _device_me(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    device = await run_in_threadpool(repo.device, _device(request).device_id)
    if device is None:
        # its row went away after the middleware let it in: answer as the middleware would
        return _error(401, "not_enrolled", "this client certificate is not enrolled")
    return _answer(
        wire.DeviceMe(
            device.device_id,
            device.office_code,
            device.status,
            device.high_water,
            ctx.now().isoformat(),
        )
    )


async def _device_chain(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    device_id = request.path_params["device_id"]
    device = await run_in_threadpool(repo.device, device_id)
    _authorize(request, device=device)
    if device is None:
        raise HTTPException(404, f"no device {device_id!r}")
    chain = await run_in_threadpool(repo.chain, device_id)
    rejected = await run_in_threadpool(repo.rejections, device_id)
    return _answer(chain_report(device, chain, rejected))


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
    principal = _principal(request)
    if office is None and principal.role.office_bound:
        office = principal.office_code  # an office reads its own report; IT reads all
    rows = await run_in_threadpool(repo.daily_report, date, office)  # summed in SQL
    if fmt == "csv":
        return Response(report_csv(rows), media_type="text/csv; charset=utf-8")
    return _answer(msgspec.convert(report_json(date, rows), wire.ReportPage))


async def _card_status(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    card_id = _registry_key(request.path_params["card_id"], "card_id")
    if request.method == "PUT":
        entry = await run_in_threadpool(repo.card_status, card_id)
        _authorize(request, office=entry.office_code if entry is not None else None)
        _, change = await _decode(request, wire.CardStatusChange)
        status = OperationStatus(change.status)
        reason = change.reason
        # Printable only: PostgreSQL refuses a NUL in text, and SQLite would keep what
        # PostgreSQL refuses, so the two databases must never see one.
        if not reason.isprintable():
            raise HTTPException(400, "reason must be at most 200 printable characters")
        hold = change.hold_certificate_serials
        release = change.release_certificate_serials
        if find_forbidden_data(msgspec.to_builtins(change)):
            raise HTTPException(422, "the request holds forbidden personal data")
        await run_in_threadpool(
            lambda: repo.set_card_status(
                card_id,
                status,
                reason,
                ctx.now().isoformat(),
                hold,
                actor=_principal(request),
                release_serials=release,
            )
        )
    entry = await run_in_threadpool(repo.card_status, card_id)
    return _registry_answer(entry, "card", ("card_id", "reason"), OperationStatus)


async def _registry_audit(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    principal = _principal(request)
    office = request.query_params.get("office") or None
    if office is not None and not is_office_code(office):
        raise HTTPException(400, "office must be at most 16 printable characters")
    if office is None and principal.role.office_bound:
        office = principal.office_code
    try:
        after = int(request.query_params.get("after", "0"))
        limit = int(request.query_params.get("limit", str(AUDIT_PAGE)))
    except ValueError as exc:
        raise HTTPException(400, "after and limit must be integers") from exc
    if not (0 <= after < 2**62 and 1 <= limit <= AUDIT_PAGE):
        raise HTTPException(400, f"after must be >= 0, limit 1-{AUDIT_PAGE}")
    rows = await run_in_threadpool(ctx.repo.registry_audit, office, after, limit)
    return _answer(
        wire.AuditPage(
            office,
            [
                wire.AuditEntry(
                    r.id, r.at, r.actor, r.registry, r.key, r.office_code, r.before, r.after,
                    r.why,
                )
                for r in rows
            ],
        )
    )


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
    answer = wire.CardStatus if values is OperationStatus else wire.CertificateStatusAnswer
    key_name, detail_name = names
    return _answer(
        msgspec.convert(
            {
                key_name: entry.key,
                detail_name: entry.detail,
                "status": status.value,
                "label": status.label,
                "updated_at": entry.updated_at,
            },
            answer,
        )
    )


async def _enrol(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    ca_key = ctx.ca_key
    if ca_key is None:
        # Before the token is looked at, so that it stays usable at the signer.
        return _error(
            421, "not_the_signer",
            "this server host does not sign enrolments: enrol at the host that holds the"
            " CA key (docs/sync.md, several server hosts)",
        )
    _, asked = await _decode(request, wire.EnrolmentRequest)
    token, csr_pem = asked.token, asked.csr_pem
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
        cert = pki.sign_device_csr(ca_key, ctx.ca_cert, csr, device_id)
    except EnrolmentError as exc:
        raise HTTPException(400, str(exc)) from exc
    await run_in_threadpool(
        repo.bind_certificate, device_id, office, pki.serial_of(cert), now.isoformat()
    )
    return _answer(
        wire.EnrolmentAnswer(
            device_id, office, pki.cert_pem(cert).decode(), pki.cert_pem(ctx.ca_cert).decode()
        )
    )


async def _enrolment_ca(request: Request) -> Response:
    """The CA certificate a new counter trusts once its fingerprint is confirmed."""
    ctx: ServerContext = request.app.state.ctx
    return _answer(wire.EnrolmentCa(pki.cert_pem(ctx.ca_cert).decode()))


async def _sim_issue(request: Request) -> Response:
    ctx: ServerContext = request.app.state.ctx
    repo = ctx.repo
    issuing_ca = ctx.issuing_ca
    if not ctx.simulate or issuing_ca is None:
        raise HTTPException(404, "the simulated issuing authority is not enabled")
    _, asked = await _decode(request, wire.IssueRequest)
    kind, pem = asked.kind, asked.public_key_pem
    cert = await run_in_threadpool(_issue_test_certificate, issuing_ca, kind, pem)
    serial = pki.serial_of(cert)
    counter = _principal(request)
    # The authority registers what it issued, under the asking counter's office.
    await run_in_threadpool(
        lambda: repo.set_certificate_status(
            serial,
            kind,
            CertificateStatus.VALID,
            ctx.now().isoformat(),
            actor=ISSUING_AUTHORITY,
            office=counter.office_code,
            issued_by=counter.device_id,
            why=f"issued at the request of {counter.actor}",
        )
    )
    return _answer(wire.IssueAnswer(serial, kind, pki.cert_pem(cert).decode()))


async def _openapi(request: Request) -> Response:
    return Response(openapi_json(), media_type="application/json")


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
        429: "too_many_requests",
        422: "unprocessable",
    }
    return _error(exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail))


async def _repository_error(request: Request, exc: Exception) -> Response:
    return _storage_error(request.url.path, exc)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _error(403, "forbidden", str(exc))


async def _conflict(request: Request, exc: Exception) -> Response:
    return _error(409, "conflict", str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, "not_found", str(exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
    return _error(500, "internal_error", "the server failed; the details are in its log")


async def _sync_error(request: Request, exc: Exception) -> Response:
    return _error(400, "bad_request", str(exc))


def device_id_of(request: Request) -> str | None:
    """The enrolled device a request was authenticated as (None: no device certificate)."""
    device: DeviceInfo | None = getattr(request.state, "device", None)
    return device.device_id if device is not None else None


def device_office_of(request: Request) -> str | None:
    """The office the device a request was authenticated as is enrolled for."""
    device: DeviceInfo | None = getattr(request.state, "device", None)
    return device.office_code if device is not None else None


def build_app(
    ctx: ServerContext,
    *,
    updates: ASGIApp | None = None,
    authenticators: Sequence[Authenticator] = (),
) -> ASGIApp:
    """The ASGI app over ``ctx`` behind its :class:`Gate`; with ``updates``
    (``updater.server.create_app``), one server also delivers updates, under
    :data:`UPDATES_PREFIX`, behind the same gate. ``authenticators`` (the office
    console, later) name staff and administrator principals."""
    routes: list[BaseRoute] = [
        Route("/v1/time", _server_time, methods=["GET"]),
        Route("/v1/batches", _post_batch, methods=["POST"]),
        Route("/v1/devices/me", _device_me, methods=["GET"]),
        Route("/v1/devices/{device_id}/chain", _device_chain, methods=["GET"]),
        Route("/v1/reports/daily", _report, methods=["GET"]),
        Route("/v1/cards/{card_id}/operation-status", _card_status, methods=["GET", "PUT"]),
        Route("/v1/certificates/{serial}/status", _certificate_status, methods=["GET"]),
        Route("/v1/registry/audit", _registry_audit, methods=["GET"]),
        Route("/v1/enrolment", _enrol, methods=["POST"]),
        Route("/v1/enrolment/ca", _enrolment_ca, methods=["GET"]),
        Route("/v1/sim/issuing-authority/certificates", _sim_issue, methods=["POST"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/v1/clerks", clerks.get_clerks, methods=["GET"]),
        Route("/v1/clerks/sign-ins", clerks.post_sign_ins, methods=["POST"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: _http_error,
        RepositoryError: _repository_error,
        NotAllowedError: _not_allowed,
        ConflictError: _conflict,
        NotFoundError: _not_found,
        SyncError: _sync_error,
        Exception: _unexpected,
    }
    if updates is not None:
        routes.append(Mount(UPDATES_PREFIX, app=updates))
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.ctx = ctx
    return Gate(app, ctx, authenticators)


def _registry_key(value: str, name: str) -> str:
    if not is_clean_id(value):
        raise HTTPException(400, f"{name} must be 1-64 printable ASCII characters")
    if find_forbidden_data(value):
        # A 12-digit key would be an individual number (My Number): never a registry key.
        raise HTTPException(422, f"{name} looks like an individual number; use the card's id")
    return value


def _item_result(raw: msgspec.Raw, error: str) -> wire.ItemResult:
    """A refused item's result, naming its ``seq`` and id when it has readable ones."""
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        doc = None
    seq = doc.get("seq") if isinstance(doc, dict) else None
    txn = doc.get("transaction_id") if isinstance(doc, dict) else None
    return wire.ItemResult(
        REJECTED,
        seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        txn if isinstance(txn, str) else None,
        error,
    )


def _item_status(status: str) -> wire.ItemStatus:
    if status not in (ACCEPTED, DUPLICATE, REJECTED):
        raise ValueError(f"unknown item status {status!r}")
    return status  # type: ignore[return-value]


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
) -> wire.ChainReport:
    """Gaps (missing sequence numbers) and breaks (a record whose ``prev_hash`` is not
    the stored hash of the record before it: an edit or a reordering on the device)."""
    gaps: list[tuple[int, int]] = []
    breaks: list[int] = []
    expected = 1
    previous: tuple[int, str] | None = None
    for seq, prev_hash, digest in chain:
        if seq > expected:
            gaps.append((expected, seq - 1))
        if previous is not None and previous[0] == seq - 1 and previous[1] != prev_hash:
            breaks.append(seq)
        previous = (seq, digest)
        expected = seq + 1
    return wire.ChainReport(
        device.device_id,
        len(chain),
        device.high_water,
        gaps,
        breaks,
        [wire.ChainRejection(s, t, r) for s, t, r in rejected],
    )


def enrolment_expiry(now: datetime, hours: int = 72) -> str:
    """When a new enrolment token stops working."""
    return (now + timedelta(hours=hours)).isoformat()
