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

    It relies on what ingest checked (``sync.protocol.check_certificates``): a
    certificate's kind is ``sign`` or ``auth`` and its action issued, renewed or revoked.
    So each record reduces to six counts and two fees, and its fee split is arithmetic:
    the issued and renewed certificates in kind order are the ``auth`` ones, then the
    ``sign`` ones, and the remainder goes a yen at a time to the first (as ``_split``).
    """
    marks = ", ".join("?" for _ in range(offices))
    if dialect == "postgresql":
        text = "({json} ->> '{name}')"
        # An integer that fits in bigint (Python's report takes any int; no fee is that big).
        # No question mark in the pattern: the dialect turns every one into a parameter.
        yen = (
            "CASE WHEN jsonb_typeof(d.{name}) = 'number'"
            " AND d.{name}::text ~ '^-{{0,1}}[0-9]{{1,18}}$' THEN d.{name}::text::bigint"
            " ELSE 0 END"
        )
        # psycopg reads a bare percent sign as a parameter: MOD() instead.
        mod = "MOD({a}, {b})"
    else:
        text = "json_extract({json}, '$.{name}')"
        yen = (
            "CASE WHEN json_type(doc, '$.{name}') = 'integer'"
            " THEN json_extract(doc, '$.{name}') ELSE 0 END"
        )
        mod = "({a} % {b})"
    kind = text.format(json="c.value", name="kind")
    action = text.format(json="c.value", name="action")

    def count(k: str, a: str) -> str:
        return f"SUM(CASE WHEN {kind} = '{k}' AND {action} = '{a}' THEN 1 ELSE 0 END)"

    def counts() -> str:
        return (
            f"{count('auth', 'issued')} AS a_iss, {count('auth', 'renewed')} AS a_ren,"
            f" {count('auth', 'revoked')} AS a_rev, {count('sign', 'issued')} AS s_iss,"
            f" {count('sign', 'renewed')} AS s_ren, {count('sign', 'revoked')} AS s_rev"
        )

    fees = (
        f"{yen.format(name='fee_collected_yen')} AS coll,"
        f" {yen.format(name='fee_payable_jlis_yen')} AS pay"
    )
    where = f"business_date BETWEEN ? AND ? AND office_code IN ({marks})"
    if dialect == "postgresql":
        # Each payload is parsed once, by jsonb_to_record in FROM (a cast in the select
        # list would be copied into every use and parsed again each time), and its
        # certificates are counted by an aggregate over its own array: no grouping of
        # the whole month by record.
        per = f"""
  SELECT r.office_code, r.business_date AS day, k.*, {fees}
  FROM records AS r
  CROSS JOIN LATERAL jsonb_to_record(r.payload::jsonb)
    AS d(certificates jsonb, fee_collected_yen jsonb, fee_payable_jlis_yen jsonb)
  CROSS JOIN LATERAL (
    SELECT {counts()} FROM jsonb_array_elements(d.certificates) AS c(value)
  ) AS k
  WHERE r.{where}"""  # noqa: S608 - only "?" markers and this module's fragments
    else:
        per = f"""
  SELECT r.office_code, r.business_date AS day, {counts()},
    MAX({yen.format(name="fee_collected_yen")}) AS coll,
    MAX({yen.format(name="fee_payable_jlis_yen")}) AS pay
  FROM (SELECT *, payload AS doc FROM records WHERE {where}) AS r
  LEFT JOIN json_each(r.doc, '$.certificates') AS c
  GROUP BY r.device_id, r.seq, r.office_code, r.business_date"""  # noqa: S608

    def rest(fee: str) -> str:  # the remainder of fee / n, 0 <= rest < n (Python's divmod)
        inner = mod.format(a=fee, b="n")
        return mod.format(a=f"({inner} + n)", b="n")

    def shares(fee: str) -> str:
        r = rest(fee)
        q = f"(({fee}) - {r}) / n"
        return (
            f"CASE WHEN n = 0 THEN 0 ELSE a_paid * {q}"
            f" + CASE WHEN a_paid < {r} THEN a_paid ELSE {r} END END AS auth_{fee},"
            f" CASE WHEN n = 0 THEN 0 ELSE s_paid * {q}"
            f" + CASE WHEN {r} > a_paid THEN {r} - a_paid ELSE 0 END END AS sign_{fee},"
            f" CASE WHEN n = 0 THEN {fee} ELSE 0 END AS none_{fee}"
        )

    def per_kind(k: str, touched: str, columns: tuple[str, str, str]) -> str:
        iss, ren, rev = columns
        return (
            f"SELECT office_code, day, '{k}' AS kind,"  # noqa: S608 - fragments of this module
            f" SUM(CASE WHEN {touched} THEN 1 ELSE 0 END), SUM({iss}), SUM({ren}), SUM({rev}),"
            f" SUM({k}_coll), SUM({k}_pay) FROM shares GROUP BY office_code, day"
            f" HAVING SUM(CASE WHEN {touched} THEN 1 ELSE 0 END) > 0"
        )

    # PostgreSQL would copy each record's fee expressions into every share formula that
    # uses them; materialised, they are computed once per record.
    materialized = "MATERIALIZED " if dialect == "postgresql" else ""
    return f"""
WITH per AS {materialized}({per}
),
paid AS (
  SELECT office_code, day, COALESCE(a_iss, 0) AS a_iss, COALESCE(a_ren, 0) AS a_ren,
    COALESCE(a_rev, 0) AS a_rev, COALESCE(s_iss, 0) AS s_iss, COALESCE(s_ren, 0) AS s_ren,
    COALESCE(s_rev, 0) AS s_rev, coll, pay,
    COALESCE(a_iss + a_ren, 0) AS a_paid, COALESCE(s_iss + s_ren, 0) AS s_paid,
    COALESCE(a_iss + a_ren + s_iss + s_ren, 0) AS n
  FROM per
),
shares AS (
  SELECT paid.*, {shares("coll")}, {shares("pay")} FROM paid
)
{per_kind("auth", "a_iss + a_ren + a_rev > 0", ("a_iss", "a_ren", "a_rev"))}
UNION ALL
{per_kind("none", "n = 0 AND (coll <> 0 OR pay <> 0)", ("0", "0", "0"))}
UNION ALL
{per_kind("sign", "s_iss + s_ren + s_rev > 0", ("s_iss", "s_ren", "s_rev"))}
ORDER BY 1, 2, 3
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
