"""The transaction record: what a completed counter procedure leaves behind.

One record per completed procedure. It is what the local store keeps, what the
outbox uploads and what the central server counts for the daily 交付状況
(issuance status). By construction it has no field for a PIN or an individual
number (My Number); :func:`TransactionRecord.to_payload` is the only way a record
becomes JSON, and it refuses a payload with a key from :data:`FORBIDDEN_KEYS` or
a value that looks like an individual number (12 digits) anywhere in it.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field
from typing import Any

from madoguchi.errors import PersonalDataError

#: Keys that must never appear in a record payload, at any depth.
FORBIDDEN_KEYS = frozenset(
    {"pin", "password", "passcode", "my_number", "individual_number", "kojin_bango"}
)


class Decision(enum.Enum):
    """The engine's decision for a procedure."""

    CONTINUE = "continue"
    REJECT = "reject"  # 受付不可
    INQUIRY = "inquiry"  # 照会書／回答書 route
    ABANDONED = "abandoned"  # 中止: the procedure ended without a decision (see AbandonmentReason)


class AbandonmentReason(enum.Enum):
    """Why a procedure was abandoned (中止) at the counter; the clerk picks one of six.

    The values are stable codes (stored and synced); the clerk sees 申請取下げ,
    書類不備, カード不備, 時間切れ, 操作誤り, その他 (``tui`` catalogue ``abandon.reasons``).
    """

    WITHDRAWN = "withdrawn"  # 申請取下げ
    DOCUMENTS = "documents"  # 書類不備
    CARD = "card"  # カード不備
    TIMED_OUT = "timed_out"  # 時間切れ
    OPERATOR_ERROR = "operator_error"  # 操作誤り
    OTHER = "other"  # その他


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason for a decision, with its place in the guidelines, e.g. 「第2-1-(1)-ア-(イ)-B」."""

    citation: str
    text: str


@dataclass(frozen=True, slots=True)
class CertificateAction:
    """A certificate issued or revoked in the transaction."""

    kind: str  # "auth" (利用者証明用) or "sign" (署名用)
    action: str  # "issued", "renewed", "revoked"
    serial: str


@dataclass(frozen=True)
class TransactionRecord:
    """A completed counter procedure, ready to store and sync.

    Times are ISO-8601 strings from the device clock; the server orders by the
    device's sequence number and its own receipt time, never by these.
    """

    transaction_id: str  # UUID, also the idempotency key
    procedure: str  # procedure id, e.g. "2-1-1" (第2-1-(1))
    actor: str  # "self", "proxy", "legal_representative"
    decision: Decision
    reasons: tuple[Reason, ...]
    rule_version: str  # "現行" or "改正後" rule-set id that decided it
    operator_id: str
    started_at: str
    completed_at: str
    office_code: str = ""
    checks: tuple[str, ...] = ()
    certificates: tuple[CertificateAction, ...] = ()
    fee_collected_yen: int = 0
    fee_payable_jlis_yen: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    #: Set exactly when ``decision`` is :attr:`Decision.ABANDONED`.
    abandonment_reason: AbandonmentReason | None = None

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready form that is stored and synced."""
        payload = dataclasses.asdict(self)
        payload["decision"] = self.decision.value
        # Only an abandonment carries the key, so every other payload stays as it was.
        if self.abandonment_reason is None:
            del payload["abandonment_reason"]
        else:
            payload["abandonment_reason"] = self.abandonment_reason.value
        assert_no_forbidden_data(payload)
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> TransactionRecord:
        """Rebuild a record from :meth:`to_payload` output."""
        data = dict(payload)
        data["decision"] = Decision(data["decision"])
        reason = data.get("abandonment_reason")
        data["abandonment_reason"] = None if reason is None else AbandonmentReason(reason)
        data["reasons"] = tuple(Reason(**r) for r in data.get("reasons", ()))
        data["certificates"] = tuple(CertificateAction(**c) for c in data.get("certificates", ()))
        data["checks"] = tuple(data.get("checks", ()))
        return cls(**data)


#: A 12-digit run, as an individual number (My Number) is written, with the
#: separators people type. Runs inside identifiers (UUIDs, hashes, serials with
#: letters) are not matched.
TWELVE_DIGITS = re.compile(r"(?<![0-9A-Za-z\-])\d{4}[ \-]?\d{4}[ \-]?\d{4}(?![0-9A-Za-z\-])")


def find_forbidden_data(value: Any, path: str = "$") -> str | None:
    """Where ``value`` holds a forbidden key or a 12-digit number, else None.

    The one rule for what a record may never hold, used by the store before
    writing and by the server before accepting. The answer names the place,
    never the value.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in FORBIDDEN_KEYS:
                return f"forbidden key {key!r} at {path}"
            found = find_forbidden_data(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = find_forbidden_data(item, f"{path}[{index}]")
            if found:
                return found
    elif _looks_like_individual_number(value):
        return f"a 12-digit number (possible individual number) at {path}"
    return None


def _looks_like_individual_number(value: Any) -> bool:
    if isinstance(value, str):
        return TWELVE_DIGITS.search(value) is not None
    return isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) == 12


def assert_no_forbidden_data(value: Any) -> None:
    """Raise :class:`PersonalDataError` when :func:`find_forbidden_data` finds anything."""
    found = find_forbidden_data(value)
    if found:
        raise PersonalDataError(f"a record may not hold {found}")
