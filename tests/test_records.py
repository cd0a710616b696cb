"""The record contract refuses PINs and individual numbers wherever they hide."""

from __future__ import annotations

from typing import Any

import pytest

from device.records import CertificateAction, Decision, Reason, TransactionRecord
from madoguchi.errors import PersonalDataError


def _record(**changes: Any) -> TransactionRecord:
    fields: dict[str, Any] = {
        "transaction_id": "7f0b2c1e-5d4a-4c3b-9a8f-0123456789ab",
        "procedure": "2-1-1",
        "actor": "self",
        "decision": Decision.CONTINUE,
        "reasons": (Reason("第2-1-(1)-ア-(ア)", "申請書等を受理した。"),),
        "rule_version": "改正後",
        "operator_id": "clerk-01",
        "started_at": "2026-06-01T09:00:00+09:00",
        "completed_at": "2026-06-01T09:05:00+09:00",
    }
    fields.update(changes)
    return TransactionRecord(**fields)


def test_a_plain_record_round_trips() -> None:
    record = _record(
        certificates=(CertificateAction("auth", "issued", "00F90C5DE0F0EB78B9A75241E1"),),
        extra={"transaction_date": "2026-06-01", "procedure_title": "ab" * 32},
    )
    assert TransactionRecord.from_payload(record.to_payload()) == record


@pytest.mark.parametrize(
    "changes",
    [
        {"certificates": (CertificateAction("auth", "issued", "123456789018"),)},
        {"operator_id": "1234 5678 9018"},
        {"extra": {"note": "番号 1234-5678-9018 を確認"}},
        {"extra": {"nested": [{"value": 123456789018}]}},
        {"extra": {"PIN": "x"}},
        {"extra": {"deep": {"my_number": "x"}}},
    ],
)
def test_a_pin_or_individual_number_anywhere_is_refused_without_echoing_it(
    changes: dict[str, Any],
) -> None:
    with pytest.raises(PersonalDataError) as info:
        _record(**changes).to_payload()
    message = str(info.value)
    for secret in ("123456789018", "1234 5678 9018", "1234-5678-9018"):
        assert secret not in message
