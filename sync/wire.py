"""The device protocol's bodies as msgspec Structs: one definition for both sides.

The server decodes every JSON request body with these classes (``sync/server/app.py``),
strictly: a wrong type, a value out of bounds or an unknown field is a 400 whose detail
names the field (``records[0].seq must be int >= 1``), as the configuration names a key.
The device encodes with the same classes (``sync/client.py``, ``sync/enrol.py``,
``sync/issuing.py``), so the uploader and the server cannot drift apart, and
``sync/server/openapi.py`` turns them into the OpenAPI document's schemas.

Requests forbid unknown fields (the server refuses what it would ignore). Answers allow
them: a device reads an answer from a newer server that has added a field.

A batch item is decoded one by one (:func:`decode_item`): an item that does not fit is
``rejected`` with the reason while the rest of the batch is stored (docs/sync.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from madoguchi.schema import ShapeError, decode_json
from sync.protocol import MAX_BATCH_RECORDS

__all__ = [
    "AuditEntry",
    "AuditPage",
    "BatchAnswer",
    "BatchEnvelope",
    "BatchItem",
    "BatchRequest",
    "CardStatus",
    "CardStatusChange",
    "CertificateStatusAnswer",
    "ChainRejection",
    "ChainReport",
    "DeviceMe",
    "EnrolmentAnswer",
    "EnrolmentCa",
    "EnrolmentRequest",
    "Error",
    "IssueAnswer",
    "IssueRequest",
    "ItemResult",
    "Liveness",
    "Readiness",
    "ReportPage",
    "ReportRow",
    "ServerTime",
    "ShapeError",
    "decode_item",
]

#: Most certificate serials one registry change may name.
MAX_SERIALS = 16

#: 64 lowercase hex digits (a record hash).
Hex64 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
#: 1-64 printable ASCII characters (transaction ids, registry keys, serials).
CleanId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern="^[ -~]+$")]
#: A device's sequence number.
Seq = Annotated[int, msgspec.Meta(ge=1, lt=2**62)]
#: An office code: at most 16 characters (printable: checked by the handler).
OfficeCode = Annotated[str, msgspec.Meta(max_length=16)]
#: ``TransactionRecord.to_payload()``: versioned JSON with additive fields. Kept as the
#: parsed object, because its exact canonical JSON is what the chain hashes.
Payload = Annotated[
    dict[str, Any],
    msgspec.Meta(
        description="TransactionRecord.to_payload() (versioned JSON, additive fields; at"
        " most 32 KiB, no personal data)",
        extra_json_schema={
            "required": ["transaction_id", "procedure", "decision", "completed_at"],
            "properties": {
                "transaction_id": {"type": "string"},
                "procedure": {"type": "string"},
                "decision": {"type": "string"},
                "completed_at": {"type": "string", "format": "date-time"},
                "office_code": {"type": "string", "maxLength": 16},
            },
        },
    ),
]
ItemStatus = Literal["accepted", "duplicate", "rejected"]


class _Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A request body: every field typed, an unknown field refused."""


class _Answer(msgspec.Struct, frozen=True):
    """An answer body (a newer server may add fields; a device ignores them)."""


class Error(_Answer, frozen=True):
    """Every refusal: a code and a sentence."""

    error: str
    detail: str


class BatchItem(_Request, frozen=True):
    """One stored record, as the device chained it."""

    seq: Seq
    transaction_id: CleanId
    prev_hash: Hex64
    hash: Hex64
    payload: Payload


class BatchRequest(_Request, frozen=True):
    """``POST /v1/batches``: the oldest pending records of a device."""

    records: Annotated[
        list[BatchItem], msgspec.Meta(min_length=1, max_length=MAX_BATCH_RECORDS)
    ]


class BatchEnvelope(_Request, frozen=True):
    """How the server reads a batch: the envelope strictly, each item by itself
    (:func:`decode_item`), so one bad item is rejected and the others are stored."""

    records: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1)]


class ItemResult(_Answer, frozen=True):
    """What the server did with one item (``seq`` and id: null when unreadable)."""

    status: ItemStatus
    seq: int | None = None
    transaction_id: str | None = None
    error: str | None = None


