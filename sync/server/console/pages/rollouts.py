"""段階配信 (``/rollouts``): IT starts (widens a prepared rollout), widens, halts, resumes
and aborts staged rollouts of updates (``updater.rollout``), and reads their audit.

The console never signs anything: a rollout is prepared on IT's machine with its signed
pointer (``madoguchi update rollout start`` with no office and no percentage), and offered
from here. Every change is a CSRF-checked form, in the update audit under the staff
member's id (``console:<id>``), shown below with display names, never raw ids.
"""

from __future__ import annotations

import re
from typing import Any

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
    checked_form,
    lang_of,
    may_any,
    received_label,
    render,
    route,
    signed_in,
)
from sync.server.console.store import Session
from updater.rollout import ROLLOUT_ACTIONS, RolloutChange
from updater.store import RolloutRefusedError, rollout_store

#: What the console may do to a rollout (``complete`` stays with IT's CLI).
_ACTIONS = tuple(a for a in ROLLOUT_ACTIONS if a != "complete")
_AUDIT_ROWS = 30


def _actor(actor: str, lang: str, names: dict[str, str]) -> str:
    if actor.startswith("console:"):
        who = names.get(actor.removeprefix("console:"), i18n.t("rollout_actor.other_staff", lang))
        return i18n.t("rollout_actor.console", lang, name=who)
    key = f"rollout_actor.{actor}"
    return i18n.t(key, lang) if actor in ("it", "server") else actor


async def _page(request: Request, session: Session, **extra: Any) -> Response:
    console: Console = request.app.state.console
    store = rollout_store(console.store.dialect)
    rollouts = await run_in_threadpool(store.rollouts)
    audit = await run_in_threadpool(store.audit, _AUDIT_ROWS)
    offices = await run_in_threadpool(console.store.offices)
    staff = await run_in_threadpool(console.store.list_staff, None)
    names = {s.staff_id: s.display_name for s in staff}
    lang = lang_of(request)
    for row in audit:
        row["who"] = _actor(str(row["actor"]), lang, names)
        key = f"rollout_action.{row['action']}"
        row["what"] = i18n.t(key if str(row["action"]).startswith("rollout-") else
                             "rollout_action.other", lang)
    return render(
        request,
        "rollouts.html",
        int(extra.pop("status", 200)),
        session=session,
        rollouts=rollouts,
        audit=[a for a in audit if str(a["action"]).startswith("rollout-")],
        offices=offices,
        message=extra.pop("message", ""),
        when=received_label,
    )


async def _rollouts(request: Request) -> Response:
    """The rollouts, their controls and their audit (IT only)."""
    session = await signed_in(request)
    if not may_any(session.staff, Operation.UPDATE_ROLLOUT):
        raise Refused(403, "forbidden")
    if request.method == "GET":
        changed = request.query_params.get("changed", "")
        message = ""
        if changed in ("active", "halted", "aborted", "complete"):
            lang = lang_of(request)
            message = i18n.t("rollout_done", lang, what=i18n.t(f"rollout_state.{changed}", lang))
        return await _page(request, session, message=message)
    form = await checked_form(request, session)
    action = form.get("action", "")
    number = form.get("rollout", "")
    if action not in _ACTIONS or not re.fullmatch(r"[0-9]{1,18}", number):
        raise Refused(400, "bad_request")
    console: Console = request.app.state.console
    known = await run_in_threadpool(console.store.offices)
    offices = [o for o in form.get("offices", "").replace(",", " ").split() if o]
    if any(o not in known for o in offices):
        return await _page(request, session, status=422, message=i18n.t(
            "rollout_refused", lang_of(request),
            why=i18n.t("rollout_refused.bad-office", lang_of(request))))
    percent_text = form.get("percent", "").strip()
    try:
        percent = int(percent_text) if percent_text else None
    except ValueError:
        percent = -1  # refused below with its reason
    change = RolloutChange(offices=offices, percent=percent, reason=form.get("reason", "")[:200])
    store = rollout_store(console.store.dialect)
    lang = lang_of(request)
    try:
        done = await run_in_threadpool(
            store.change_rollout, int(number), action, change,
            f"console:{session.staff.staff_id}",
        )
    except RolloutRefusedError as exc:
        if exc.reason == "missing":
            raise Refused(404, "not_found") from exc
        key = f"rollout_refused.{exc.reason}"
        why = i18n.t(key if i18n.has(key) else "rollout_refused.other", lang)
        return await _page(request, session, status=422,
                           message=i18n.t("rollout_refused", lang, why=why))
    # Post/Redirect/Get: reloading the answer does not send the change again
    return RedirectResponse(f"/rollouts?changed={done.state}", 303)


PAGE = Page(
    routes=(route("/rollouts", _rollouts, methods=("GET", "POST")),),
    menu=(MenuItem("/rollouts", "nav.rollouts", Operation.UPDATE_ROLLOUT),),
)
