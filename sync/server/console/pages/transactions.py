"""取引一覧 (``/transactions``): the account's offices' records, filtered, 50 a page;
only whitelisted fields, never personal data."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sync.server.authz import Operation
from sync.server.console import i18n
from sync.server.console.shared import (
    Console,
    MenuItem,
    Page,
    Refused,
    date_param,
    office_scope,
    render,
    route,
    signed_in,
    today_jst,
)
from sync.server.console.store import PAGE_SIZE, TransactionFilter


async def _transactions(request: Request) -> Response:
    session = await signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await office_scope(
        request, session.staff, Operation.READ_TRANSACTIONS
    )
    query = request.query_params
    today = today_jst(console)
    first = date_param(request, "from", today - timedelta(days=6))
    last = date_param(request, "to", today)
    choices = {
        "procedure": dict(i18n.procedure_choices("ja")),
        "decision": dict(i18n.decision_choices("ja")),
        "abandonment": dict(i18n.abandonment_choices("ja")),
    }
    picked = {name: query.get(name, "") for name in choices}
    if any(v and v not in choices[n] for n, v in picked.items()):
        raise Refused(400, "bad_request")
    operator = query.get("operator", "").strip()
    device = query.get("counter", "")
    try:
        offset = int(query.get("offset", "0"))
    except ValueError as exc:
        raise Refused(400, "bad_request") from exc
    if not (0 <= offset <= 1_000_000) or len(operator) > 64 or not operator.isprintable():
        raise Refused(400, "bad_request")
    devices = await run_in_threadpool(console.store.devices, offices)
    if device and device not in {d for d, _ in devices}:
        raise Refused(404, "not_found")
    flt = TransactionFilter(
        first,
        last,
        tuple(offices),
        device,
        picked["procedure"],
        picked["decision"],
        picked["abandonment"],
        operator,
    )
    rows = await run_in_threadpool(console.store.transactions, flt, offset, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    params = {
        "from": first,
        "to": last,
        "office": office,
        "counter": device,
        "operator": operator,
        **picked,
    }

    def page(at: int) -> str:
        return "/transactions?" + urlencode({**params, "offset": str(at)})

    return render(
        request,
        "transactions.html",
        session=session,
        visible=visible,
        office=office,
        devices=devices,
        params=params,
        rows=rows[:PAGE_SIZE],
        offset=offset,
        next_link=page(offset + PAGE_SIZE) if more else "",
        previous_link=page(max(0, offset - PAGE_SIZE)) if offset else "",
    )


PAGE = Page(
    routes=(route("/transactions", _transactions),),
    menu=(MenuItem("/transactions", "nav.transactions", Operation.READ_TRANSACTIONS),),
)
