"""機構への納付 (``/payments``): payments to J-LIS per office and month against the
report's fees payable (改正後 第2-1-(1)-ア-(ケ)), and corrections of payments entered
wrongly (``/payments/correction``): a new entry naming the one it corrects, with a reason;
the original is never changed or deleted."""

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
    Refused,
    actor_of,
    checked_form,
    lang_of,
    month_bounds,
    month_param,
    office_post,
    offices_for,
    render,
    route,
    signed_in,
    today_jst,
)
from sync.server.console.store import Payment, Session

#: The page's ``m`` parameter after a POST: what was just done.
_NOTICES = {"added": "payments_added", "corrected": "payments_corrected"}


def _ledger(payments: list[Payment]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The month's entries in order, a correction with the amount before and after it,
    and what each payment counts for now (its amount and its corrections)."""
    counted: dict[int, int] = {}
    rows: list[dict[str, Any]] = []
    for p in payments:
        if p.corrects_id is None:
            counted[p.id] = p.amount_yen
            rows.append({"entry": p, "before": 0, "after": p.amount_yen})
        else:
            before = counted.get(p.corrects_id, 0)
            counted[p.corrects_id] = before + p.amount_yen
            rows.append({"entry": p, "before": before, "after": before + p.amount_yen})
    return rows, counted


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
    ledger, counted = _ledger(payments)
    notice = request.query_params.get("m", "")
    return render(
        request,
        "payments.html",
        int(extra.pop("status", 200)),
        session=session,
        visible=visible,
        month=month,
        balance=balance,
        ledger=ledger,
        counted=counted,
        originals=[p for p in payments if p.corrects_id is None],
        message=extra.pop("message", ""),
        notice=i18n.t(_NOTICES[notice], lang_of(request)) if notice in _NOTICES else "",
        form=extra.pop("form", {}),
        fix=extra.pop("fix", {}),
        today=today_jst(console).isoformat(),
    )


async def _payments(request: Request) -> Response:
    """Payments to J-LIS per office and month against the report's fees payable."""
    session = await signed_in(request)
    if request.method == "GET":
        return await _payments_page(request, session)
    post = await office_post(request, session, Operation.RECORD_PAYMENT)
    form, office = post.form, post.office
    console: Console = request.app.state.console
    month = form.get("month", "")
    month_bounds(month)  # 400 for a month that is none
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
                actor=post.actor,
            )
        )
    except (ValueError, ConfigError):
        message = i18n.t("payments_bad", lang_of(request))
        return await _payments_page(
            request, session, status=400, message=message, form=post.kept(), month=month
        )
    # After a POST, a redirect: Back and reload never enter the payment twice.
    return RedirectResponse("/payments?" + urlencode({"month": month, "m": "added"}), 303)


async def _correction(request: Request) -> Response:
    """Correct a payment of the account's offices: it was in truth this amount (0: never
    made) on this date, for this reason. Another office's payment, or none, is 404."""
    session = await signed_in(request)
    form = await checked_form(request, session)
    console: Console = request.app.state.console
    visible = await offices_for(request, session.staff, Operation.RECORD_PAYMENT)
    try:
        payment_id = int(form.get("payment", ""))
    except ValueError as exc:
        raise Refused(400, "bad_request") from exc
    original = await run_in_threadpool(console.store.payment, payment_id)
    if original is None or original.office_code not in visible:
        raise Refused(404, "not_found")
    if original.corrects_id is not None:
        raise Refused(400, "bad_request")
    kept = {k: v for k, v in form.items() if k != "csrf"}
    from madoguchi.errors import ConfigError

    try:
        amount = int(form.get("amount", "").strip().replace(",", ""))
        await run_in_threadpool(
            lambda: console.store.correct_payment(
                payment_id,
                amount,
                form.get("paid_on", ""),
                form.get("reason", "").strip(),
                actor=actor_of(session),
            )
        )
    except (ValueError, ConfigError):
        message = i18n.t("payments_correction_bad", lang_of(request))
        return await _payments_page(
            request, session, status=400, message=message, fix=kept, month=original.month
        )
    query = urlencode({"month": original.month, "m": "corrected"})
    return RedirectResponse(f"/payments?{query}", 303)


PAGE = Page(
    routes=(
        route("/payments", _payments, ("GET", "POST")),
        route("/payments/correction", _correction, ("POST",)),
    ),
    menu=(MenuItem("/payments", "nav.payments", Operation.RECORD_PAYMENT),),
)
