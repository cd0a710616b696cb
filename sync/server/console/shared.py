"""What the console's pages share: the :class:`Console` (store, clock, templates, menu),
rendering, the session and its CSRF token, who sees which office, and dates.

Every page asks :func:`sync.server.authz.decide` — the matrix that rules the devices —
for the account's principal and each office it would show (:data:`~sync.server.authz.
CONSOLE_PAGES` name the pages' operations). An office that is not the account's own
answers 404 whether or not it exists, so a changed URL learns nothing.

Sessions are server-side (``console_sessions``); the browser holds only a random token in
a ``__Host-`` cookie (Secure, HttpOnly, SameSite=Strict). Every form carries the session's
CSRF token, and a POST without the right one is refused (403) before it does anything
(:func:`checked_form`). Pages are ``no-store`` (``web.py``), so the Back button after
signing out shows nothing that was on screen.

A page module (``sync/server/console/pages/``) exports one :class:`Page`: its routes
(each handler wrapped by :func:`guarded`) and its menu entries; ``web.py`` lists the
pages (docs/console.md, "Adding a page").
"""

from __future__ import annotations

import calendar
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sync.errors import RepositoryError
from sync.server import authz
from sync.server.authz import Answer, Operation
from sync.server.console import i18n
from sync.server.console.store import ConsoleStore, Session, Staff
from sync.server.report import ReportRow

log = logging.getLogger(__name__)
JST = timezone(timedelta(hours=9))
SESSION_COOKIE = "__Host-madoguchi-console"
LOGIN_COOKIE = "__Host-madoguchi-login"
LANG_COOKIE = "madoguchi-lang"
HERE = Path(__file__).parent
#: Largest form body the console reads.
MAX_FORM = 16 * 1024


@dataclass(frozen=True)
class MenuItem:
    """A link in the console's menu, shown to an account that may do ``operation`` for
    at least one office."""

    path: str
    label: str  # an i18n key ("nav.…")
    operation: Operation


@dataclass(frozen=True)
class Page:
    """What one page module gives the console: its routes and its menu entries (in the
    order they are shown)."""

    routes: Sequence[BaseRoute]
    menu: Sequence[MenuItem] = ()


@dataclass
class Console:
    """What the pages need: the store, the clock and the menu (the pages' entries)."""

    store: ConsoleStore
    now: Callable[[], float] = time.time
    menu: Sequence[MenuItem] = ()
    templates: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )


class Refused(Exception):
    """A page answered with an error page (status and message key)."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "ja")
    return lang if lang in i18n.LANGUAGES else "ja"


def render(
    request: Request,
    name: str,
    status: int = 200,
    session: Session | None = None,
    **context: Any,
) -> Response:
    console: Console = request.app.state.console
    lang = lang_of(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = console.templates.get_template(name).render(
        lang=lang,
        t=lambda key, **p: i18n.t(key, lang, **p),
        i18n=i18n,
        i18n_ops=Operation,
        session=session,
        staff=session.staff if session else None,
        csrf=session.csrf if session else "",
        lang_link="/lang?" + urlencode({"to": "en" if lang == "ja" else "ja", "next": here}),
        path=request.url.path,
        menu=console.menu,
        may=(lambda op: may_any(session.staff, op)) if session else (lambda op: False),
        **context,
    )
    return Response(html, status_code=status, media_type="text/html; charset=utf-8")


def error_page(request: Request, status: int, key: str, session: Session | None) -> Response:
    return render(request, "error.html", status, session, message_key=key)


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body (bounded); one value per name."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise Refused(413, "bad_request")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, "bad_request") from exc
    return {k: v[0] for k, v in fields.items()}


def same_origin(request: Request) -> bool:
    """A browser's own form post: no cross-site fetch metadata, an Origin of this host."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or origin == f"https://{request.headers.get('host', '')}"


async def current_session(request: Request) -> Session | None:
    console: Console = request.app.state.console
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    return await run_in_threadpool(console.store.session, token, console.now())


async def signed_in(request: Request) -> Session:
    session = await current_session(request)
    if session is None:
        raise SignIn()
    return session


class SignIn(Exception):
    """No live session: to the sign-in page."""


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """The form of a POST whose CSRF token is the session's (else 403, nothing done)."""
    form = await read_form(request)
    given = form.get("csrf", "")
    if not same_origin(request) or not secrets.compare_digest(
        given.encode(), session.csrf.encode()
    ):
        raise Refused(403, "csrf")
    return form


# -- who sees which office ----------------------------------------------------------------


def allowed(staff: Staff, operation: Operation, office: str) -> bool:
    principal = staff.principal(office)
    target = authz.office_target(principal, office)
    return authz.decide(principal, operation, target) is Answer.ALLOW


def may_any(staff: Staff, operation: Operation) -> bool:
    """The account may do ``operation`` for at least one office (IT: anywhere)."""
    if not staff.role.office_bound:
        return authz.decide(staff.principal(None), operation, authz.Target.OTHER) is Answer.ALLOW
    return any(allowed(staff, operation, o) for o in staff.offices)


async def visible_offices(request: Request, staff: Staff, operation: Operation) -> dict[str, str]:
    """The offices (code → name) the account may see for ``operation``."""
    console: Console = request.app.state.console
    known = await run_in_threadpool(console.store.offices)
    candidates = staff.offices if staff.role.office_bound else tuple(known)
    return {o: known.get(o, o) for o in candidates if allowed(staff, operation, o)}


