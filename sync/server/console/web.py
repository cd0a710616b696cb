"""The office console: the ASGI app, assembled from its pages.

Each page is a module of :mod:`sync.server.console.pages` that exports a
:class:`~sync.server.console.shared.Page` (its routes and menu entries); :data:`PAGES`
lists them in the order of the menu. A new page is one new module and one line here
(docs/console.md, "Adding a page"). What the pages share — the session, CSRF, rendering,
who sees which office — is :mod:`sync.server.console.shared`; this module adds what every
answer gets: the security headers, ``no-store`` and the 404/405 pages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync.server.console.pages import (
    audit,
    clerks,
    enrolment,
    fleet,
    payments,
    register,
    registry,
    report,
    rollouts,
    signin,
    staff,
    transactions,
)
from sync.server.console.shared import HERE, Console, Page, current_session, error_page
from sync.server.console.store import ConsoleStore

#: The console's pages, in the order of the menu (one line per page module).
PAGES: tuple[Page, ...] = (
    signin.PAGE,
    report.PAGE,
    register.PAGE,
    transactions.PAGE,
    fleet.PAGE,
    rollouts.PAGE,
    registry.PAGE,
    enrolment.PAGE,
    payments.PAGE,
    audit.PAGE,
    staff.PAGE,
    clerks.PAGE,
)

_SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
        b" frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000"),
)


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_page(request, 404, "not_found", await current_session(request))


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return error_page(request, 405, "bad_request", await current_session(request))


class _Headers:
    """Security headers on every answer; pages are never cached. A worker process of
    several (``--console-workers``) names itself, so it can be seen which one answered."""

    def __init__(self, app: ASGIApp, worker: int = 0) -> None:
        self.app = app
        self.extra = [*_SECURITY_HEADERS]
        if worker:
            self.extra.append((b"x-madoguchi-console-worker", str(worker).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += self.extra
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def console_app(
    store: ConsoleStore,
    now: Callable[[], float] = time.time,
    pages: Sequence[Page] = PAGES,
    *,
    worker: int = 0,
) -> ASGIApp:
    """The console as an ASGI app (served on its own listener by ``sync.server.run``);
    ``worker``: its number among several worker processes (0: the only one)."""
    routes: list[BaseRoute] = [r for page in pages for r in page.routes]
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})
    app.state.console = Console(store, now, menu=tuple(m for page in pages for m in page.menu))
    return _Headers(app, worker)


def utc_stamp(now: float) -> str:
    """``now`` as an ISO UTC time (for logs)."""
    return datetime.fromtimestamp(now, UTC).isoformat()
