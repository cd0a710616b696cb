"""The server's OpenAPI 3.1 document (served at ``/openapi.json``, printed by
``madoguchi server openapi``), generated from the wire Structs.

Every body's schema comes from the Struct that the server decodes it with and the
device encodes it with (:mod:`sync.wire`, :mod:`updater.wire`), through
``msgspec.json.schema_components``; so the document cannot say one thing while the code
does another. Each operation below is one :class:`Op` line: method, path, operation id,
request body, answers. Who may call it (the ``security`` requirement and the
``x-authorization`` extension) is read from the authorization matrix
(:mod:`sync.server.authz`), never written here.

To document a new endpoint, add its :class:`Op` to :data:`DEVICE_OPERATIONS` (or, for
the update delivery, to :data:`UPDATE_OPERATIONS`, with its path inside the mount) next
to its row in ``authz.ENDPOINTS``; ``tests/sync/test_openapi.py`` fails while a mounted
route is missing here or a documented one is not mounted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

import msgspec

from sync import wire
from sync.clerk_protocol import ClerkList, SignInAck, SignInBatch
from sync.server import authz
from sync.server.repository import AUDIT_PAGE
from updater import wire as update_wire
from updater.rollout import ROLLOUT_ACTIONS, RolloutChange, RolloutStart

#: OpenAPI's version of this document.
OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{name}"

#: An answer's content: a Struct (JSON), several (JSON, any of them), or media types
#: mapped to a Struct or a plain JSON Schema.
Body = type[msgspec.Struct] | tuple[type[msgspec.Struct], ...] | Mapping[str, Any]
Where = Literal["path", "query", "header"]

#: Bytes of a bundle.
OCTETS: Mapping[str, Any] = {
    "application/octet-stream": {"type": "string", "contentMediaType": "application/octet-stream"}
}

#: The type of every path parameter, by name (one place, so one name means one thing).
PATH_PARAMETERS: Mapping[str, Any] = {
    "device_id": Annotated[str, msgspec.Meta(pattern=update_wire.DEVICE_ID)],
    "card_id": wire.CleanId,
    "serial": wire.CleanId,
    "channel": Annotated[str, msgspec.Meta(pattern=update_wire.CHANNEL)],
    "name": Annotated[str, msgspec.Meta(pattern=update_wire.BUNDLE_NAME)],
    "rollout_id": Annotated[int, msgspec.Meta(ge=1, lt=10**18)],
    "action": Literal[ROLLOUT_ACTIONS],
}


@dataclass(frozen=True)
class Param:
    """A query or header parameter (path parameters come from :data:`PATH_PARAMETERS`)."""

    name: str
    where: Where
    kind: Any
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Op:
    """One documented operation."""

    method: str
    path: str
    operation_id: str
    summary: str
    answers: Mapping[int, Body | None]
    request: Body | None = None
    params: tuple[Param, ...] = ()
    #: Refusals of the handler itself (the gate's are added from the matrix).
    errors: tuple[int, ...] = ()
    error: type[msgspec.Struct] = wire.Error

    def under(self, prefix: str) -> Op:
        """The same operation mounted under ``prefix``."""
        return replace(self, path=prefix + self.path)


_DATE = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
_OFFICE = Param("office", "query", wire.OfficeCode, description="an office code (IT: any)")
_CSV = {"text/csv": {"type": "string"}}
_OBJECT = {"application/json": {"type": "object"}}

#: The central server's own endpoints.
DEVICE_OPERATIONS: tuple[Op, ...] = (
    Op("GET", "/v1/time", "serverTime", "The server clock", {200: wire.ServerTime}),
    Op(
        "POST", "/v1/batches", "ingestBatch", "Upload records (one result per record)",
        {200: wire.BatchAnswer}, wire.BatchRequest,
        (Param("Idempotency-Key", "header", Annotated[str, msgspec.Meta(min_length=1,
                                                                          max_length=128)]),),
        errors=(409,),
    ),
    Op("GET", "/v1/devices/me", "deviceMe", "The device's own entry", {200: wire.DeviceMe}),
    Op(
        "GET", "/v1/devices/{device_id}/chain", "deviceChain", "Tamper evidence of a device",
        {200: wire.ChainReport}, errors=(404,),
    ),
    Op(
        "GET", "/v1/reports/daily", "dailyReport", "The daily 交付状況 report",
        {200: {"application/json": wire.ReportPage, **_CSV}}, None,
        (
            Param("date", "query", _DATE, required=True),
            _OFFICE,
            Param("format", "query", Literal["json", "csv"]),
        ),
        errors=(400,),
    ),
    Op(
        "GET", "/v1/cards/{card_id}/operation-status", "cardStatus", "A card's 運用状況",
        {200: wire.CardStatus}, errors=(400, 404, 422),
    ),
    Op(
        "PUT", "/v1/cards/{card_id}/operation-status", "setCardStatus",
        "Set a card's 運用状況", {200: wire.CardStatus}, wire.CardStatusChange,
        errors=(404, 409, 422),
    ),
    Op(
        "GET", "/v1/certificates/{serial}/status", "certificateStatus",
        "A certificate's status", {200: wire.CertificateStatusAnswer}, errors=(400, 404, 422),
    ),
    Op(
        "GET", "/v1/registry/audit", "registryAudit", "Registry changes",
        {200: wire.AuditPage}, None,
        (
            _OFFICE,
            Param("after", "query", Annotated[int, msgspec.Meta(ge=0, lt=2**62)]),
            Param("limit", "query", Annotated[int, msgspec.Meta(ge=1, le=AUDIT_PAGE)]),
        ),
        errors=(400,),
    ),
    Op(
        "POST", "/v1/enrolment", "enrol", "Enrol a device with a one-time token",
        {200: wire.EnrolmentAnswer}, wire.EnrolmentRequest, errors=(403, 421, 429),
    ),
    Op(
        "GET", "/v1/enrolment/ca", "enrolmentCa",
        "The server's CA certificate, for a new counter to show its SHA-256 fingerprint"
        " before it enrols", {200: wire.EnrolmentCa},
    ),
    Op(
        "POST", "/v1/sim/issuing-authority/certificates", "simIssueCertificate",
        "Simulation only: a test certificate for the virtual card", {200: wire.IssueAnswer},
        wire.IssueRequest, errors=(404,),
    ),
    Op(
        "GET", "/v1/clerks", "clerks", "The office's clerk accounts changed since a generation"
        " (304: none)", {200: ClerkList, 304: None}, None,
        (
            Param("since", "query", Annotated[int, msgspec.Meta(ge=0, lt=10**18)]),
            _OFFICE,
            Param("If-None-Match", "header", str),
        ),
        errors=(400,),
    ),
    Op(
        "POST", "/v1/clerks/sign-ins", "clerkSignIns", "The counter's clerks' sign-in attempts",
        {200: SignInAck}, SignInBatch, errors=(400,),
    ),
    Op(
        "GET", "/openapi.json", "openapi", "This document",
        {200: {"application/json": {"type": "object"}}},
    ),
    Op("GET", "/healthz", "healthz", "The process is alive (no database query)",
       {200: wire.Liveness}),
    Op(
        "GET", "/readyz", "readyz", "The database answers and its schema is this server's",
        {200: wire.Readiness, 503: wire.Readiness},
    ),
)

#: The update delivery (``updater/server.py``), paths inside its mount.
UPDATE_OPERATIONS: tuple[Op, ...] = (
    Op(
        "GET", "/releases/{channel}/latest", "updateLatest",
        "The channel's signed pointer (or an unsigned release); 204: nothing published",
        {200: (update_wire.SignedDocument, update_wire.Release), 204: None},
        error=update_wire.Refusal,
    ),
    Op("GET", "/bundles/{name}", "updateDownload", "A bundle (Range supported)",
       {200: OCTETS, 206: OCTETS}, errors=(404,), error=update_wire.Refusal),
    Op("HEAD", "/bundles/{name}", "updateBundleSize", "A bundle's size",
       {200: None}, errors=(404,), error=update_wire.Refusal),
    Op(
        "PUT", "/bundles/{name}", "updatePublish", "Publish a signed bundle on a channel",
        {201: update_wire.Release}, OCTETS,
        (Param("channel", "query", PATH_PARAMETERS["channel"]),),
        errors=(400, 422), error=update_wire.Refusal,
    ),
    Op(
        "POST", "/devices/{device_id}/status", "updateReport", "A counter's update reports",
        {200: update_wire.ReportAnswer}, update_wire.StatusReports, errors=(400,),
        error=update_wire.Refusal,
    ),
    Op("GET", "/rollouts", "updateRollouts", "Every staged rollout (IT)", {200: _OBJECT},
       error=update_wire.Refusal),
    Op(
        "POST", "/rollouts", "updateRolloutStart",
        "Start (or prepare) a staged rollout of a signed pointer", {201: _OBJECT},
        RolloutStart, errors=(400, 404, 409, 422), error=update_wire.Refusal,
    ),
    Op(
        "POST", "/rollouts/{rollout_id}/{action}", "updateRolloutChange",
        "Widen, halt, resume, abort or complete a rollout", {200: _OBJECT}, RolloutChange,
        errors=(400, 404, 409, 422), error=update_wire.Refusal,
    ),
    Op("GET", "/audit", "updateAudit", "The update delivery's audit (IT)", {200: _OBJECT},
       error=update_wire.Refusal),
    Op("GET", "/fleet", "updateFleet", "Every counter's last report", {200: update_wire.Fleet},
       error=update_wire.Refusal),
    Op("GET", "/keys", "updateKeyList", "IT's signed key list; 204: none published",
       {200: update_wire.SignedDocument, 204: None}, error=update_wire.Refusal),
    Op(
        "PUT", "/keys", "updatePublishKeyList", "Publish a key list signed by a root key",
        {201: update_wire.KeyListAnswer}, update_wire.SignedDocument, errors=(400, 422),
        error=update_wire.Refusal,
    ),
    Op(
        "PUT", "/releases/{channel}", "updatePublishPointer",
        "Publish a channel pointer signed by a pointer key", {201: update_wire.PointerAnswer},
        update_wire.SignedDocument, errors=(400, 422), error=update_wire.Refusal,
    ),
)


def operations() -> tuple[Op, ...]:
    """Every documented operation, the update delivery under its mount."""
    return DEVICE_OPERATIONS + tuple(op.under(authz.UPDATES_PREFIX) for op in UPDATE_OPERATIONS)


SECURITY_SCHEMES: Mapping[str, Any] = {
    "deviceCertificate": {
        "type": "mutualTLS",
        "description": "A counter's TLS client certificate, signed by this server's CA at"
        " enrolment (POST /v1/enrolment); the device id and office come from it.",
    },
    "itToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "IT's token (the update delivery's publish token): publishing"
        " bundles, key lists and pointers, the fleet, every office's reports.",
    },
}


def _security(endpoint: authz.Endpoint) -> list[dict[str, list[str]]]:
    """Who may call ``endpoint``, from the matrix: [] when it is open to anyone."""
    rules = authz.POLICY[endpoint.operation]
    if rules[authz.Role.ANONYMOUS].own is authz.Answer.ALLOW:
        return []
    schemes: list[dict[str, list[str]]] = []
    if rules[authz.Role.COUNTER].own is authz.Answer.ALLOW:
        schemes.append({"deviceCertificate": []})
    if rules[authz.Role.IT].own is authz.Answer.ALLOW:
        schemes.append({"itToken": []})
    return schemes


def _authorization(endpoint: authz.Endpoint) -> dict[str, Any]:
    return {
        "operation": endpoint.operation.value,
        "max_body_bytes": endpoint.max_body,
        "roles": {
            role.value: {"own": int(rule.own), "other": int(rule.other)}
            for role, rule in authz.POLICY[endpoint.operation].items()
        },
    }


@dataclass
class _Schemas:
    """The Structs met while building the paths; one ``schema_components`` call at the end."""

    structs: list[type[msgspec.Struct]] = field(default_factory=list)

    def ref(self, kind: type[msgspec.Struct]) -> dict[str, Any]:
        if kind not in self.structs:
            self.structs.append(kind)
        return {"$ref": _REF.format(name=kind.__name__)}

    def schema(self, body: Any) -> dict[str, Any]:
        if isinstance(body, tuple):
            return {"anyOf": [self.ref(kind) for kind in body]}
        if isinstance(body, type) and issubclass(body, msgspec.Struct):
            return self.ref(body)
        if isinstance(body, Mapping):
            return dict(body)
        return msgspec.json.schema(body)

    def content(self, body: Body) -> dict[str, Any]:
        if isinstance(body, Mapping):
            return {media: {"schema": self.schema(value)} for media, value in body.items()}
        return {"application/json": {"schema": self.schema(body)}}

    def components(self) -> dict[str, Any]:
        _, components = msgspec.json.schema_components(self.structs, ref_template=_REF)
        return dict(sorted(components.items()))


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No content",
    206: "Partial content (a Range request)",
    400: "A body or parameter of the wrong shape (the detail names the field)",
    401: "No credential, or one the server does not know",
    403: "Revoked, or not allowed for this principal or office (the matrix)",
    404: "No such resource",
    409: "A conflict (an idempotency key reused, a registry rule)",
    413: "A body over this operation's limit",
    421: "Not the host that signs enrolments (the CA key is on another server host)",
    422: "Refused content (personal data; a signature or bundle that does not verify)",
    429: "Too many attempts; wait",
    503: "The database is unavailable or its schema is not current",
}


def _operation(op: Op, schemas: _Schemas) -> dict[str, Any]:
    endpoint, _, _ = authz.match(op.method, _sample_path(op.path))
    if endpoint is None or endpoint.path != op.path:
        raise LookupError(f"{op.method} {op.path} has no row in the authorization matrix")
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "security": _security(endpoint),
        "x-authorization": _authorization(endpoint),
    }
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": schemas.schema(PATH_PARAMETERS[name]),
        }
        for name in re.findall(r"\{(\w+)\}", op.path)
    ]
    for param in op.params:
        entry = {"name": param.name, "in": param.where, "required": param.required,
                 "schema": schemas.schema(param.kind)}
        if param.description:
            entry["description"] = param.description
        params.append(entry)
    if params:
        doc["parameters"] = params
    if op.request is not None:
        doc["requestBody"] = {"required": True, "content": schemas.content(op.request)}
    answers: dict[str, Any] = {}
    for status, body in op.answers.items():
        answers[str(status)] = {"description": _REASONS.get(status, "OK")}
        if body is not None:
            answers[str(status)]["content"] = schemas.content(body)
    refusals = set(op.errors)
    if endpoint.operation not in authz.PROBES:
        refusals |= {503}  # not ready, or the database is down
    if doc["security"]:
        refusals |= {401, 403}
    if endpoint.max_body == 0 or endpoint.json_body:
        refusals |= {413}
    if endpoint.json_body:
        refusals |= {400}  # not JSON, nested too deep, a field of the wrong shape
    for status in sorted(refusals - set(op.answers)):
        answers[str(status)] = {
            "description": _REASONS[status],
            "content": schemas.content(_refusal_body(op, status)),
        }
    doc["responses"] = answers
    return doc


def _refusal_body(op: Op, status: int) -> Body:
    """A refusal in the server's shape (the gate's, and the device endpoints'), or, on an
    update endpoint, in the update delivery's own shape too."""
    return wire.Error if op.error is wire.Error else (wire.Error, op.error)