async def offices_for(request: Request, staff: Staff, operation: Operation) -> dict[str, str]:
    """:func:`visible_offices`, refused (403) when the account may do ``operation`` nowhere."""
    visible = await visible_offices(request, staff, operation)
    if not visible:
        raise Refused(403, "forbidden")
    return visible


def posted_office(form: Mapping[str, str], visible: Mapping[str, str]) -> str:
    """The form's ``office``: one of ``visible`` (else 404, existing or not)."""
    office = form.get("office", "")
    if office not in visible:
        raise Refused(404, "not_found")
    return office


@dataclass(frozen=True)
class OfficePost:
    """A POST whose CSRF token was checked, for one of the account's offices."""

    form: dict[str, str]
    #: The offices the account may do this for (code → name).
    visible: dict[str, str]
    #: The form's office, one of ``visible``.
    office: str
    #: Who acted, as the audit names a console account.
    actor: str

    def kept(self, *secret: str) -> dict[str, str]:
        """What a refused form shows again: all but the CSRF token and ``secret``."""
        return {k: v for k, v in self.form.items() if k != "csrf" and k not in secret}


async def office_post(request: Request, session: Session, operation: Operation) -> OfficePost:
    """Check the POST's CSRF token (403), that the account may do ``operation`` somewhere
    (403) and that the form's office is one of those (404, existing or not)."""
    form = await checked_form(request, session)
    visible = await offices_for(request, session.staff, operation)
    return OfficePost(form, visible, posted_office(form, visible), actor_of(session))


def actor_of(session: Session) -> str:
    """The audit's name of the signed-in account."""
    return f"staff:{session.staff.staff_id}"


async def office_scope(
    request: Request, staff: Staff, operation: Operation
) -> tuple[dict[str, str], list[str], str]:
    """``(visible offices, offices asked for, the office parameter)``: the ``office``
    parameter is one of the visible ones (else 404, existing or not) or empty (all)."""
    visible = await offices_for(request, staff, operation)
    office = request.query_params.get("office", "")
    if office:
        if office not in visible:
            raise Refused(404, "not_found")
        return visible, [office], office
    return visible, sorted(visible), ""


@dataclass(frozen=True)
class MonthScope:
    """A month page's question: who asks, the offices it may see and asks for, the month."""

    session: Session
    visible: dict[str, str]
    offices: list[str]
    office: str  # the ``office`` parameter ("" = all visible)
    month: str
    first: str
    last: str


async def month_scope(request: Request, operation: Operation) -> MonthScope:
    """The signed-in account's :class:`MonthScope` of ``?office=&month=`` for
    ``operation`` (404 for another office, 400 for a month that is none)."""
    session = await signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await office_scope(request, session.staff, operation)
    month, first, last = month_param(request, console)
    return MonthScope(session, visible, offices, office, month, first, last)


# -- dates ------------------------------------------------------------------------------


def today_jst(console: Console) -> date:
    return datetime.fromtimestamp(console.now(), JST).date()


def month_param(request: Request, console: Console) -> tuple[str, str, str]:
    """``(YYYY-MM, first day, last day)`` of the ``month`` parameter (default: this month)."""
    return month_bounds(request.query_params.get("month") or today_jst(console).strftime("%Y-%m"))


def date_param(request: Request, name: str, default: date) -> str:
    value = request.query_params.get(name) or default.isoformat()
    try:
        return datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except ValueError as exc:
        raise Refused(400, "bad_request") from exc


def totals(
    rows: list[ReportRow], key: Callable[[ReportRow], tuple[str, str, str]]
) -> list[ReportRow]:
    """Rows summed by ``key``: (office, date, type) of the sum."""
    summed: dict[tuple[str, str, str], ReportRow] = {}
    for row in rows:
        k = key(row)
        total = summed.setdefault(k, ReportRow(*k))
        total.transactions += row.transactions
        total.issued += row.issued
        total.renewed += row.renewed
        total.revoked += row.revoked
        total.fee_collected_yen += row.fee_collected_yen
        total.fee_payable_jlis_yen += row.fee_payable_jlis_yen
    return [summed[k] for k in sorted(summed)]


def month_bounds(month: str) -> tuple[str, str, str]:
    try:
        first = datetime.strptime(month + "-01", "%Y-%m-%d").date()
    except ValueError as exc:
        raise Refused(400, "bad_request") from exc
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return month, first.isoformat(), last.isoformat()


def received_label(stamp: str) -> str:
    """A stored ISO time as JST ``YYYY-MM-DD HH:MM`` (empty: never)."""
    if not stamp:
        return ""
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M")


def guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    async def page(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except SignIn:
            return RedirectResponse(
                "/login?m=expired" if SESSION_COOKIE in request.cookies else "/login", 303
            )
        except Refused as refused:
            return error_page(request, refused.status, refused.key, await current_session(request))
        except RepositoryError as exc:
            log.error("console: database error on %s: %s", request.url.path, exc)
            return error_page(request, 503, "unavailable", None)
        except Exception as exc:  # the page says so; the details go to the log only
            log.error("console: %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
            return error_page(request, 500, "internal", None)

    return page


Handler = Callable[[Request], Awaitable[Response]]


def download(body: bytes, media_type: str, ascii_name: str, name: str) -> Response:
    """A file to save: ``ascii_name`` for old browsers, ``name`` (Japanese) for the rest."""
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(body, media_type=media_type, headers={"content-disposition": disposition})


def route(path: str, handler: Handler, methods: Sequence[str] = ("GET",)) -> Route:
    """A console route: ``handler`` wrapped by :func:`guarded`."""
    return Route(path, guarded(handler), methods=list(methods))
