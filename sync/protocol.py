"""The wire protocol between the device uploader and the central server.

A batch is ``POST /v1/batches`` with an ``Idempotency-Key`` header and a JSON
body ``{"records": [item, ...]}``; an item is one stored record::

    {"seq": 7, "transaction_id": "…", "prev_hash": "…", "hash": "…",
     "payload": {...TransactionRecord.to_payload()...}}

The answer lists one result per item (``accepted``, ``duplicate`` or
``rejected`` with a reason), the device's high-water mark (highest sequence
number below which the server holds every record) and the server's clock.
Items are validated here, on the server, before anything is written; the same
limits are used by the uploader so it never builds an oversized batch.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Final, TypeGuard

from device.records import FORBIDDEN_KEYS, TWELVE_DIGITS
from device.store.chain import canonical_json, hash_canonical
from madoguchi.schema import ShapeError, convert

if TYPE_CHECKING:
    from sync.wire import BatchItem

API_VERSION = "v1"
#: Largest request body the server reads.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Most records in one batch.
MAX_BATCH_RECORDS = 1000
#: Largest single payload (canonical JSON).
MAX_PAYLOAD_BYTES = 32 * 1024

ACCEPTED: Final = "accepted"
DUPLICATE: Final = "duplicate"
REJECTED: Final = "rejected"

JST = timezone(timedelta(hours=9), "JST")
#: A forbidden key in canonical JSON: an unescaped quote, the name, ``":``.
_FORBIDDEN_KEY_IN_JSON = re.compile(
    r'(?<!\\)"(' + "|".join(sorted(FORBIDDEN_KEYS)) + r')":', re.IGNORECASE
)
_KEY_NEEDLES = tuple(f'"{key}":' for key in sorted(FORBIDDEN_KEYS))
_DIGIT_RUN = re.compile(r"\d{4}[ \-]?\d{4}[ \-]?\d{4}")
_REQUIRED_PAYLOAD = ("transaction_id", "procedure", "decision", "completed_at")
#: What a record's ``certificates[]`` entry may say (``device.records.CertificateAction``).
CERTIFICATE_KINDS = frozenset({"sign", "auth"})
CERTIFICATE_ACTIONS = frozenset({"issued", "renewed", "revoked"})
#: Most certificate actions one record may carry (a card holds two certificates).
MAX_CERTIFICATES = 8
#: Deepest JSON nesting the server reads (issue 13); checked before parsing.
MAX_JSON_DEPTH = 32
_NOT_SKELETON = bytes(b for b in range(256) if b not in b'[]{}"')
_AS_PARENTHESES = bytes.maketrans(b"[]{}", b"()()")


class ItemError(ValueError):
    """One item of a batch is malformed; the message says why."""


@dataclass(frozen=True, slots=True)
class IncomingRecord:
    """A validated batch item."""

    seq: int
    transaction_id: str
    prev_hash: str
    hash: str
    payload: dict[str, Any]
    business_date: str  # JST date of completion, for the daily report
    office_code: str
    canonical: str  # the payload as canonical JSON (what was hashed, and what is stored)


def find_forbidden_in_json(text: str) -> str | None:
    """:func:`find_forbidden_data` over canonical JSON text in one pass (the server's
    hot path): a forbidden key anywhere, or a 12-digit number in any value."""
    # Cheap prefilters first (plain substring tests, a regex without look-arounds);
    # the exact patterns run only on the rare text that passes them.
    lowered = text.lower()
    if any(needle in lowered for needle in _KEY_NEEDLES):
        key = _FORBIDDEN_KEY_IN_JSON.search(text)
        if key:
            return f"forbidden key {key.group(1)!r}"
    if _DIGIT_RUN.search(text) and TWELVE_DIGITS.search(text):
        return "a 12-digit number (possible individual number)"
    return None


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``body`` nests arrays and objects more than ``limit`` deep.

    Checked on the raw bytes before ``json.loads`` (whose recursion a few thousand
    brackets deep is a ``RecursionError``): escaped backslashes and quotes are dropped,
    then strings are cut out, so brackets inside them do not count; what is left is
    only brackets. Where the body is not JSON the count may be too high, never too low
    for the part the parser would read before it fails.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    plain = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Keep only quotes and brackets (C speed), then split at the quotes: every second
    # piece is inside a string.
    skeleton = plain.translate(None, _NOT_SKELETON)
    brackets = b"".join(skeleton.split(b'"')[::2]).translate(_AS_PARENTHESES)
    # Fast path: each pass drops the innermost pairs, so a balanced nesting at most
    # ``limit`` deep is gone after ``limit`` passes. Anything left is counted exactly.
    rest = brackets
    for _ in range(limit):
        shorter = rest.replace(b"()", b"")
        if not shorter or shorter == rest:
            rest = shorter
            break
        rest = shorter
    if not rest:
        return False
    return max(accumulate(1 if b == 0x28 else -1 for b in brackets)) > limit


def check_certificates(value: Any) -> None:
    """``payload.certificates``: at most a few ``{kind, action, serial}`` objects with a
    known kind and action and a printable ASCII serial (empty: the 署名用 certificate of a
    revocation, whose serial the counter cannot read). A NUL would be refused by
    PostgreSQL and kept by SQLite; a formula in ``kind`` would reach the report's CSV."""
    if value is None:
        return
    if not isinstance(value, list) or len(value) > MAX_CERTIFICATES:
        raise ItemError(f"payload.certificates must be a list of at most {MAX_CERTIFICATES}")
    for cert in value:
        if not isinstance(cert, dict):
            raise ItemError("payload.certificates[] must be objects")
        if cert.get("kind") not in CERTIFICATE_KINDS:
            raise ItemError("payload.certificates[].kind must be sign or auth")
        if cert.get("action") not in CERTIFICATE_ACTIONS:
            raise ItemError("payload.certificates[].action must be issued, renewed or revoked")
        serial = cert.get("serial")
        if not (serial == "" or is_clean_id(serial)):
            raise ItemError(
                "payload.certificates[].serial must be empty or 1-64 printable ASCII characters"
            )