def _sample_path(template: str) -> str:
    return re.sub(r"\{\w+\}", "x", template)


def build_document(ops: Iterable[Op]) -> dict[str, Any]:
    """The OpenAPI document of ``ops``."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schemas)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "madoguchi central server",
            "version": "1",
            "description": "Transaction ingest, 交付状況 report, card and certificate status, "
            "the registry audit and the update delivery. A counter proves itself with its "
            "enrolled TLS client certificate (deviceCertificate, mutual TLS); IT with its "
            "bearer token (itToken); enrolment with a one-time token in the body; the probes "
            "/healthz and /readyz are open. Who may call what, for the own and another "
            "office, is each operation's x-authorization (docs/security.md). Bodies are "
            "decoded strictly: a wrong type or an unknown field is a 400 naming the field. "
            "Bodies are bounded per operation and JSON may nest at most 32 levels.",
        },
        "security": [{"deviceCertificate": []}],
        "paths": paths,
        "components": {"schemas": schemas.components(), "securitySchemes": SECURITY_SCHEMES},
    }


@functools.cache
def _cached() -> bytes:
    return msgspec.json.encode(build_document(operations()))


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    document: dict[str, Any] = msgspec.json.decode(_cached())
    return document


def openapi_json() -> bytes:
    """The document as JSON, built once per process (``GET /openapi.json``)."""
    return _cached()
