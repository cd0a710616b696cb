"""The transaction record: what a completed counter procedure leaves behind.

One record per completed procedure. It is what the local store keeps, what the
outbox uploads and what the central server counts for the daily 交付状況
(issuance status). By construction it has no field for a PIN or an individual
number (My Number); :func:`TransactionRecord.to_payload` is the only way a record
becomes JSON, and :data:`FORBIDDEN_KEYS` lists names that must never appear in
any payload (tests scan for them).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

#: Keys that must never appear in a record payload, at any depth.
FORBIDDEN_KEYS = frozenset(
    {"pin", "password", "passcode", "my_number", "individual_number", "kojin_bango"}
)


class Decision(enum.Enum):
    """The engine's decision for a procedure."""

    CONTINUE = "continue"
    REJECT = "reject"  # 受付不可
    INQUIRY = "inquiry"  # 照会書／回答書 route


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

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready form that is stored and synced."""
        payload = dataclasses.asdict(self)
        payload["decision"] = self.decision.value
        assert_no_forbidden_keys(payload)
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> TransactionRecord:
        """Rebuild a record from :meth:`to_payload` output."""
        data = dict(payload)
        data["decision"] = Decision(data["decision"])
        data["reasons"] = tuple(Reason(**r) for r in data.get("reasons", ()))
        data["certificates"] = tuple(CertificateAction(**c) for c in data.get("certificates", ()))
        data["checks"] = tuple(data.get("checks", ()))
        return cls(**data)


def assert_no_forbidden_keys(value: Any, path: str = "$") -> None:
    """Raise ValueError when a forbidden key appears anywhere in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in FORBIDDEN_KEYS:
                raise ValueError(f"forbidden key {key!r} at {path}")
            assert_no_forbidden_keys(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            assert_no_forbidden_keys(item, f"{path}[{index}]")
