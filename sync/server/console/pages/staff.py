"""職員アカウント (``/staff``): the accounts an administrator (its offices) or IT may
manage, adding one (its TOTP secret shown once) and unlocking one."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sync.server.authz import Operation, Role
from sync.server.console import i18n
from sync.server.console.shared import (
    Console,
    MenuItem,
    Page,
    Refused,
    actor_of,
    allowed,
    checked_form,
    lang_of,
    may_any,
    render,
    route,
    signed_in,
    visible_offices,
)
from sync.server.console.store import Session, Staff


def _manageable(staff: Staff, target: Staff) -> bool:
    """An account the signed-in one may unlock: all its offices are the manager's own
    for MANAGE_STAFF (an office-less IT account: IT only)."""
    if not target.offices:
        return not staff.role.office_bound and may_any(staff, Operation.MANAGE_STAFF)
    return all(allowed(staff, Operation.MANAGE_STAFF, o) for o in target.offices)


async def _staff_page(request: Request, session: Session, **extra: Any) -> Response:
    console: Console = request.app.state.console
    staff = session.staff
    if not may_any(staff, Operation.MANAGE_STAFF):
        raise Refused(403, "forbidden")
    visible = await visible_offices(request, staff, Operation.MANAGE_STAFF)
    everyone = await run_in_threadpool(
        console.store.list_staff, None if not staff.role.office_bound else list(visible)
    )
    roles = [Role.STAFF, Role.ADMINISTRATOR] + ([] if staff.role.office_bound else [Role.IT])
    return render(
        request,
        "staff.html",
        int(extra.pop("status", 200)),
        session=session,
        accounts=[a for a in everyone if _manageable(staff, a)],
        visible=visible,
        roles=roles,
        added=extra.pop("added", None),
        message=extra.pop("message", ""),
        form=extra.pop("form", {}),
    )


async def _staff(request: Request) -> Response:
    session = await signed_in(request)
    if request.method == "GET":
        return await _staff_page(request, session)
    form = await checked_form(request, session)
    console: Console = request.app.state.console
    staff = session.staff
    if not may_any(staff, Operation.MANAGE_STAFF):
        raise Refused(403, "forbidden")
    try:
        role = Role(form.get("role", ""))
    except ValueError as exc:
        raise Refused(400, "bad_request") from exc
    offices = [k.removeprefix("office:") for k in form if k.startswith("office:")]
    if role is Role.IT and staff.role.office_bound:
        raise Refused(403, "forbidden")
    if role not in (Role.STAFF, Role.ADMINISTRATOR, Role.IT):
        raise Refused(400, "bad_request")
    if any(not allowed(staff, Operation.MANAGE_STAFF, o) for o in offices):
        raise Refused(404, "not_found")
    from madoguchi.errors import ConfigError

    try:
        added = await run_in_threadpool(
            lambda: console.store.add_staff(
                form.get("staff_id", "").strip(),
                form.get("display_name", "").strip(),
                role,
                form.get("password", ""),
                offices if role.office_bound else [],
                actor=f"staff:{staff.staff_id}",
            )
        )
    except ConfigError as exc:
        kept = {k: v for k, v in form.items() if k not in ("password", "csrf")}
        message = i18n.t(_account_problem(str(exc)), lang_of(request))
        return await _staff_page(request, session, status=400, message=message, form=kept)
    return await _staff_page(request, session, added=added)


def _account_problem(error: str) -> str:
    """The console string for why the store refused a new account (its errors are the
    CLI's English; a Japanese page shows its own words)."""
    for needle, key in (
        ("already", "staff_exists"),
        ("password", "password_short"),
        ("at least one office", "need_office"),
        ("staff id", "bad_staff_id"),
        ("display name", "bad_name"),
    ):
        if needle in error:
            return key
    return "bad_request"


async def _unlock(request: Request) -> Response:
    session = await signed_in(request)
    form = await checked_form(request, session)
    console: Console = request.app.state.console
    target = await run_in_threadpool(console.store.staff, form.get("staff_id", ""))
    if target is None or not _manageable(session.staff, target):
        raise Refused(404, "not_found")
    await run_in_threadpool(
        lambda: console.store.unlock(target.staff_id, actor=actor_of(session))
    )
    return await _staff_page(request, session, message=i18n.t("unlocked", lang_of(request)))


PAGE = Page(
    routes=(
        route("/staff", _staff, ("GET", "POST")),
        route("/staff/unlock", _unlock, ("POST",)),
    ),
    menu=(MenuItem("/staff", "nav.staff", Operation.MANAGE_STAFF),),
)
