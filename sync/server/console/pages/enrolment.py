"""端末の登録 (``/enrolment``): one-time enrolment tokens bound to an office, shown once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
    lang_of,
    office_post,
    offices_for,
    received_label,
    render,
    route,
    signed_in,
)
from sync.server.console.store import TOKEN_HOURS, Session


async def _enrolment_page(request: Request, session: Session, **extra: Any) -> Response:
    console: Console = request.app.state.console
    visible = await offices_for(request, session.staff, Operation.ISSUE_ENROLMENT_TOKEN)
    tokens = await run_in_threadpool(console.store.enrolment_tokens, sorted(visible))
    return render(
        request,
        "enrolment.html",
        int(extra.pop("status", 200)),
        session=session,
        visible=visible,
        tokens=tokens,
        hours=TOKEN_HOURS,
        issued=extra.pop("issued", None),
        message=extra.pop("message", ""),
        form=extra.pop("form", {}),
        when=received_label,
        now_iso=datetime.fromtimestamp(console.now(), UTC).isoformat(),
    )


async def _enrolment(request: Request) -> Response:
    """Issue a counter's one-time enrolment token (shown once) for one of the account's
    offices; the list of the offices' tokens, never the tokens themselves."""
    session = await signed_in(request)
    if request.method == "GET":
        return await _enrolment_page(request, session)
    post = await office_post(request, session, Operation.ISSUE_ENROLMENT_TOKEN)
    form, office = post.form, post.office
    console: Console = request.app.state.console
    device_id = form.get("device_id", "").strip()
    try:
        hours = int(form.get("hours", ""))
    except ValueError as exc:
        raise Refused(400, "bad_request") from exc
    if hours not in TOKEN_HOURS:
        raise Refused(400, "bad_request")
    from madoguchi.errors import ConfigError

    try:
        token, expires = await run_in_threadpool(
            lambda: console.store.issue_enrolment_token(
                device_id,
                office,
                hours,
                console.now(),
                actor=post.actor,
            )
        )
    except ConfigError as exc:
        key = "enrolment_enrolled" if "already" in str(exc) else "enrolment_bad_device"
        message = i18n.t(key, lang_of(request))
        return await _enrolment_page(
            request, session, status=400, message=message, form=post.kept()
        )
    issued = {"device_id": device_id, "office": office, "token": token, "expires": expires}
    return await _enrolment_page(request, session, issued=issued)


PAGE = Page(
    routes=(route("/enrolment", _enrolment, ("GET", "POST")),),
    menu=(MenuItem("/enrolment", "nav.enrolment", Operation.ISSUE_ENROLMENT_TOKEN),),
)
