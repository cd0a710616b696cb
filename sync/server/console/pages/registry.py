"""運用状況の照会 (``/registry``): a card's 運用状況 or a certificate's status with its
history, and the changes the account may make: a card's 運用状況 (``/registry/card``) and
a certificate's status (``/registry/certificate``), its own offices' entries only."""

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
from sync.server.console.store import Session, Staff
from sync.server.registry import (
    CERTIFICATE_TRANSITIONS,
    CertificateStatus,
    OperationStatus,
    certificate_move_refused,
)
from sync.server.repository import StatusEntry

#: The statuses office staff may give a certificate from the console (第4-3): 一時保留
#: (its card is reported lost) and 失効 (on a revocation application; final). Never 有効:
#: only the issuing authority registers a certificate, and a held one is revoked, not
#: released (第4-3); a card back 運用中 releases its holds through the card's 運用状況.
CONSOLE_CERTIFICATE_STATUSES = (CertificateStatus.TEMPORARY_HOLD, CertificateStatus.REVOKED)
#: The registry page's ``m`` parameter: what was just changed.
_NOTICES = {"changed": "registry_changed", "cert_changed": "registry_cert_changed"}


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
    notice = request.query_params.get("m", "")
    if notice and notice not in _NOTICES:
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
        cert_choices=_certificate_choices(staff, entry) if what == "certificate" else [],
        notice=i18n.t(_NOTICES[notice], lang_of(request)) if notice else "",
    )


def _certificate_choices(staff: Staff, entry: StatusEntry | None) -> list[CertificateStatus]:
    """The statuses this account may give the certificate ``entry`` now: its own office's
    entry, a move the registry's state machine allows (失効 is final)."""
    if entry is None or not entry.office_code:
        return []
    if not allowed(staff, Operation.CHANGE_CERTIFICATE_STATUS, entry.office_code):
        return []
    try:
        current = CertificateStatus(entry.status)
    except ValueError:
        return []
    return [
        s
        for s in CONSOLE_CERTIFICATE_STATUSES
        if s is not current and s in CERTIFICATE_TRANSITIONS[current]
    ]


async def _change_form(
    request: Request, operation: Operation
) -> tuple[Session, dict[str, str], str]:
    """A registry change's post: the session, its form (CSRF checked) and the entry's key;
    403 when the account may make this change nowhere, 400 for a key that is none."""
    from device.records import find_forbidden_data
    from sync.protocol import is_clean_id

    session = await signed_in(request)
    form = await checked_form(request, session)
    if not may_any(session.staff, operation):
        raise Refused(403, "forbidden")
    key = form.get("key", "").strip()
    if not is_clean_id(key) or find_forbidden_data(key):
        raise Refused(400, "bad_request")
    return session, form, key


async def _registry_card(request: Request) -> Response:
    """Change a card's 運用状況 as the account (its office's card only, as the matrix says);
    the registry audits it, and the console's audit has it too."""
    from sync.errors import NotAllowedError

    session, form, key = await _change_form(request, Operation.CHANGE_CARD_STATUS)
    console: Console = request.app.state.console
    staff = session.staff
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


async def _registry_certificate(request: Request) -> Response:
    """Put a certificate of the account's office on 一時保留 or revoke it (失効, with a
    confirmation), with a reason: the repository's ``set_certificate_status`` as the
    account's principal, so the matrix and the state machine rule it and
    ``registry_audit`` records it; the console's audit has it too. Another office's
    certificate, or one the registry does not hold, is 404 (the same answer)."""
    from sync.errors import NotAllowedError, RegistryRuleError

    session, form, key = await _change_form(request, Operation.CHANGE_CERTIFICATE_STATUS)
    console: Console = request.app.state.console
    staff = session.staff
    try:
        status = CertificateStatus(form.get("status", ""))
    except ValueError as exc:
        raise Refused(400, "bad_request") from exc
    if status not in CONSOLE_CERTIFICATE_STATUSES:
        raise Refused(400, "registry_cert_status_not_yours")
    reason = form.get("reason", "").strip()
    if not reason:
        raise Refused(400, "registry_reason_needed")
    if len(reason) > 200 or not reason.isprintable():
        raise Refused(400, "registry_bad_reason")
    entry = await run_in_threadpool(console.store.registry.certificate_status, key)
    office = entry.office_code if entry is not None else None
    if (
        entry is None
        or not office
        or not allowed(staff, Operation.CHANGE_CERTIFICATE_STATUS, office)
    ):
        raise Refused(404, "not_found")
    if status is CertificateStatus.REVOKED and form.get("confirm") != "yes":
        raise Refused(400, "registry_confirm_revoke")
    before = CertificateStatus(entry.status)
    if before is status or certificate_move_refused(before, status, by_record=False):
        raise Refused(409, "registry_cert_refused")
    actor = staff.principal(office)
    try:
        await run_in_threadpool(
            lambda: console.store.registry.set_certificate_status(
                key,
                entry.detail,
                status,
                datetime.fromtimestamp(console.now(), UTC).isoformat(),
                actor=actor,
                office=office,
                why=reason,
            )
        )
    except NotAllowedError as exc:  # the entry moved to another office meanwhile
        raise Refused(404, "not_found") from exc
    except RegistryRuleError as exc:  # changed meanwhile (e.g. revoked in another tab)
        raise Refused(409, "registry_cert_refused") from exc
    await run_in_threadpool(
        console.store.note,
        f"staff:{staff.staff_id}",
        "certificate_status_changed",
        office,
        f"{key} {before.label} → {status.label}: {reason}",
    )
    query = urlencode({"what": "certificate", "key": key, "m": "cert_changed"})
    return RedirectResponse(f"/registry?{query}", 303)


PAGE = Page(
    routes=(
        route("/registry", _registry),
        route("/registry/card", _registry_card, ("POST",)),
        route("/registry/certificate", _registry_certificate, ("POST",)),
    ),
    menu=(MenuItem("/registry", "nav.registry", Operation.READ_CARD_STATUS),),
)
