"""サインイン and out, the language switch and ``/`` (to the month's report).

Sign-in takes the staff id, the password and the TOTP code in one form and answers the
same for every failure (no oracle). The sign-in form, which has no session yet, carries
a CSRF token bound to a cookie of its own."""

from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sync.server.console import i18n
from sync.server.console.shared import (
    LANG_COOKIE,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Console,
    Page,
    checked_form,
    current_session,
    read_form,
    render,
    route,
    same_origin,
    signed_in,
)


async def _home(request: Request) -> Response:
    await signed_in(request)
    return RedirectResponse("/reports/month", 303)


def _login_page(request: Request, status: int = 200, message_key: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", status, None, login_token=token, message_key=message_key
    )
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=3600, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response


async def _login(request: Request) -> Response:
    console: Console = request.app.state.console
    if request.method == "GET":
        if await current_session(request) is not None:
            return RedirectResponse("/reports/month", 303)
        key = request.query_params.get("m", "")
        return _login_page(request, message_key=key if key in ("signed_out", "expired") else "")
    form = await read_form(request)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    given = form.get("login_token", "")
    if (
        not cookie
        or not same_origin(request)
        or not secrets.compare_digest(given.encode(), cookie.encode())
    ):
        return _login_page(request, 403, "csrf")
    staff = await run_in_threadpool(
        console.store.sign_in,
        form.get("staff_id", "").strip()[:64],
        form.get("password", "")[:1024],
        form.get("code", "")[:16],
        console.now(),
    )
    if staff is None:
        return _login_page(request, 401, "sign_in_failed")
    token, _ = await run_in_threadpool(console.store.open_session, staff.staff_id, console.now())
    response = RedirectResponse("/reports/month", 303)
    response.set_cookie(
        SESSION_COOKIE, token, path="/", secure=True, httponly=True, samesite="strict"
    )
    response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


async def _logout(request: Request) -> Response:
    session = await signed_in(request)
    await checked_form(request, session)
    console: Console = request.app.state.console
    token = request.cookies.get(SESSION_COOKIE, "")
    await run_in_threadpool(console.store.close_session, token, session.staff.staff_id)
    response = RedirectResponse("/login?m=signed_out", 303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


async def _language(request: Request) -> Response:
    lang = request.query_params.get("to", "ja")
    target = request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"  # never an open redirect
    response = RedirectResponse(target, 303)
    response.set_cookie(
        LANG_COOKIE,
        lang if lang in i18n.LANGUAGES else "ja",
        max_age=365 * 24 * 3600,
        path="/",
        secure=True,
        samesite="lax",
    )
    return response


PAGE = Page(
    routes=(
        route("/", _home),
        route("/login", _login, ("GET", "POST")),
        route("/logout", _logout, ("POST",)),
        route("/lang", _language),
    ),
)
