"""交付状況の記録 (issuance status) and the optional export in the old 交付記録簿 daily form.

改正後 「第2-1-(1)-ア-(ケ)」／「第3-1-(1)-ア-(ケ)」: the municipality records the
issuance status as it sees fit, for example to pay the fees it collected over to
the 機構 (J-LIS). This module derives that log from the transaction records, so
it needs no store of its own, and reconciles fees collected against fees paid.

The 交付記録簿 (現行 「第2-1-(1)-ケ」, deleted by the amendment) counted, per day and
certificate kind: (ア) 受付年月日 (イ) 通信件数 (ウ) 交付件数 (エ) 有償の交付件数
(オ) 無償の交付件数 (カ) 破棄／職権失効件数. :func:`daily_register` produces those
counts for offices that still want them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from device.procedures.catalogue import PROCEDURES, Kind
from device.records import Decision, TransactionRecord

#: Certificate actions that count as handed over (交付).
HANDED_OVER = frozenset({"issued", "renewed"})
#: Certificate actions counted in (カ) 破棄／職権失効件数.
DISCARDED = frozenset({"discarded", "ex_officio_revoked"})


@dataclass(frozen=True)
class IssuanceStatusEntry:
    """One issuance in the 交付状況 log."""

    transaction_id: str
    day: str
    procedure: str
    certificates: tuple[str, ...]  # "sign"/"auth" kinds handed over
    serials: tuple[str, ...]
    fee_collected_yen: int
    fee_payable_jlis_yen: int
    operator_id: str


@dataclass(frozen=True)
class FeeReconciliation:
    """Fees collected at the counter against what was paid to the 機構."""

    collected_yen: int
    payable_jlis_yen: int
    paid_jlis_yen: int

    @property
    def outstanding_yen(self) -> int:
        """What is still to be paid to the 機構 (negative: overpaid)."""
        return self.payable_jlis_yen - self.paid_jlis_yen


@dataclass(frozen=True)
class DailyRegisterRow:
    """One day and certificate kind in the old 交付記録簿 form."""

    day: str  # (ア) 受付年月日
    certificate: str  # "sign" or "auth"
    requests: int  # (イ) 通信件数: issuance requests sent to the 機構
    handed_over: int  # (ウ) 交付件数
    paid: int  # (エ) 有償の交付件数
    free: int  # (オ) 無償の交付件数
    discarded_or_revoked: int  # (カ) 破棄／職権失効件数


def _day(record: TransactionRecord) -> str:
    day = record.extra.get("transaction_date")
    return str(day) if day else record.completed_at[:10]


def _is_issuance(record: TransactionRecord) -> bool:
    info = PROCEDURES.get(record.procedure)
    return info is not None and info.kind is Kind.ISSUANCE and record.decision is Decision.CONTINUE


def issuance_status(records: Iterable[TransactionRecord]) -> list[IssuanceStatusEntry]:
    """The 交付状況 log: every issuance that went ahead, in record order."""
    entries = []
    for record in records:
        if not _is_issuance(record):
            continue
        handed = [c for c in record.certificates if c.action in HANDED_OVER]
        entries.append(
            IssuanceStatusEntry(
                record.transaction_id,
                _day(record),
                record.procedure,
                tuple(c.kind for c in handed),
                tuple(c.serial for c in handed),
                record.fee_collected_yen,
                record.fee_payable_jlis_yen,
                record.operator_id,
            )
        )
    return entries


def reconcile(records: Iterable[TransactionRecord], paid_jlis_yen: int) -> FeeReconciliation:
    """Sum the fees of the issuance log and compare with ``paid_jlis_yen`` paid to the 機構."""
    entries = issuance_status(records)
    return FeeReconciliation(
        sum(e.fee_collected_yen for e in entries),
        sum(e.fee_payable_jlis_yen for e in entries),
        paid_jlis_yen,
    )


def daily_register(records: Iterable[TransactionRecord]) -> list[DailyRegisterRow]:
    """Counts per day and certificate kind in the old 交付記録簿 form, sorted by day."""
    counts: dict[tuple[str, str], list[int]] = {}
    for record in records:
        info = PROCEDURES.get(record.procedure)
        if info is None or info.kind is not Kind.ISSUANCE:
            continue
        day = _day(record)
        requested = [a[1] for a in record.extra.get("actions", []) if a and a[0] == "issue"]
        if record.decision is Decision.CONTINUE:
            for kind in requested:
                counts.setdefault((day, kind), [0] * 5)[0] += 1
        for cert in record.certificates:
            row = counts.setdefault((day, cert.kind), [0] * 5)
            if cert.action in HANDED_OVER:
                row[1] += 1
                row[2 if record.fee_collected_yen > 0 else 3] += 1
            elif cert.action in DISCARDED:
                row[4] += 1
    return [
        DailyRegisterRow(day, kind, *values) for (day, kind), values in sorted(counts.items())
    ]


_HEADER = ("受付年月日", "証明書", "通信件数", "交付件数", "有償の交付件数", "無償の交付件数",
           "破棄／職権失効件数")


def daily_register_csv(rows: Iterable[DailyRegisterRow]) -> str:
    """The daily register as CSV with the old register's Japanese column names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEADER)
    for r in rows:
        writer.writerow(
            (r.day, r.certificate, r.requests, r.handed_over, r.paid, r.free,
             r.discarded_or_revoked)
        )
    return out.getvalue()
