"""運用状況の照会 (``/registry``): a card's 運用状況 or a certificate's status with its
history, and the changes the account may make (``/registry/card``)."""

from __future__ import annotations

from datetime import UTC, datetime
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
    allowed,
    checked_form,
    lang_of,
    may_any,
    received_label,
    render,
    route,
    signed_in,
)
from sync.server.registry import OperationStatus


async def _registry(request: Request) -> Response:
    """Look up a card's 運用状況 or a certificate's status, with the changes of it the
    account may read (its offices' entries; IT all)."""
    from device.records import find_forbidden_data
    from sync.protocol import is_clean_id

    session = await signed_in(request)
    console: Console = request.app.state.console
    staff = session.staff
    if not may_any(staff, Operation.READ_CARD_STATUS):
        raise Refused(403, "forbidden")
    what = request.query_params.get("what", "card")
    if what not in ("card", "certificate"):
        raise Refused(400, "bad_request")
    key = request.query_params.get("key", "").strip()
    entry, history, problem, status = None, [], "", 200
    if key:
        if find_forbidden_data(key):
            problem, status = "registry_my_number", 400
        elif not is_clean_id(key):
            problem, status = "registry_bad_key", 400
        else:
            lookup = (
                console.store.registry.card_status
                if what == "card"
                else (console.store.registry.certificate_status)
            )
            entry = await run_in_threadpool(lookup, key)
            changes = await run_in_threadpool(console.store.registry_history, what, key)
            history = [
                c
                for c in changes
                if not staff.role.office_bound
                or (
                    c.office_code is not None
                    and allowed(staff, Operation.READ_REGISTRY_AUDIT, c.office_code)
                )
            ]
    known = await run_in_threadpool(console.store.offices)
    # Where this account may change the card: the entry's office, or (a card the registry
    # does not know yet) any office it may change cards of.
    changeable: dict[str, str] = {}
    if what == "card" and key and not problem and staff.role.office_bound:
        owners = [entry.office_code] if entry is not None and entry.office_code else []
        if entry is None:
            owners = list(staff.offices)
        changeable = {
            o: known.get(o, o) for o in owners if allowed(staff, Operation.CHANGE_CARD_STATUS, o)
        }
    if not message_key_ok(request.query_params.get("m", "")):
        raise Refused(400, "bad_request")
    return render(
        request,
        "registry.html",
        status,
        session=session,
        what=what,
        key=key if not problem else "",
        asked=bool(key) and not problem,
        entry=entry,
        history=history,
        message=i18n.t(problem, lang_of(request)) if problem else "",
        names=known,
        when=received_label,
        changeable=changeable,
        statuses=list(OperationStatus),
        notice=i18n.t("registry_changed", lang_of(request))
        if request.query_params.get("m") == "changed"
        else "",
    )


def message_key_ok(key: str) -> bool:
    """The registry page's ``m`` parameter: empty or ``changed``."""
    return key in ("", "changed")


async def _registry_card(request: Request) -> Response:
    """Change a card's 運用状況 as the account (its office's card only, as the matrix says);
    the registry audits it, and the console's audit has it too."""
    from device.records import find_forbidden_data
    from sync.errors import NotAllowedError
    from sync.protocol import is_clean_id

    session = await signed_in(request)
    form = await checked_form(request, session)
    console: Console = request.app.state.console
    staff = session.staff
    if not may_any(staff, Operation.CHANGE_CARD_STATUS):
        raise Refused(403, "forbidden")
    key = form.get("key", "").strip()
    if not is_clean_id(key) or find_forbidden_data(key):
        raise Refused(400, "bad_request")
    try:
        status = OperationStatus(form.get("status", ""))
    except ValueError as exc:
        raise Refused(400, "bad_request") from exc
    reason = form.get("reason", "").strip()
    if len(reason) > 200 or not reason.isprintable():
        raise Refused(400, "bad_request")
    entry = await run_in_threadpool(console.store.registry.card_status, key)
    office = entry.office_code if entry is not None else form.get("office", "")
    if not office or not allowed(staff, Operation.CHANGE_CARD_STATUS, office):
        raise Refused(404, "not_found")
    actor = staff.principal(office)
    try:
        await run_in_threadpool(
            lambda: console.store.registry.set_card_status(
                key,
                status,
                reason,
                datetime.fromtimestamp(console.now(), UTC).isoformat(),
                actor=actor,
            )
        )
    except NotAllowedError as exc:  # the entry moved to another office meanwhile
        raise Refused(404, "not_found") from exc
    await run_in_threadpool(
        console.store.note,
        f"staff:{staff.staff_id}",
        "card_status_changed",
        office,
        f"{key} → {status.label}",
    )
    query = urlencode({"what": "card", "key": key, "m": "changed"})
    return RedirectResponse(f"/registry?{query}", 303)


PAGE = Page(
    routes=(
        route("/registry", _registry),
        route("/registry/card", _registry_card, ("POST",)),
    ),
    menu=(MenuItem("/registry", "nav.registry", Operation.READ_CARD_STATUS),),
)