def business_date(completed_at: str) -> str:
    """The JST calendar date of an ISO-8601 completion time (naive = JST)."""
    moment = datetime.fromisoformat(completed_at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment.astimezone(JST).date().isoformat()


def is_office_code(value: Any) -> TypeGuard[str]:
    """An office code: at most 16 printable characters (empty allowed).

    PostgreSQL refuses a NUL in text, so anything unprintable is a 400 here,
    never a database error later.
    """
    return isinstance(value, str) and len(value) <= 16 and value.isprintable()


def is_clean_id(value: Any) -> TypeGuard[str]:
    """1-64 printable ASCII characters (transaction ids, registry keys)."""
    return (
        isinstance(value, str) and 1 <= len(value) <= 64 and value.isascii() and value.isprintable()
    )


def parse_item(raw: Any) -> IncomingRecord:
    """Validate one batch item (a :class:`sync.wire.BatchItem`, or its parsed JSON);
    raise :class:`ItemError` with a clear reason."""
    from sync.wire import BatchItem  # sync.wire imports this module's limits

    if not isinstance(raw, BatchItem):
        try:
            raw = convert(raw, BatchItem, "the item")
        except ShapeError as exc:
            raise ItemError(str(exc)) from None
    return check_item(raw)


def check_item(item: BatchItem) -> IncomingRecord:
    """What the item's shape cannot say: the payload's required keys, its size and
    content, the hash over it, its completion time, office and certificates."""
    seq = item.seq
    transaction_id = item.transaction_id
    payload = item.payload
    for name in _REQUIRED_PAYLOAD:
        if not isinstance(payload.get(name), str):
            raise ItemError(f"payload.{name} must be a string")
    if payload["transaction_id"] != transaction_id:
        raise ItemError("payload.transaction_id differs from the item's transaction_id")
    try:
        canonical = canonical_json(payload)
        canonical.encode()  # lone surrogates parse as JSON but are not UTF-8
    except (TypeError, ValueError) as exc:
        raise ItemError(f"payload is not valid UTF-8 JSON: {exc}") from exc
    if len(canonical) > MAX_PAYLOAD_BYTES:
        raise ItemError(f"payload over {MAX_PAYLOAD_BYTES} bytes")
    forbidden = find_forbidden_in_json(canonical)
    if forbidden:
        raise ItemError(f"payload holds forbidden personal data: {forbidden}")
    if hash_canonical(seq, item.prev_hash, canonical) != item.hash:
        raise ItemError("hash does not match the record's content (edited after it was chained?)")
    try:
        date = business_date(payload["completed_at"])
    except ValueError as exc:
        raise ItemError("payload.completed_at is not an ISO-8601 time") from exc
    office = payload.get("office_code", "")
    if not is_office_code(office):
        raise ItemError("payload.office_code must be at most 16 printable characters")
    check_certificates(payload.get("certificates"))
    return IncomingRecord(
        seq, transaction_id, item.prev_hash, item.hash, payload, date, office, canonical
    )


def body_digest(body: bytes) -> str:
    """The request hash stored with an idempotency key."""
    return hashlib.sha256(body).hexdigest()


def batch_key(transaction_ids: list[str]) -> str:
    """The stable idempotency key of a batch: the same records give the same key."""
    return hashlib.sha256("\n".join(transaction_ids).encode()).hexdigest()[:40]


def utc_now() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)
