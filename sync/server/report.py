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


def report_sql(dialect: str, offices: int) -> str:
    """The same report as :func:`daily_report`, computed by the database: one row per
    office, business date (from the first parameter to the second) and certificate
    type, of ``offices`` office codes (the parameters after the dates), in the columns
    of :class:`ReportRow`. ``dialect`` is ``"sqlite"`` (JSON1) or ``"postgresql"``
    (jsonb); the parameter marker is ``?``. A test holds it equal to
    :func:`daily_report` on both databases.
    """
    marks = ", ".join("?" for _ in range(offices))
    if dialect == "postgresql":
        doc = "payload::jsonb"
        elements = "CROSS JOIN LATERAL jsonb_array_elements(recs.doc -> 'certificates') AS c(value)"
        text = "({json} ->> '{name}')"
        yen = (
            "CASE WHEN jsonb_typeof(doc -> '{name}') = 'number'"
            " AND (doc ->> '{name}') ~ '^[0-9]+$' THEN (doc ->> '{name}')::bigint ELSE 0 END"
        )
    else:
        doc = "payload"
        elements = "CROSS JOIN json_each(recs.doc, '$.certificates') AS c"
        text = "json_extract({json}, '$.{name}')"
        yen = (
            "CASE WHEN json_type(doc, '$.{name}') = 'integer'"
            " THEN json_extract(doc, '$.{name}') ELSE 0 END"
        )
    kind = f"COALESCE(NULLIF({text.format(json='c.value', name='kind')}, ''), '{NO_CERTIFICATE}')"
    action = text.format(json="c.value", name="action")
    collected, payable = yen.format(name="fee_collected_yen"), yen.format(name="fee_payable_jlis_yen")
    # A record's fee is split evenly over its issued and renewed certificates in kind
    # order, the remainder one yen each to the first (as _split does); a fee with no
    # such certificate goes to type "none".
    # (PostgreSQL spells the remainder MOD(): psycopg reads a bare percent sign as a
    # parameter; SQLite has MOD() only when built with its math functions.)
    rest = "MOD({fee}, COALESCE(paid.n, 1))" if dialect == "postgresql" else "{fee} % COALESCE(paid.n, 1)"
    share = (
        "{fee} / COALESCE(paid.n, 1) + CASE WHEN COALESCE(paid.rn, 0) < " + rest +
        " THEN 1 ELSE 0 END"
    )
    return f"""
WITH recs AS (
  SELECT office_code, business_date AS day, device_id, seq, {doc} AS doc FROM records
  WHERE business_date BETWEEN ? AND ? AND office_code IN ({marks})
),
certs AS (
  SELECT recs.office_code, recs.day, recs.device_id, recs.seq, {kind} AS kind, {action} AS action
  FROM recs {elements}
),
paid AS (
  SELECT device_id, seq, kind,
    ROW_NUMBER() OVER (PARTITION BY device_id, seq ORDER BY kind) - 1 AS rn,
    COUNT(*) OVER (PARTITION BY device_id, seq) AS n
  FROM certs WHERE action IN ('issued', 'renewed')
),
fees AS (
  SELECT office_code, day, device_id, seq, {collected} AS collected, {payable} AS payable
  FROM recs
),
shares AS (
  SELECT fees.office_code, fees.day, fees.device_id, fees.seq,
    COALESCE(paid.kind, '{NO_CERTIFICATE}') AS kind,
    {share.format(fee="fees.collected")} AS collected,
    {share.format(fee="fees.payable")} AS payable
  FROM fees LEFT JOIN paid ON paid.device_id = fees.device_id AND paid.seq = fees.seq
  WHERE paid.kind IS NOT NULL OR fees.collected <> 0 OR fees.payable <> 0
),
touched AS (
  SELECT office_code, day, device_id, seq, kind FROM certs
  UNION SELECT office_code, day, device_id, seq, kind FROM shares
)
SELECT t.office_code, t.day, t.kind, t.transactions,
  COALESCE(c.issued, 0), COALESCE(c.renewed, 0), COALESCE(c.revoked, 0),
  COALESCE(s.collected, 0), COALESCE(s.payable, 0)
FROM (
  SELECT office_code, day, kind, COUNT(*) AS transactions FROM touched
  GROUP BY office_code, day, kind
) t
LEFT JOIN (
  SELECT office_code, day, kind,
    SUM(CASE WHEN action = 'issued' THEN 1 ELSE 0 END) AS issued,
    SUM(CASE WHEN action = 'renewed' THEN 1 ELSE 0 END) AS renewed,
    SUM(CASE WHEN action = 'revoked' THEN 1 ELSE 0 END) AS revoked
  FROM certs GROUP BY office_code, day, kind
) c ON c.office_code = t.office_code AND c.day = t.day AND c.kind = t.kind
LEFT JOIN (
  SELECT office_code, day, kind, SUM(collected) AS collected, SUM(payable) AS payable
  FROM shares GROUP BY office_code, day, kind
) s ON s.office_code = t.office_code AND s.day = t.day AND s.kind = t.kind
ORDER BY t.office_code, t.day, t.kind
"""  # noqa: S608 - only "?" markers and this module's own fragments are put in


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
_JA_KINDS = {"sign": "署名用電子証明書", "auth": "利用者証明用電子証明書", NO_CERTIFICATE: "証明書なし"}


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
