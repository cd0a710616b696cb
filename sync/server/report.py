"""The daily 交付状況 (issuance status) report, per office, date and certificate type.

For each office and business date (the JST date the transaction completed), and
each certificate type (``sign`` 署名用, ``auth`` 利用者証明用), it counts
certificates issued, renewed and revoked and sums the fees collected at the
counter and the fees payable to J-LIS (機構). A transaction's fee is split evenly
over the certificates it issued or renewed (the remainder goes to the first
type in sort order); a fee with no certificate is reported under type ``none``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

#: Certificate-type label for fees that went with no certificate.
NO_CERTIFICATE = "none"


@dataclass(slots=True)
class ReportRow:
    """One line of the report."""

    office_code: str
    date: str
    certificate_type: str
    transactions: int = 0
    issued: int = 0
    renewed: int = 0
    revoked: int = 0
    fee_collected_yen: int = 0
    fee_payable_jlis_yen: int = 0


def _split(total: int, parts: int) -> list[int]:
    base, rest = divmod(total, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def daily_report(date: str, records: Iterable[tuple[str, dict[str, Any]]]) -> list[ReportRow]:
    """Aggregate ``(office_code, payload)`` pairs of one business date."""
    rows: dict[tuple[str, str], ReportRow] = {}

    def row(office: str, kind: str) -> ReportRow:
        key = (office, kind)
        if key not in rows:
            rows[key] = ReportRow(office, date, kind)
        return rows[key]

    for office, payload in records:
        certs = [c for c in payload.get("certificates") or () if isinstance(c, dict)]
        kinds_touched: set[str] = set()
        for cert in certs:
            kind = str(cert.get("kind", "")) or NO_CERTIFICATE
            action = cert.get("action")
            target = row(office, kind)
            if action in ("issued", "renewed", "revoked"):
                setattr(target, str(action), getattr(target, str(action)) + 1)
            kinds_touched.add(kind)
        paid_kinds = sorted(
            str(c.get("kind", "")) or NO_CERTIFICATE
            for c in certs
            if c.get("action") in ("issued", "renewed")
        )
        collected = _int(payload.get("fee_collected_yen"))
        payable = _int(payload.get("fee_payable_jlis_yen"))
        if (collected or payable) and not paid_kinds:
            paid_kinds = [NO_CERTIFICATE]
        if paid_kinds:
            for kind, c_share, p_share in zip(
                paid_kinds,
                _split(collected, len(paid_kinds)),
                _split(payable, len(paid_kinds)),
                strict=True,
            ):
                target = row(office, kind)
                target.fee_collected_yen += c_share
                target.fee_payable_jlis_yen += p_share
                kinds_touched.add(kind)
        for kind in kinds_touched:
            row(office, kind).transactions += 1
    return [rows[key] for key in sorted(rows)]


def report_json(date: str, rows: list[ReportRow]) -> dict[str, Any]:
    """The JSON form of the report."""
    return {"date": date, "rows": [asdict(r) for r in rows]}


def report_csv(rows: list[ReportRow]) -> str:
    """The CSV form (header line first, UTF-8, RFC 4180 line ends)."""
    out = io.StringIO()
    names = [f.name for f in fields(ReportRow)]
    writer = csv.DictWriter(out, fieldnames=names)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _cell(v) for k, v in asdict(r).items()})
    return out.getvalue()


#: The Japanese headers of :func:`report_csv_ja`, in the order of its columns.
JA_HEADERS = (
    "庁舎コード",
    "庁舎名",
    "日付",
    "証明書の種類",
    "取引件数",
    "発行",
    "更新",
    "失効",
    "徴収手数料（円）",
    "機構への納付額（円）",
)
_JA_KINDS = {
    "sign": "署名用電子証明書",
    "auth": "利用者証明用電子証明書",
    NO_CERTIFICATE: "証明書なし",
}


def report_csv_ja(rows: Iterable[ReportRow], office_names: dict[str, str]) -> bytes:
    """The report as the office opens it in a spreadsheet: Japanese headers and
    certificate types, UTF-8 with a byte-order mark (so Excel reads it as UTF-8), RFC
    4180 line ends, no cell that could run as a formula."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(JA_HEADERS)
    for r in rows:
        writer.writerow(
            _cell(v)
            for v in (
                r.office_code,
                office_names.get(r.office_code, r.office_code),
                r.date,
                _JA_KINDS.get(r.certificate_type, r.certificate_type),
                r.transactions,
                r.issued,
                r.renewed,
                r.revoked,
                r.fee_collected_yen,
                r.fee_payable_jlis_yen,
            )
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


#: What makes a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (``=HYPERLINK(...)`` in a
    device-chosen field) is written with a leading apostrophe, so it stays text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
