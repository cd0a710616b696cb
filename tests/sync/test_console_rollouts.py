"""The console's fleet facts and IT's rollout controls, in Debian's Chromium (Playwright).

A real ``madoguchi server run --console-listen`` on SQLite; a rollout prepared as IT's
CLI prepares it (a signed pointer to a published bundle, offered to nobody yet) and a
counter's status post filed by the update store. IT starts it for an office and a
percentage, halts, resumes and aborts it from the page; each change is in the audit
under IT's display name. A wrong CSRF token changes nothing; an office manager has no
such page, by menu or URL. The fleet page shows each counter's version, channel, last
contact, unsent backlog and update health beside its chain status, with no raw codes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Browser, Page, sync_playwright

from madoguchi.bench.console import enrol_counter
from sync import pki
from sync.localserver import LocalServer
from sync.pgcluster import free_port
from sync.server.authz import Role
from sync.server.console.serve import open_console_store
from sync.server.console.store import ConsoleStore
from sync.server.repository import open_repository
from tests.sync.test_console_browser import SHOTS
from updater.keys import key_id
from updater.rollout import RolloutStart, StatusPost
from updater.store import UpdateStore
from updater.trust import make_pointer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--lang=ja"]
OFFICE_A, OFFICE_B = "131016", "271004"
PASSWORD = "madoguchi-console-pw"
RAW = re.compile(r"\b(it|staff|administrator|active|halted|aborted|rolled_back|any/any|"
                 r"console:\w+|rollout-\w+)\b")


@dataclass
class World:
    url: str
    store: ConsoleStore
    browser: Browser
    rollout_id: int

    def sign_in(self, role: Role, offices: list[str], name: str) -> Page:
        staff_id = f"user{abs(hash(name)) % 100000}"
        added = self.store.add_staff(staff_id, name, role, PASSWORD, offices, actor="test")
        context = self.browser.new_context(
            viewport={"width": 1280, "height": 800}, ignore_https_errors=True, locale="ja-JP"
        )
        page = context.new_page()
        page.goto(self.url + "/login")
        page.fill("#staff_id", staff_id)
        page.fill("#password", PASSWORD)
        page.fill("#code", pyotp.TOTP(added.totp_secret).now())
        page.click("button[type=submit] >> text=サインイン")
        return page


def _prepare(db: str, bundles: Path) -> int:
    """What ``madoguchi update rollout start`` with no office and no percentage leaves:
    a published bundle, its signed pointer, a rollout offered to nobody yet; and one
    counter's status post."""
    signer = Ed25519PrivateKey.generate()
    public = signer.public_key()
    body = b"a bundle's bytes" * 64
    digest = hashlib.sha256(body).hexdigest()
    name = "madoguchi-2.0.0.bundle"
    bundles.mkdir(parents=True)
    (bundles / name).write_bytes(body)
    repo = open_repository(db)
    try:
        with repo.dialect.transaction() as cur:
            cur.execute(
                "INSERT INTO update_bundles (name, version, platform, size, sha256, published_at)"
                " VALUES (?, '2.0.0', 'any/any', ?, ?, ?)",
                [name, len(body), digest, datetime.now(UTC).isoformat()],
            )
        store = UpdateStore(repo.dialect, bundles, {key_id(public): public}, listen=False)
        pointer = make_pointer(signer, channel="stable", version="2.0.0", bundle=name,
                               size=len(body), sha256=digest, valid_for=timedelta(days=1))
        rollout = store.start_rollout(RolloutStart(channel="stable", pointer=pointer), "it")
        store.record("counter-a1", StatusPost(
            reports=[{"state": "committed", "version": "1.1.0", "reason": "",
                      "at": datetime.now(UTC).isoformat()}],
            running="1.1.0", channel="stable", platform="aarch64/cp311", backlog=3,
            quarantined=0), OFFICE_A)
        return rollout.rollout_id
    finally:
        repo.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("console-rollouts")
    pki.init_server_pki(base / "pki")
    db = str(base / "server.sqlite3")
    repo = open_repository(db)
    repo.migrate()
    try:
        enrol_counter(repo, "counter-a1", OFFICE_A)
        enrol_counter(repo, "counter-b1", OFFICE_B)
    finally:
        repo.close()
    rollout_id = _prepare(db, base / "updates" / "bundles")
    store = open_console_store(db)
    store.set_office_name(OFFICE_A, "本庁舎 市民課", actor="test")
    store.set_office_name(OFFICE_B, "北支所", actor="test")
    port = free_port()
    server = LocalServer(db, base / "pki", extra_args=("--console-listen", f"127.0.0.1:{port}"))
    server.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield World(f"https://127.0.0.1:{port}", store, browser, rollout_id)
            finally:
                browser.close()
    finally:
        server.stop()
        store.close()


def _row(page: Page) -> str:
    return page.locator("table").first.locator("tbody tr").first.inner_text()


