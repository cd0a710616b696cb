"""月次・日次交付状況 (``/reports/month``, its CSV and PDF, ``/reports/day``): the
account's offices' issuance, fees collected and payable to J-LIS, from ``report_facts``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sync.server.authz import Operation
from sync.server.console import chart, i18n
from sync.server.console.shared import (
    JST,
    Console,
    MenuItem,
    Page,
    date_param,
    month_param,
    office_scope,
    render,
    route,
    signed_in,
    today_jst,
    totals,
)
from sync.server.report import ReportRow, report_csv_ja


async def _report_month(request: Request) -> Response:
    session = await signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await office_scope(request, session.staff, Operation.READ_REPORT)
    month, first, last = month_param(request, console)
    rows = await run_in_threadpool(console.store.report, first, last, offices)
    by_office = totals(rows, lambda r: (r.office_code, month, r.certificate_type))
    grand = totals(rows, lambda r: ("", month, r.certificate_type))
    daily = rows if office else []
    # The chart: 30 days up to the month's last day (today, in the current month).
    end = min(date.fromisoformat(last), today_jst(console))
    if end < date.fromisoformat(first):
        end = date.fromisoformat(last)
    start, stop = chart.window(end)
    recent = await run_in_threadpool(console.store.report, start, stop, offices)
    drawn = chart.issuance_chart(recent, {o: visible.get(o, o) for o in offices}, end)
    return render(
        request,
        "report_month.html",
        session=session,
        visible=visible,
        office=office,
        month=month,
        by_office=by_office,
        grand=grand,
        daily=daily,
        chart=drawn,
        csv_link="/reports/month.csv?" + urlencode({"office": office, "month": month}),
        pdf_link="/reports/month.pdf?" + urlencode({"office": office, "month": month}),
    )


async def _report_month_csv(request: Request) -> Response:
    session = await signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await office_scope(request, session.staff, Operation.READ_REPORT)
    month, first, last = month_param(request, console)
    rows = await run_in_threadpool(console.store.report, first, last, offices)
    name = f"交付状況_{office or 'all'}_{month}.csv"
    return Response(
        report_csv_ja(rows, visible),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": (
                f"attachment; filename=\"report_{month}.csv\"; filename*=UTF-8''{quote(name)}"
            )
        },
    )


def _month_pdf(
    console: Console, month: str, office: str, visible: dict[str, str], rows: list[ReportRow]
) -> bytes:
    """The month as a printable A4 PDF (WeasyPrint): the offices' totals, and the days
    when one office is asked for. Nothing is fetched: no URL is resolved."""
    import weasyprint

    def refuse(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ValueError(f"the console's PDF fetches nothing ({url})")

    label = {code: name for code, name in visible.items()}
    by_office = totals(rows, lambda r: (r.office_code, month, r.certificate_type))
    grand = totals(rows, lambda r: ("", month, r.certificate_type))
    summary = [(label.get(r.office_code, r.office_code), r, False) for r in by_office]
    summary += [("合計", r, True) for r in grand]
    sections = [{"heading": "庁舎別の月計", "first": "庁舎・窓口", "rows": summary}]
    if office:
        days = [(r.date, r, False) for r in rows]
        sections.append({"heading": "日別", "first": "日付", "rows": days})
    html = console.templates.get_template("report_print.html").render(
        title=f"{month} の交付状況",
        scope=label.get(office, office) if office else "担当のすべての庁舎",
        printed=datetime.fromtimestamp(console.now(), JST).strftime("%Y-%m-%d %H:%M"),
        sections=sections,
        kind=lambda k: i18n.cert_kind_label(k, "ja"),
    )
    pdf: bytes = weasyprint.HTML(string=html, url_fetcher=refuse).write_pdf()
    return pdf


async def _report_month_pdf(request: Request) -> Response:
    session = await signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await office_scope(request, session.staff, Operation.READ_REPORT)
    month, first, last = month_param(request, console)
    rows = await run_in_threadpool(console.store.report, first, last, offices)
    pdf = await run_in_threadpool(_month_pdf, console, month, office, visible, rows)
    name = f"交付状況_{office or 'all'}_{month}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "content-disposition": (
                f"attachment; filename=\"report_{month}.pdf\"; filename*=UTF-8''{quote(name)}"
            )
        },
    )


async def _report_day(request: Request) -> Response:
    session = await signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await office_scope(request, session.staff, Operation.READ_REPORT)
    day = date_param(request, "date", today_jst(console))
    rows = await run_in_threadpool(console.store.report, day, day, offices)
    grand = totals(rows, lambda r: ("", day, r.certificate_type))
    return render(
        request,
        "report_day.html",
        session=session,
        visible=visible,
        office=office,
        day=day,
        rows=rows,
        grand=grand,
    )


PAGE = Page(
    routes=(
        route("/reports/month", _report_month),
        route("/reports/month.csv", _report_month_csv),
        route("/reports/month.pdf", _report_month_pdf),
        route("/reports/day", _report_day),
    ),
    menu=(
        MenuItem("/reports/month", "nav.month", Operation.READ_REPORT),
        MenuItem("/reports/day", "nav.day", Operation.READ_REPORT),
    ),
)
