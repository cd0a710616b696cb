"""窓口担当者 on the office console, end to end, in Debian's Chromium (Playwright), on SQLite
and PostgreSQL: a real ``madoguchi server run --console-listen`` on loopback, an enrolled
counter's operator store, the real clerk sync, and the Textual login screen (Pilot, 80x24).

An office manager adds a clerk on the console → the counter's next sync → the clerk signs
in at the counter → revoked on the console → next sync → refused with the one refusal;
a second clerk signs in with the server stopped; the attempts show on the console. Another
office by URL or by a tampered form is 404 like a missing one; a forged CSRF token 403;
a bad entry keeps the form (never the password); staff of the office manage its clerks,
IT any office's. Screenshots at 1280x800 go to docs/console/.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, sync_playwright

from device.operators import OperatorStore, open_operator_db
from sync import pki
from sync.clerks import ClerkSync
from sync.localserver import LocalServer
from sync.pgcluster import PgCluster, free_port
from sync.server.authz import Role
from sync.server.console.serve import open_console_store
from sync.server.console.store import ConsoleStore
from sync.server.repository import open_repository
from tests.sync.test_clerks import _services, _tui_sign_in
from tests.sync.test_console_browser import CHROMIUM, CHROMIUM_ARGS, RAW_CODES, SHOTS, Account

OFFICE_A, OFFICE_B = "131016", "271004"
STAFF_PASSWORD = "madoguchi-console-pw"
CLERK_PASSWORD = "tanaka-counter-01"


def _in_thread(services: object, clerk_id: str, password: str) -> tuple[str, str]:
    """The Textual login screen in its own thread (Playwright's sync API holds the main
    thread's event loop)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["answer"] = asyncio.run(_tui_sign_in(services, clerk_id, password))
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if "error" in out:
        raise out["error"]
    answer: tuple[str, str] = out["answer"]
    return answer


class World:
    def __init__(self, url: str, store: ConsoleStore, server: LocalServer, tls: Path) -> None:
        self.url, self.store, self.server, self.tls = url, store, server, tls

    def account(self, role: Role, offices: list[str], staff_id: str) -> Account:
        added = self.store.add_staff(
            staff_id, "山田 花子", role, STAFF_PASSWORD, offices, actor="test"
        )
        return Account(staff_id, pyotp.TOTP(added.totp_secret))

    def sign_in(self, page: Page, account: Account) -> None:
        page.goto(self.url + "/login")
        page.fill("#staff_id", account.staff_id)
        page.fill("#password", STAFF_PASSWORD)
        page.fill("#code", account.code())
        page.click("button[type=submit] >> text=サインイン")
        assert page.url.endswith("/reports/month")


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        db = str(tmp_path / "server.sqlite3")
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        db = cluster.create_database(f"c_{uuid.uuid4().hex[:12]}")
    pki.init_server_pki(tmp_path / "pki")
    repo = open_repository(db, pool_size=1)
    repo.migrate()
    repo.close()
    store = open_console_store(db)
    store.set_office_name(OFFICE_A, "本庁舎 市民課", actor="test")
    store.set_office_name(OFFICE_B, "北支所", actor="test")
    port = free_port()
    server = LocalServer(db, tmp_path / "pki", extra_args=("--console-listen", f"127.0.0.1:{port}"))
    server.start()
    tls = tmp_path / "counter-tls"
    server.enrol(tls, "counter-a1", OFFICE_A)
    try:
        yield World(f"https://127.0.0.1:{port}", store, server, tls)
    finally:
        server.stop()
        store.close()


def _add_clerk(page: Page, clerk_id: str, name: str, password: str) -> None:
    page.fill("#new_id", clerk_id)
    page.fill("#new_name", name)
    page.fill("#new_password", password)
    page.click("form.stacked button[type=submit]")


def test_a_clerk_from_the_console_signs_in_at_the_counter_until_revoked(
    world: World, tmp_path: Path
) -> None:
    state = tmp_path / "counter"
    state.mkdir()
    counter = OperatorStore(open_operator_db(str(state / "operators.sqlite3")), central_only=True)
    services = _services(state, counter)
    sync = ClerkSync.connect(counter, world.server.url, world.tls, central=True, timeout_s=5.0)
    manager = world.account(Role.ADMINISTRATOR, [OFFICE_A], "yamada1")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(
                viewport={"width": 1280, "height": 800}, ignore_https_errors=True,
                locale="ja-JP",
            )
            page = context.new_page()
            world.sign_in(page, manager)
            page.click("header nav >> text=窓口担当者")
            assert page.url.endswith("/clerks")
            assert "本庁舎 市民課" in page.inner_text("h1")

            # A bad entry keeps the form, never the password.
            _add_clerk(page, "田中", "田中 花子", CLERK_PASSWORD)
            assert "担当者IDは半角英数字" in page.inner_text("[role=alert]")
            assert page.input_value("#new_id") == "田中"
            assert page.input_value("#new_name") == "田中 花子"
            assert page.input_value("#new_password") == ""

            page.fill("#new_id", "")
            _add_clerk(page, "tanaka", "田中 花子", CLERK_PASSWORD)
            assert page.inner_text("[role=status]") == "担当者を追加しました。"
            page.reload()  # a reload after the redirect adds nothing twice
            _add_clerk(page, "sato", "佐藤 次郎", "sato-counter-01")
            assert [c.clerk_id for c in _clerks(world)] == ["sato", "tanaka"]

            # The counter's next sync; the clerk signs in on the login screen.
            assert sync.sync_once().written == 2
            assert _in_thread(services, "tanaka", CLERK_PASSWORD)[0] == "home"

            # Revoked on the console → next sync → refused, as an unknown id is.
            page.click("button[aria-label='失効させる: 田中 花子']")
            assert page.inner_text("[role=status]") == "担当者を失効させました。"
            assert sync.sync_once().removed == 1
            where, revoked = _in_thread(services, "tanaka", CLERK_PASSWORD)
            assert where == "login"
            assert (where, revoked) == _in_thread(services, "nobody", CLERK_PASSWORD)

            # The server stopped: the cached clerk still signs in.
            world.server.stop()
            assert sync.sync_once().error is not None
            assert _in_thread(services, "sato", "sato-counter-01")[0] == "home"
            world.server.start()
            assert sync.sync_once().error is None

            # The attempts are on the console, in words.
            page.goto(world.url + "/clerks")
            text = page.inner_text("main")
            assert "サインイン拒否（失効したアカウント）" in text
            assert "（登録のないID）" in text
            assert "counter-a1" in text
            assert not RAW_CODES.findall(text), RAW_CODES.findall(text)
            assert "北支所" not in text
            page.screenshot(path=str(SHOTS / "clerks.png"))
            page.goto(world.url + "/audit")
            assert "窓口担当者の失効" in page.inner_text("main")
            page.click("text=English")
            page.goto(world.url + "/clerks")
            assert page.inner_text("h1") == "Counter clerk accounts — 本庁舎 市民課"
            assert "sign-in refused (revoked account)" in page.inner_text("main")
            context.close()
            browser.close()
    finally:
        sync.close()
        services.close()  # type: ignore[attr-defined]


def _clerks(world: World) -> list[Any]:
    from sync.server.clerks import ClerkStore

    return ClerkStore(world.store.dialect).clerks(OFFICE_A)


def test_office_b_by_url_or_form_is_404_and_a_forged_token_403(world: World) -> None:
    manager = world.account(Role.ADMINISTRATOR, [OFFICE_A], "yamada2")
    staff_b = world.account(Role.STAFF, [OFFICE_B], "kita1")
    it = world.account(Role.IT, [], "kimura1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(ignore_https_errors=True, locale="ja-JP")
        page = context.new_page()
        world.sign_in(page, manager)
        bodies = []
        for office in (OFFICE_B, "999999"):
            response = page.goto(world.url + f"/clerks?office={office}")
            assert response is not None
            assert response.status == 404
            bodies.append(page.inner_text("main"))
        assert bodies[0] == bodies[1]
        page.goto(world.url + "/clerks")
        options = page.locator("#office option").all_inner_texts()
        assert options == ["本庁舎 市民課"]
        token = page.get_attribute("form.stacked input[name=csrf]", "value")
        assert token
        form = {"csrf": token, "office": OFFICE_B, "action": "add", "clerk_id": "sneak",
                "display_name": "潜入", "password": "long-enough-1"}
        assert page.request.post(world.url + "/clerks", form=form).status == 404
        forged = {**form, "office": OFFICE_A, "csrf": "forged"}
        assert page.request.post(world.url + "/clerks", form=forged).status == 403
        assert _clerks(world) == []
        # Revoking or resetting a clerk of office B through office A's form: 404.
        from sync.server.clerks import ClerkStore

        ClerkStore(world.store.dialect).add(OFFICE_B, "kita01", "北 一郎", "kita-pass-01",
                                            actor="test")
        for action in ("revoke", "reset"):
            tampered = {"csrf": token, "office": OFFICE_A, "action": action,
                        "clerk_id": "kita01", "password": "another-pass-1"}
            assert page.request.post(world.url + "/clerks", form=tampered).status == 404
        assert [c.status for c in ClerkStore(world.store.dialect).clerks(OFFICE_B)] == ["active"]
        # Office B's staff manage office B's clerks; IT sees both offices.
        other = context.new_page()
        context.clear_cookies()
        world.sign_in(other, staff_b)
        other.goto(world.url + "/clerks")
        assert "kita01" in other.inner_text("main")
        context.clear_cookies()
        world.sign_in(other, it)
        other.goto(world.url + "/clerks")
        assert other.locator("#office option").all_inner_texts() == ["本庁舎 市民課", "北支所"]
        context.close()
        browser.close()
