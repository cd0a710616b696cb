"""監査ログ (``/audit``): the console's audit, administrators their offices', IT all."""

from __future__ import annotations

from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sync.server.authz import Operation
from sync.server.console.shared import (
    JST,
    Console,
    MenuItem,
    Page,
    Refused,
    allowed,
    may_any,
    render,
    route,
    signed_in,
)
from sync.server.console.store import Staff


def _audit_scope(staff: Staff) -> tuple[list[str] | None, list[str]]:
    """The offices (None: all) whose audit entries the account may read."""
    if not staff.role.office_bound:
        if not may_any(staff, Operation.READ_CONSOLE_AUDIT):
            raise Refused(403, "forbidden")
        return None, []
    offices = [o for o in staff.offices if allowed(staff, Operation.READ_CONSOLE_AUDIT, o)]
    if not offices:
        raise Refused(403, "forbidden")
    return offices, []


async def _audit(request: Request) -> Response:
    session = await signed_in(request)
    console: Console = request.app.state.console
    offices, _ = _audit_scope(session.staff)
    actors: list[str] = []
    if offices is not None:
        staff = await run_in_threadpool(console.store.list_staff, offices)
        # An administrator sees its offices' entries and the sign-ins of their staff.
        actors = [f"staff:{s.staff_id}" for s in staff if set(s.offices) <= set(offices)]
    rows = await run_in_threadpool(console.store.audit, offices, actors)
    names = await run_in_threadpool(console.store.offices)
    return render(
        request,
        "audit.html",
        session=session,
        rows=rows,
        names=names,
        when=lambda at: datetime.fromtimestamp(at, JST).strftime("%Y-%m-%d %H:%M:%S"),
    )


PAGE = Page(
    routes=(route("/audit", _audit),),
    menu=(MenuItem("/audit", "nav.audit", Operation.READ_CONSOLE_AUDIT),),
)
