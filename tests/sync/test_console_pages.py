"""The console's pages in process (the real app and store over a real SQLite database):
bad input gets a clear page and loses nothing, never a server error; no open redirect;
a signed-out browser is sent to sign in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pyotp
import pytest

from madoguchi.bench.console import enrol_counter, ingest_counter, sample_records
from sync.server.authz import Role
from sync.server.console.serve import open_console_store
from sync.server.console.store import ConsoleStore
from sync.server.console.web import console_app
from sync.server.repository import open_repository

PASSWORD = "madoguchi-console-pw"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConsoleStore]:
    db = str(tmp_path / "server.sqlite3")
    repo = open_repository(db)
    repo.migrate()
    enrol_counter(repo, "counter-a1", "131016")
    ingest_counter(repo, "counter-a1", sample_records("131016", date(2026, 11, 1), 2, 8))
    repo.close()
    console = open_console_store(db)
    yield console
    console.close()


async def _signed_in(store: ConsoleStore, role: Role = Role.ADMINISTRATOR) -> httpx.AsyncClient:
    added = store.add_staff("yamada", "山田", role, PASSWORD, ["131016"], actor="test")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console_app(store)), base_url="https://testserver"
    )
    page = await client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token is not None
    answer = await client.post(
        "/login",
        data={
            "login_token": token.group(1),
            "staff_id": "yamada",
            "password": PASSWORD,
            "code": pyotp.TOTP(added.totp_secret).now(),
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/reports/month"
    return client


async def test_bad_input_gets_a_clear_page_never_a_server_error(store: ConsoleStore) -> None:
    client = await _signed_in(store)
    try:
        for path in (
            "/reports/month?month=2026-13",
            "/reports/month?month=garbage",
            "/reports/day?date=2026-02-30",
            "/transactions?from=yesterday",
            "/transactions?offset=-1",
            "/transactions?offset=x",
            "/transactions?procedure=9-9-9",
            "/transactions?decision=maybe",
            "/transactions?operator=%00",
        ):
            page = await client.get(path)
            assert page.status_code == 400, path
            assert "入力に誤りがあります" in page.text
        missing = await client.get("/no/such/page")
        assert missing.status_code == 404
        assert "ページが見つかりません" in missing.text
        staff = await client.get("/staff")
        token = re.search(r'name="csrf" value="([^"]+)"', staff.text)
        assert token is not None
        short = await client.post(
            "/staff",
            data={
                "csrf": token.group(1),
                "staff_id": "kato",
                "display_name": "加藤",
                "role": "staff",
                "office:131016": "131016",
                "password": "short",
            },
        )
        assert short.status_code == 400
        assert "12文字以上" in short.text
        assert 'value="kato"' in short.text  # what was typed is kept (not the password)
        assert "short" not in short.text.split("<main", 1)[1].split("new_pw", 1)[1][:200]
        assert store.staff("kato") is None
    finally:
        await client.aclose()


async def test_no_open_redirect_and_signed_out_browsers_sign_in(store: ConsoleStore) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console_app(store)), base_url="https://testserver"
    ) as client:
        for path in ("/", "/reports/month", "/transactions", "/audit", "/staff"):
            page = await client.get(path)
            assert page.status_code == 303
            assert page.headers["location"].startswith("/login")
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            switched = await client.get("/lang", params={"to": "en", "next": target})
            assert switched.headers["location"] == "/"
        refused = await client.post("/logout", data={"csrf": "x"})
        assert refused.status_code == 303  # no session: to sign in, nothing done
        page = await client.get("/login")
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("__Host-madoguchi-login=")
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie


def test_every_console_route_is_a_page_of_the_matrix() -> None:
    """A page added to ``web.PAGES`` without its rows in ``authz.CONSOLE_PAGES`` (or the
    other way round) fails here: the console's routes and the matrix's pages are one set,
    besides sign-in, sign-out, the language switch and ``/``, which every browser may use."""
    from starlette.routing import Route

    from sync.server.authz import CONSOLE_PAGES
    from sync.server.console.web import PAGES

    served = {
        (method, r.path)
        for page in PAGES
        for r in page.routes
        if isinstance(r, Route)
        for method in r.methods or ()
        if method != "HEAD"
    }
    open_to_all = {("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"),
                   ("GET", "/lang")}
    assert served - open_to_all == {(e.method, e.path) for e in CONSOLE_PAGES}
    # Every menu entry is a page that is served, under the operation the matrix names.
    listed = {e.path: e.operation for e in CONSOLE_PAGES if e.method == "GET"}
    for page in PAGES:
        for item in page.menu:
            assert listed[item.path] is item.operation
