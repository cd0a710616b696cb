"""機構への納付 (``/payments``): payments to J-LIS per office and month against the
report's fees payable (改正後 第2-1-(1)-ア-(ケ))."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sync.server.authz import Operation
from sync.server.console import i18n
from sync.server.console.shared import (
    Console,
    MenuItem,
    Page,
    checked_form,
    lang_of,
    month_bounds,
    month_param,
    offices_for,
    posted_office,
    render,
    route,
    signed_in,
    today_jst,
)
from sync.server.console.store import Session


async def _payments_page(request: Request, session: Session, **extra: Any) -> Response:
    console: Console = request.app.state.console
    visible = await offices_for(request, session.staff, Operation.RECORD_PAYMENT)
    month = str(extra.pop("month", "")) or month_param(request, console)[0]
    _, first, last = month_bounds(month)
    offices = sorted(visible)
    rows = await run_in_threadpool(console.store.report, first, last, offices)
    payments = await run_in_threadpool(console.store.payments, offices, month)
    payable = {o: 0 for o in offices}
    for row in rows:
        payable[row.office_code] += row.fee_payable_jlis_yen
    paid = {o: 0 for o in offices}
    for p in payments:
        paid[p.office_code] += p.amount_yen
    balance = [(o, payable[o], paid[o], payable[o] - paid[o]) for o in offices]
    return render(
        request,
        "payments.html",
        int(extra.pop("status", 200)),
        session=session,
        visible=visible,
        month=month,
        balance=balance,
        payments=payments,
        message=extra.pop("message", ""),
        notice=i18n.t("payments_added", lang_of(request))
        if request.query_params.get("m") == "added"
        else "",
        form=extra.pop("form", {}),
        today=today_jst(console).isoformat(),
    )


async def _payments(request: Request) -> Response:
    """Payments to J-LIS per office and month against the report's fees payable."""
    session = await signed_in(request)
    if request.method == "GET":
        return await _payments_page(request, session)
    form = await checked_form(request, session)
    console: Console = request.app.state.console
    visible = await offices_for(request, session.staff, Operation.RECORD_PAYMENT)
    office = posted_office(form, visible)
    month = form.get("month", "")
    month_bounds(month)  # 400 for a month that is none
    kept = {k: v for k, v in form.items() if k != "csrf"}
    from madoguchi.errors import ConfigError

    try:
        amount = int(form.get("amount", "").strip().replace(",", ""))
        await run_in_threadpool(
            lambda: console.store.add_payment(
                office,
                month,
                amount,
                form.get("paid_on", ""),
                form.get("note", "").strip(),
                actor=f"staff:{session.staff.staff_id}",
            )
        )
    except (ValueError, ConfigError):
        message = i18n.t("payments_bad", lang_of(request))
        return await _payments_page(
            request, session, status=400, message=message, form=kept, month=month
        )
    # After a POST, a redirect: Back and reload never enter the payment twice.
    return RedirectResponse("/payments?" + urlencode({"month": month, "m": "added"}), 303)


PAGE = Page(
    routes=(route("/payments", _payments, ("GET", "POST")),),
    menu=(MenuItem("/payments", "nav.payments", Operation.RECORD_PAYMENT),),
)
