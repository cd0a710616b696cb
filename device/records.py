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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from madoguchi.errors import PersonalDataError

#: Keys that must never appear in a record payload, at any depth.
FORBIDDEN_KEYS = frozenset(
    {"pin", "password", "passcode", "my_number", "individual_number", "kojin_bango"}
)


class Decision(enum.Enum):
    """The engine's decision for a procedure, or the clerk's abandonment of it."""

    CONTINUE = "continue"
    REJECT = "reject"  # 受付不可
    INQUIRY = "inquiry"  # 照会書／回答書 route
    ABANDONED = "abandoned"  # 中止: the procedure ended without a decision (see AbandonmentReason)


class AbandonmentReason(enum.Enum):
    """Why a procedure was abandoned (中止) at the counter; the clerk picks one of six.

    The values are stable codes (stored and synced); the clerk sees 申請取下げ,
    書類不備, カード不備, 時間切れ, 操作誤り, その他 (``tui`` catalogue ``abandon.reasons``,
    ``device.procedures.texts`` for the rules CLI).
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
    #: The chip's signatures did not verify (偽造カードの疑い): flagged for the office.
    suspected_counterfeit: bool = False

    def to_payload(self) -> dict[str, Any]:
        """The JSON-ready form that is stored and synced.

        Refuses (:class:`~madoguchi.errors.PersonalDataError`) a PIN or an individual
        number anywhere, and an ``extra`` that is not of :data:`EXTRA_SCHEMA`.
        """
        payload = dataclasses.asdict(self)
        payload["decision"] = self.decision.value
        # Only an abandonment carries its reason and only a suspected counterfeit its
        # flag, so every other payload stays as an older reader always saw it.
        if self.abandonment_reason is None:
            del payload["abandonment_reason"]
        else:
            payload["abandonment_reason"] = self.abandonment_reason.value
        if not self.suspected_counterfeit:
            del payload["suspected_counterfeit"]
        assert_no_forbidden_data(payload)
        problem = extra_problem(self.extra)
        if problem:
            raise PersonalDataError(f"a record's extra may not hold {problem}")
        if (self.decision is Decision.ABANDONED) != (self.abandonment_reason is not None):
            raise PersonalDataError("an abandoned record needs its reason, and only it has one")
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> TransactionRecord:
        """Rebuild a record from :meth:`to_payload` output."""
        data = dict(payload)
        data["decision"] = Decision(data["decision"])
        reason = data.get("abandonment_reason")
        data["abandonment_reason"] = None if reason in (None, "") else AbandonmentReason(reason)
        data["suspected_counterfeit"] = bool(data.get("suspected_counterfeit", False))
        data["reasons"] = tuple(Reason(**r) for r in data.get("reasons", ()))
        data["certificates"] = tuple(CertificateAction(**c) for c in data.get("certificates", ()))
        data["checks"] = tuple(data.get("checks", ()))
        return cls(**data)


#: A run of 12 to 16 digits, with the separators people type: an individual number
#: (12 digits), a 照合番号B (14) or either with a stray digit. Runs inside identifiers
#: (hashes, serials with letters, UUIDs: see :data:`UUID`) are not matched.
TWELVE_DIGITS = re.compile(
    r"(?<![0-9A-Za-z\-])\d(?:[ \-]?\d){11,15}(?![0-9A-Za-z\-]|[ \-]\d)"
)
#: A UUID (a record's transaction id): digits-only UUIDs are not individual numbers.
UUID = re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b")

#: The policies a record may name in ``extra.policies`` (``device.procedures.policies``).
POLICY_KEYS = frozenset({
    "fallback_requires_both", "proxy_declaration_subject", "grace_counting", "grace_months",
    "honseki_omission_allowed", "legal_rep_pin_document_required", "fee_sign_cert_yen",
    "fee_auth_cert_yen", "fee_payable_jlis_percent", "pin_reset_second_id",
    "pin_reset_power_of_attorney",
})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PROCEDURE_ID = re.compile(r"^[2-4]-[1-4](?:-[12])?$")
_STEP_KEY = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){0,7}$")


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 200


def _is_action(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 3
            and all(_is_text(part) for part in value))


def _is_policies(value: Any) -> bool:
    return isinstance(value, dict) and set(value) <= POLICY_KEYS and all(
        isinstance(v, (bool, int)) or (isinstance(v, str) and _CODE.match(v) is not None)
        for v in value.values()
    )


#: What ``extra`` may hold: key → check of its value. An allow-list, not a filter:
#: a key nobody listed here (``juki_pin``, ``note``) is refused whatever its value.
EXTRA_SCHEMA: dict[str, Callable[[Any], bool]] = {
    "transaction_date": lambda v: isinstance(v, str) and _ISO_DATE.match(v) is not None,
    "record_keeping": lambda v: v in (None, "issuance_register", "issuance_status_log"),
    "actions": lambda v: isinstance(v, (list, tuple)) and all(_is_action(a) for a in v),
    "policies": _is_policies,
    "procedure_title": _is_text,
    "fee_status": lambda v: v in (None, "paid", "exempt"),
    "operation_status_set": lambda v: v in (None, "in_operation"),
    "next_procedure": lambda v: v is None or (
        isinstance(v, str) and _PROCEDURE_ID.match(v) is not None),
    # 中止: the step the clerk was on (a step key) and the decision thrown away.
    "abandoned_at": lambda v: v is None or (isinstance(v, str) and _STEP_KEY.match(v) is not None),
    "decision_discarded": lambda v: v is None or v in {d.value for d in Decision},
    # 暗証番号の初期化・再設定 by proxy: the new PIN came from the concealed reply form
    # (that it was used, never what it said).
    "concealed_form_used": lambda v: v in (None, True, False),
    # an issuance's new PINs: who set them and which (PIN codes, never a PIN)
    "new_pins": lambda v: v is None or (
        isinstance(v, dict) and set(v) == {"by", "pins"}
        and v["by"] in ("written", "handed_to_jlis", "not_done")
        and isinstance(v["pins"], list) and len(v["pins"]) <= 4
        and all(p in ("jpki_auth", "jpki_sign", "support", "juki") for p in v["pins"])),
}


def extra_problem(extra: Any) -> str | None:
    """What in a record's ``extra`` is not allowed by :data:`EXTRA_SCHEMA`, else None.

    Names the key, never the value.
    """
    if not isinstance(extra, dict):
        return "anything but an object"
    for key, value in extra.items():
        check = EXTRA_SCHEMA.get(key)
        if check is None:
            return f"the key {str(key)[:40]!r} (not in the allow-list)"
        if not check(value):
            return f"a value of the wrong form at {key!r}"
    return None


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
        return TWELVE_DIGITS.search(UUID.sub("", value)) is not None
    return isinstance(value, int) and not isinstance(value, bool) \
        and 12 <= len(str(abs(value))) <= 16


def assert_no_forbidden_data(value: Any) -> None:
    """Raise :class:`PersonalDataError` when :func:`find_forbidden_data` finds anything."""
    found = find_forbidden_data(value)
    if found:
        raise PersonalDataError(f"a record may not hold {found}")
