"""交付記録簿 (``/reports/register.csv``): the month as the old issuance register, an
optional export.

The amended guidelines delete the register (改正後 第2-1-(1)-ケ・コ「(削る)」, and 第4-4-(1)-コ
drops it from the documents to keep), so nothing requires it any more; an office that
still files it gets its columns of 現行 第2-1-(1)-ケ per day and certificate type:

- (ア) 受付年月日: the business date (JST) the certificate was handed over;
- (イ) 電子証明書発行のための通信件数 and (ウ) 交付件数: the certificates issued or renewed.
  A counter records a certificate only once the 機構 answered and it was written to the
  card, so the two are the same figure here;
- (エ) 有償の交付件数 / (オ) 無償の交付件数: of those, in a transaction that collected a fee
  or not;
- (カ) 破棄／職権失効件数: left empty. The records hold no discard during issuance nor an
  ex-officio revocation (a 失効 in a record is one on application), so the console cannot
  count them and writes no number it does not know.

Only counts leave the database (``ConsoleStore.register``): no card, certificate or person.
"""

from __future__ import annotations

import csv
import io

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sync.server.authz import Operation
from sync.server.console import i18n
from sync.server.console.shared import (
    Console,
    Page,
    download,
    month_scope,
    route,
)
from sync.server.console.store import RegisterRow

#: The register's columns (現行 第2-1-(1)-ケ (ア)–(カ)), after the office.
REGISTER_HEADERS = (
    "庁舎コード",
    "庁舎名",
    "(ア) 受付年月日",
    "電子証明書の種類",
    "(イ) 電子証明書発行のための通信件数",
    "(ウ) 電子証明書の交付件数",
    "(エ) 電子証明書の有償の交付件数",
    "(オ) 電子証明書の無償の交付件数",
    "(カ) 破棄／職権失効件数（記録なし）",
)


def register_csv(rows: list[RegisterRow], names: dict[str, str]) -> bytes:
    """The register as CSV: Japanese headers, UTF-8 with a BOM (Excel), RFC 4180 line
    ends; an office name that would start a formula is kept as text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REGISTER_HEADERS)
    for r in rows:
        name = names.get(r.office_code, r.office_code)
        if name.startswith(("=", "+", "-", "@", "\t", "\r")):
            name = "'" + name
        kind = i18n.cert_kind_label(r.certificate_type, "ja")
        writer.writerow(
            (r.office_code, name, r.date, kind, r.delivered, r.delivered, r.paid, r.free, "")
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


async def _register_csv(request: Request) -> Response:
    console: Console = request.app.state.console
    asked = await month_scope(request, Operation.READ_REPORT)
    rows = await run_in_threadpool(console.store.register, asked.first, asked.last, asked.offices)
    return download(
        register_csv(rows, asked.visible),
        "text/csv; charset=utf-8",
        f"register_{asked.month}.csv",
        f"交付記録簿_{asked.office or 'all'}_{asked.month}.csv",
    )


PAGE = Page(routes=(route("/reports/register.csv", _register_csv),))