def test_it_starts_halts_resumes_and_aborts_a_rollout_from_the_console(world: World) -> None:
    page = world.sign_in(Role.IT, [], "木村 情報")
    page.click("header nav >> text=段階配信")
    page.wait_for_url("**/rollouts")
    assert "まだ配信先なし" in _row(page)
    # start: the first office and a percentage
    page.select_option("select[name=offices]", OFFICE_A)
    page.fill("input[name=percent]", "10")
    page.click("button >> text=配信を開始")
    page.wait_for_url("**/rollouts?changed=active")
    assert "変更しました：配信中" in page.inner_text("[role=alert]")
    assert "本庁舎 市民課、端末の 10%" in _row(page)
    assert "配信中" in _row(page)
    # never narrower: the browser will not send it, and the server refuses it in Japanese
    page.fill("input[name=percent]", "5")
    assert page.locator("input[name=percent]").evaluate("e => e.validity.rangeUnderflow")
    answer = page.request.post(world.url + "/rollouts", form={
        "csrf": page.input_value("input[name=csrf] >> nth=0"),
        "rollout": str(world.rollout_id), "action": "widen", "percent": "5"},
        headers={"Origin": world.url})
    assert answer.status == 422
    assert "狭めることはできません" in answer.text()
    page.reload()  # a GET (Post/Redirect/Get): nothing is sent again
    assert "端末の 10%" in _row(page)
    for button, state, reason in (
        ("停止", "停止中", "窓口から問い合わせ"),
        ("再開", "配信中", ""),
        ("中止", "中止", "不具合"),
    ):
        form = page.locator("form", has=page.locator(f"button >> text={button}")).first
        if reason:
            form.locator("input[name=reason]").fill(reason)
        form.locator("button").click()
        assert state in _row(page), button
    # the audit names who did what, in words, once each
    audit = page.locator("table").nth(1).inner_text()
    assert audit.count("配信先の変更") == 1
    kimura = "（コンソール：木村 情報）"
    expected = [f"{what}{kimura}" for what in ("配信先の変更", "停止", "再開", "中止")]
    expected += ["開始準備（情報システム担当（配信用トークン））", "窓口から問い合わせ"]
    for words in expected:
        assert words in audit, words
    assert not RAW.findall(page.inner_text("main"))
    page.screenshot(path=str(SHOTS / "rollouts.png"))  # docs/ only when asked
    # an aborted rollout has no controls left
    assert page.locator("button >> text=再開").count() == 0


def test_a_wrong_csrf_token_changes_nothing(world: World) -> None:
    page = world.sign_in(Role.IT, [], "佐藤 情報")
    page.goto(world.url + "/rollouts")
    before = _row(page)
    answer = page.request.post(world.url + "/rollouts", form={
        "csrf": "not-the-token", "rollout": str(world.rollout_id), "action": "halt"},
        headers={"Origin": world.url})
    assert answer.status == 403
    page.reload()
    assert _row(page) == before


def test_an_office_manager_has_no_rollout_controls(world: World) -> None:
    page = world.sign_in(Role.ADMINISTRATOR, [OFFICE_A], "山田 花子")
    assert page.locator("header nav >> text=段階配信").count() == 0
    answer = page.goto(world.url + "/rollouts")
    assert answer is not None
    assert answer.status == 403


def test_the_fleet_page_shows_version_channel_contact_backlog_and_health(world: World) -> None:
    page = world.sign_in(Role.ADMINISTRATOR, [OFFICE_A], "鈴木 一郎")
    page.click("header nav >> text=窓口端末")
    page.wait_for_url("**/fleet")
    head = page.locator("table thead").inner_text()
    for label in ("稼働版", "配信チャネル", "最終通信（日本時間）", "未送信の記録", "更新の状態",
                  "記録の連鎖"):
        assert label in head
    row = page.locator("table tbody tr").filter(has_text="counter-a1").inner_text()
    cells = row.split("\t")
    assert "1.1.0" in cells
    assert "stable" in cells
    assert "3" in cells
    assert "正常" in cells
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", row)
    assert "counter-b1" not in page.inner_text("main")  # office B is not this manager's
    assert not RAW.findall(page.inner_text("main"))
    # the chart: one row per counter of the manager's offices, the backlog as a bar with its
    # number, the contact a moment ago drawn in the calm colour
    chart = page.locator("figure.fleet-chart")
    assert "最後に連絡があってからの経過時間" in chart.locator("figcaption").inner_text()
    bars = chart.locator("g.counter-bar")
    assert bars.count() == 1
    assert "本庁舎 市民課 counter-a1" in (bars.first.text_content() or "")
    assert bars.first.locator("rect.backlog title").text_content() == "3"
    assert float(bars.first.locator("rect.contact title").text_content() or "nan") < 1.0
    assert bars.first.locator("rect.contact.stale").count() == 0
    assert " 時間" in (bars.first.text_content() or "")


def test_the_fleet_chart_marks_a_counter_never_heard_from(world: World) -> None:
    page = world.sign_in(Role.IT, [], "情報 太郎")
    page.click("header nav >> text=窓口端末")
    page.wait_for_url("**/fleet")
    bars = page.locator("figure.fleet-chart g.counter-bar")
    assert bars.count() == 2
    quiet = bars.filter(has_text="counter-b1")
    assert "まだ連絡なし" in (quiet.text_content() or "")
    assert quiet.locator("rect.backlog").count() == 0  # it never said: no bar, a dash
    assert "—" in (quiet.text_content() or "")
