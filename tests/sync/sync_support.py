"""Realistic transaction records for the sync tests (no PIN, no My Number by construction)."""

from __future__ import annotations

import uuid

from device.records import CertificateAction, Decision, Reason, TransactionRecord


def make_record(
    index: int = 0, *, office: str = "131016", day: str = "2026-11-25"
) -> TransactionRecord:
    """A completed 新規発行 at the counter, as the procedure engine would write it."""
    return TransactionRecord(
        transaction_id=str(uuid.uuid4()),
        procedure="2-1-1",
        actor="self",
        decision=Decision.CONTINUE,
        reasons=(Reason("第2-1-(1)-ア-(イ)-B", "本人確認書類の提示により確認"),),
        rule_version="改正後",
        operator_id=f"op-{index % 3}",
        started_at=f"{day}T09:{index % 60:02d}:00+09:00",
        completed_at=f"{day}T09:{index % 60:02d}:30+09:00",
        office_code=office,
        checks=("id_document", "operation_status"),
        certificates=(
            CertificateAction("sign", "issued", f"S{index:08d}"),
            CertificateAction("auth", "issued", f"A{index:08d}"),
        ),
        fee_collected_yen=200,
        fee_payable_jlis_yen=200,
    )