class BatchAnswer(_Answer, frozen=True):
    """One result per item, in order; the device's high-water mark; the server clock."""

    device_id: str
    high_water: int
    server_time: str
    results: list[ItemResult]


class ServerTime(_Answer, frozen=True):
    """``GET /v1/time``."""

    server_time: str


class DeviceMe(_Answer, frozen=True):
    """``GET /v1/devices/me``: the device's own entry."""

    device_id: str
    office_code: str
    status: str
    high_water: int
    server_time: str


class ChainRejection(_Answer, frozen=True):
    """An item the server refused, and why."""

    seq: int
    transaction_id: str
    reason: str


class ChainReport(_Answer, frozen=True):
    """``GET /v1/devices/{device_id}/chain``: tamper evidence."""

    device_id: str
    records: int
    high_water: int
    gaps: list[tuple[int, int]]
    breaks: list[int]
    rejected: list[ChainRejection]


class ReportRow(_Answer, frozen=True):
    """One office, date and certificate type of the 交付状況 report."""

    office_code: str
    date: str
    certificate_type: str
    transactions: int
    issued: int
    renewed: int
    revoked: int
    fee_collected_yen: int
    fee_payable_jlis_yen: int


class ReportPage(_Answer, frozen=True):
    """``GET /v1/reports/daily`` (JSON)."""

    date: str
    rows: list[ReportRow]


class CardStatusChange(_Request, frozen=True):
    """``PUT /v1/cards/{card_id}/operation-status``."""

    status: Literal["in_operation", "suspended", "abolished"]
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""
    hold_certificate_serials: Annotated[
        list[CleanId], msgspec.Meta(max_length=MAX_SERIALS)
    ] = msgspec.field(default_factory=list)
    release_certificate_serials: Annotated[
        list[CleanId], msgspec.Meta(max_length=MAX_SERIALS)
    ] = msgspec.field(default_factory=list)


class CardStatus(_Answer, frozen=True):
    """A card's 運用状況 in the registry."""

    card_id: str
    reason: str
    status: str
    label: str
    updated_at: str


class CertificateStatusAnswer(_Answer, frozen=True):
    """A certificate's status in the registry."""

    serial: str
    kind: str
    status: str
    label: str
    updated_at: str


class AuditEntry(_Answer, frozen=True):
    """One registry change."""

    id: int
    at: str
    actor: str
    registry: str
    key: str
    office_code: str | None
    before: str | None
    after: str
    why: str


class AuditPage(_Answer, frozen=True):
    """``GET /v1/registry/audit``."""

    office: str | None
    entries: list[AuditEntry]


class EnrolmentRequest(_Request, frozen=True):
    """``POST /v1/enrolment``: the one-time token and the device's CSR."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    csr_pem: Annotated[str, msgspec.Meta(min_length=1, max_length=16384)]


class EnrolmentAnswer(_Answer, frozen=True):
    """The signed device certificate and the CA."""

    device_id: str
    office_code: str
    certificate_pem: str
    ca_pem: str


class EnrolmentCa(_Answer, frozen=True):
    """``GET /v1/enrolment/ca``: the CA certificate a new counter trusts once a person has
    compared its fingerprint (docs/kiosk.md, "First boot")."""

    ca_pem: str


class IssueRequest(_Request, frozen=True):
    """``POST /v1/sim/issuing-authority/certificates`` (``--simulate`` only)."""

    kind: Literal["sign", "auth"]
    public_key_pem: Annotated[str, msgspec.Meta(min_length=1, max_length=16384)]


class IssueAnswer(_Answer, frozen=True):
    """The test certificate the simulated authority issued."""

    serial: str
    kind: str
    certificate_pem: str


class Liveness(_Answer, frozen=True):
    """``GET /healthz``."""

    alive: bool


class Readiness(_Answer, frozen=True, omit_defaults=True):
    """``GET /readyz``: ready, or why not."""

    ready: bool
    reason: str | None = None


def decode_item(raw: msgspec.Raw | bytes) -> BatchItem:
    """One batch item, strictly; :class:`ShapeError` naming the field otherwise."""
    return decode_json(bytes(raw), BatchItem, "the item")

