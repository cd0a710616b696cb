"""The office console in a real browser: Debian's Chromium driven by Playwright over
real HTTPS to a real ``madoguchi server run --console-listen`` on loopback.

Signs in with TOTP (and fails as people do: wrong password, wrong code, unknown id),
walks each page as an office manager would (Back after signing out, a second tab,
keyboard only), is refused a form without its CSRF token, cannot reach another
office by changing the URL, downloads the CSV and opens it. Screenshots of each
page at 1280x800 are taken and checked on every run; they go to docs/console/ (shown in
docs/console.md) only when ``MADOGUCHI_WRITE_SCREENSHOTS=1`` asks, else to a temporary
directory, so a test run does not rewrite the docs.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from madoguchi.bench.console import enrol_counter, ingest_counter, sample_records
from sync import pki
from sync.localserver import LocalServer
from sync.pgcluster import free_port
from sync.server.authz import Role
from sync.server.console.serve import open_console_store
from sync.server.console.store import ConsoleStore
from sync.server.report import JA_HEADERS
from sync.server.repository import open_repository

ROOT = Path(__file__).resolve().parents[2]
#: Where the screenshots go: the docs only when asked (MADOGUCHI_WRITE_SCREENSHOTS=1).
SHOTS = (
    ROOT / "docs" / "console"
    if os.environ.get("MADOGUCHI_WRITE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="madoguchi-console-shots-"))
)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=ja",  # the date and month pickers in Japanese, as on an office PC
]
OFFICE_A, OFFICE_B = "131016", "271004"
PASSWORD = "madoguchi-console-pw"
MONTH = "2026-11"
#: Codes the records and the database hold that a Japanese page must never show raw.
RAW_CODES = re.compile(
    r"\b(sign|auth|none|continue|reject|inquiry|abandoned|withdrawn|documents|timed_out|"
    r"operator_error|issued|renewed|revoked|administrator|staff|it|signed_in|"
    r"sign_in_failed|wrong_password|wrong_code|unknown_account|staff_added)\b"
)
_names = itertools.count(1)


@dataclass
class Account:
    staff_id: str
    totp: pyotp.TOTP
    last_step: int = 0

    def code(self) -> str:
        """A code the server has not seen yet for this account (each works once)."""
        while True:
            step = int(time.time()) // 30
            # The current step first: a code of the step before can expire on its way
            # to the server when the machine is loaded (the server allows one step back).
            usable = max(step, self.last_step + 1)
            if usable <= step + 1:
                self.last_step = usable
                return self.totp.at(usable * 30)
            time.sleep(1)


@dataclass
class Console:
    url: str
    store: ConsoleStore
    browser: Browser
    devices: dict[str, str]
    device_url: str = ""
    db: str = ""
    contexts: list[BrowserContext] = field(default_factory=list)

    def account(self, role: Role, offices: list[str], name: str = "山田 花子") -> Account:
        staff_id = f"yamada{next(_names)}"
        added = self.store.add_staff(staff_id, name, role, PASSWORD, offices, actor="test")
        return Account(staff_id, pyotp.TOTP(added.totp_secret))

    def page(self) -> Page:
        context = self.browser.new_context(
            viewport={"width": 1280, "height": 800},
            ignore_https_errors=True,  # the console's certificate is the test CA's
            accept_downloads=True,
            locale="ja-JP",
        )
        self.contexts.append(context)
        return context.new_page()

    def sign_in(self, page: Page, account: Account, password: str = PASSWORD) -> None:
        page.goto(self.url + "/login")
        page.fill("#staff_id", account.staff_id)
        page.fill("#password", password)
        page.fill("#code", account.code())
        page.click("button[type=submit] >> text=サインイン")


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    base = tmp_path_factory.mktemp("console")
    pki.init_server_pki(base / "pki")
    db = str(base / "server.sqlite3")
    repo = open_repository(db)
    repo.migrate()
    devices = {OFFICE_A: "counter-a1", OFFICE_B: "counter-b1"}
    try:
        for office, device in devices.items():
            enrol_counter(repo, device, office)
            ingest_counter(
                repo, device, sample_records(office, date(2026, 11, 1), 10, 12, start=len(office))
            )
    finally:
        repo.close()
    store = open_console_store(db)
    store.set_office_name(OFFICE_A, "本庁舎 市民課", actor="test")
    store.set_office_name(OFFICE_B, "北支所", actor="test")
    port = free_port()
    server = LocalServer(db, base / "pki", extra_args=("--console-listen", f"127.0.0.1:{port}"))
    server.start()
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            world = Console(
                f"https://127.0.0.1:{port}", store, browser, devices, server.url, db
            )
            try:
                yield world
            finally:
                for context in world.contexts:
                    context.close()
                browser.close()
    finally:
        server.stop()
        store.close()


def _main_text(page: Page) -> str:
    return page.inner_text("body")


def _png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height (its IHDR), after checking it is one."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def _shot(page: Page, name: str) -> None:
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    assert _png_size(path) == (1280, 800)


def test_sign_in_with_totp_and_the_same_answer_for_every_mistake(console: Console) -> None:
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    page.goto(console.url + "/")
    assert page.url.endswith("/login")
    _shot(page, "sign-in")
    answers = []
    for staff_id, password, code in (
        (manager.staff_id, "not-the-password", manager.code()),  # wrong password
        (manager.staff_id, PASSWORD, "123456" if manager.code() != "123456" else "654321"),
        ("nobody-here", PASSWORD, "123456"),  # no such account
    ):
        page.fill("#staff_id", staff_id)
        page.fill("#password", password)
        page.fill("#code", code)
        with page.expect_response(
            lambda r: r.url.endswith("/login") and r.request.method == "POST"
        ) as answer:
            page.click("button[type=submit] >> text=サインイン")
        assert answer.value.status == 401
        answers.append(page.inner_text("[role=alert]"))
    assert answers[0] == answers[1] == answers[2]
    assert "職員ID・パスワード・確認コード" in answers[0]
    console.sign_in(page, manager)
    assert page.url.endswith("/reports/month")
    assert "山田 花子" in page.inner_text("header")


def test_each_page_as_an_office_manager_sees_it(console: Console) -> None:
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    pages = {
        "report-month": f"/reports/month?month={MONTH}",
        "report-month-office": f"/reports/month?month={MONTH}&office={OFFICE_A}",
        "report-day": "/reports/day?date=2026-11-04",
        "transactions": "/transactions?from=2026-11-01&to=2026-11-10&decision=abandoned",
        "audit": "/audit",
        "staff": "/staff",
    }
    for name, path in pages.items():
        response = page.goto(console.url + path)
        assert response is not None
        assert response.status == 200, name
        assert response.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        text = _main_text(page)
        raw = RAW_CODES.findall(text)
        assert not raw, f"{name} shows raw codes {raw}"
        assert "北支所" not in text, f"{name} shows another office"
        _shot(page, name)
    page.goto(console.url + f"/reports/month?month={MONTH}&office={OFFICE_A}")
    assert "署名用電子証明書" in _main_text(page)
    assert "機構への納付額（円）" in _main_text(page)
    page.goto(console.url + "/transactions?from=2026-11-01&to=2026-11-10&decision=abandoned")
    rows = page.locator("table.transactions tbody tr")
    assert rows.count() > 0
    assert "中止" in rows.first.inner_text()
    assert "「第2-1-(1)-ア-(イ)-B」" in rows.first.inner_text()  # the citation is shown
    page.goto(console.url + "/audit")
    assert "サインイン" in _main_text(page)
    # The English switch, and back.
    page.goto(console.url + f"/reports/month?month={MONTH}")
    page.click("text=English")
    assert page.locator("h1").inner_text() == f"Issuance in {MONTH}"
    assert page.get_attribute("html", "lang") == "en"
    page.click("text=日本語")
    assert page.locator("h1").inner_text() == f"{MONTH} の交付状況"


def test_a_form_without_its_csrf_token_is_refused(console: Console) -> None:
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.goto(console.url + "/staff")
    page.fill("#new_id", "forged1")
    page.fill("#new_name", "偽造")
    page.check(f"input[name='office:{OFFICE_A}']")
    page.fill("#new_pw", "long enough password")
    page.evaluate("document.querySelector('form.stacked input[name=csrf]').value = 'forged'")
    with page.expect_response(lambda r: r.url.endswith("/staff")) as answer:
        page.click("form.stacked button[type=submit]")
    assert answer.value.status == 403
    assert "受け付けられませんでした" in _main_text(page)
    assert console.store.staff("forged1") is None
    # A post from another site carries the cookie (SameSite aside) but no token.
    refused = page.request.post(console.url + "/logout", form={"csrf": ""})
    assert refused.status == 403
    page.goto(console.url + "/reports/month")
    assert page.url.endswith("/reports/month")  # still signed in: nothing was done
    # With its token the same form works, and the account is made.
    page.goto(console.url + "/staff")
    page.fill("#new_id", "kato1")
    page.fill("#new_name", "加藤")
    page.check(f"input[name='office:{OFFICE_A}']")
    page.fill("#new_pw", "long enough password")
    page.click("form.stacked button[type=submit]")
    assert "otpauth://totp/" in _main_text(page)
    assert console.store.staff("kato1") is not None


def test_an_office_a_manager_cannot_reach_office_b(console: Console) -> None:
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.goto(console.url + f"/reports/month?month={MONTH}")
    options = page.locator("#office option").all_inner_texts()
    assert "本庁舎 市民課" in options
    assert "北支所" not in options
    bodies = []
    for path in (
        f"/reports/month?month={MONTH}&office={OFFICE_B}",
        f"/reports/month?month={MONTH}&office=999999",  # no such office: the same answer
        f"/reports/month.csv?month={MONTH}&office={OFFICE_B}",
        f"/reports/month.pdf?month={MONTH}&office={OFFICE_B}",
        f"/reports/day?date=2026-11-04&office={OFFICE_B}",
        f"/transactions?office={OFFICE_B}",
        f"/transactions?counter={console.devices[OFFICE_B]}",
    ):
        response = page.goto(console.url + path)
        assert response is not None
        assert response.status == 404, path
        bodies.append(_main_text(page))
    assert bodies[0] == bodies[1]
    # Nor make an account for office B, nor lift the lock of one, with a valid token.
    page.goto(console.url + "/staff")
    token = page.get_attribute("form.stacked input[name=csrf]", "value")
    assert token
    made = page.request.post(
        console.url + "/staff",
        form={
            "csrf": token,
            "staff_id": "sneak1",
            "display_name": "潜入",
            "role": "staff",
            f"office:{OFFICE_B}": OFFICE_B,
            "password": "long enough password",
        },
    )
    assert made.status == 404
    assert console.store.staff("sneak1") is None
    other_office = console.account(Role.STAFF, [OFFICE_B], name="北 太郎")
    lifted = page.request.post(
        console.url + "/staff/unlock", form={"csrf": token, "staff_id": other_office.staff_id}
    )
    assert lifted.status == 404
    audit = [(r.action, r.detail) for r in console.store.audit(None)]
    assert ("unlocked", other_office.staff_id) not in audit
    # Office staff (not the administrator) see neither the audit nor the accounts.
    clerk = console.account(Role.STAFF, [OFFICE_A], name="加藤 次郎")
    other = console.page()
    console.sign_in(other, clerk)
    nav = other.inner_text("header nav")
    assert "監査ログ" not in nav
    assert "職員アカウント" not in nav
    for path in ("/audit", "/staff"):
        response = other.goto(console.url + path)
        assert response is not None
        assert response.status == 403
    # IT sees both offices.
    it = console.account(Role.IT, [], name="木村 情報")
    third = console.page()
    console.sign_in(third, it)
    third.goto(console.url + f"/reports/month?month={MONTH}")
    options = third.locator("#office option").all_inner_texts()
    assert "北支所" in options
    assert "本庁舎 市民課" in options


def test_the_csv_download_opens_with_bom_and_japanese_headers(console: Console) -> None:
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.goto(console.url + f"/reports/month?month={MONTH}")
    with page.expect_download() as download:
        page.click("text=CSVダウンロード")
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert download.value.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == JA_HEADERS
    assert len(rows) > 1
    assert {r[0] for r in rows[1:]} == {OFFICE_A}
    assert {r[1] for r in rows[1:]} == {"本庁舎 市民課"}
    assert {r[3] for r in rows[1:]} <= {"署名用電子証明書", "利用者証明用電子証明書", "証明書なし"}
    assert all(r[2].startswith(MONTH) for r in rows[1:])


def test_the_printable_pdf_of_the_month(console: Console, tmp_path: Path) -> None:
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.goto(console.url + f"/reports/month?month={MONTH}&office={OFFICE_A}")
    with page.expect_download() as download:
        page.click("text=印刷用PDF")
    pdf = tmp_path / "month.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert f"{MONTH} の交付状況" in text
    assert "本庁舎 市民課" in text
    assert "機構への納付額（円）" in text
    assert "北支所" not in text
    # The first page as a picture, next to the screenshots.
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
         str(SHOTS / "report-month-pdf")],
        check=True,
    )
    width, height = _png_size(SHOTS / "report-month-pdf.png")
    assert width > height  # A4 landscape


def test_keyboard_only(console: Console) -> None:
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    page.goto(console.url + "/login")
    # The id field has the focus (autofocus: Chromium moves it after the first frame,
    # which a loaded machine may paint late); Tab moves on; Enter signs in.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'staff_id'")
    page.keyboard.type(manager.staff_id)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(manager.code())
    page.keyboard.press("Enter")
    page.wait_for_url("**/reports/month")
    # The first Tab reaches the skip link; Tab on reaches the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "本文へ移動"
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "取引一覧":
            break
    else:
        pytest.fail("取引一覧 is not reachable with Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/transactions")
    # The filter form works from the keyboard too: focus the decision, pick, submit.
    page.focus("#decision")
    page.keyboard.press("End")  # the last decision: 中止
    page.focus("#operator")
    page.keyboard.press("Enter")
    page.wait_for_url("**decision=abandoned**")


def test_back_after_sign_out_and_a_second_tab(console: Console) -> None:
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.goto(console.url + f"/reports/month?month={MONTH}&office={OFFICE_A}")
    second = page.context.new_page()
    second.goto(console.url + "/transactions")
    assert second.url.endswith("/transactions")  # the second tab shares the session
    page.click("text=サインアウト")
    page.wait_for_url("**/login?m=signed_out")
    assert "サインアウトしました" in _main_text(page)
    page.go_back()
    assert "/login" in page.url  # nothing of the report comes back from a cache
    assert "機構への納付額" not in _main_text(page)
    second.reload()
    assert "/login" in second.url
    assert "有効期限" in _main_text(second) or "サインイン" in _main_text(second)


def test_the_two_listeners_serve_only_their_own(console: Console, tmp_path: Path) -> None:
    """No device API on the console's port; no console page on the devices' port."""
    import httpx

    with httpx.Client(verify=False, timeout=10.0) as http:
        assert http.get(console.url + "/v1/time").status_code == 404
        assert http.get(console.url + "/openapi.json").status_code == 404
        device_url = console.device_url
        for path in ("/login", "/reports/month", "/static/console.css"):
            assert http.get(device_url + path).status_code in (401, 404)


def _gapped_counter(console: Console, device: str, office: str) -> None:
    """A counter of ``office`` whose third record never arrived (seq 1, 2, 4)."""
    import json
    from datetime import UTC, datetime

    from device.store import GENESIS_HASH, record_hash
    from sync.protocol import parse_item

    repo = open_repository(console.db)
    try:
        enrol_counter(repo, device, office)
        records = list(sample_records(office, date(2026, 11, 20), 1, 4, start=90))
        prev, items = GENESIS_HASH, []
        for seq, record in enumerate(records, start=1):
            payload = json.loads(json.dumps(record.to_payload()))
            digest = record_hash(seq, prev, payload)
            if seq != 3:
                items.append(parse_item({"seq": seq, "transaction_id": payload["transaction_id"],
                                         "prev_hash": prev, "hash": digest, "payload": payload}))
            prev = digest
        repo.ingest(device, items, received_at=datetime.now(UTC))
    finally:
        repo.close()


def test_the_fleet_page_and_its_office_scope(console: Console) -> None:
    _gapped_counter(console, "counter-a2", OFFICE_A)
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.click("header nav >> text=窓口端末")
    page.wait_for_url("**/fleet")
    text = _main_text(page)
    assert "窓口端末の状況" in text
    rows = page.locator("table tbody tr")
    assert rows.count() == 2
    healthy = rows.filter(has_text=console.devices[OFFICE_A]).inner_text()
    assert "正常" in healthy
    assert "稼働中" in healthy
    gapped = rows.filter(has_text="counter-a2").inner_text()
    assert "要確認（未着 1 件・切れ目 0 件・受付拒否 0 件）" in gapped
    assert "北支所" not in text
    assert console.devices[OFFICE_B] not in text
    assert not RAW_CODES.findall(text)
    _shot(page, "fleet")
    # Office B by URL: the same 404 as an office that does not exist.
    bodies = []
    for office in (OFFICE_B, "999999"):
        response = page.goto(console.url + f"/fleet?office={office}")
        assert response is not None
        assert response.status == 404
        bodies.append(_main_text(page))
    assert bodies[0] == bodies[1]
    # Wrong input: an office parameter that is no code at all.
    response = page.goto(console.url + "/fleet?office=%00%3Cscript%3E")
    assert response is not None
    assert response.status == 404
    # Back returns to the list; the English switch keeps the page.
    page.go_back()
    page.go_back()
    page.go_back()
    assert page.url.endswith("/fleet")
    page.click("text=English")
    assert page.locator("h1").inner_text() == "Counters"
    assert "Check (1 missing, 0 breaks, 0 refused)" in _main_text(page)
    page.click("text=日本語")
    # Office staff see their office's counters too; IT sees every office's.
    clerk = console.account(Role.STAFF, [OFFICE_A], name="加藤 次郎")
    other = console.page()
    console.sign_in(other, clerk)
    response = other.goto(console.url + "/fleet")
    assert response is not None
    assert response.status == 200
    assert "counter-a2" in _main_text(other)
    it = console.account(Role.IT, [], name="木村 情報")
    third = console.page()
    console.sign_in(third, it)
    third.goto(console.url + "/fleet")
    assert console.devices[OFFICE_B] in _main_text(third)
    assert "北支所" in _main_text(third)


def test_enrolment_tokens_from_the_console(console: Console) -> None:
    from sync.server.app import token_hash

    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.click("header nav >> text=端末の登録")
    page.wait_for_url("**/enrolment")
    # Wrong input: a name with a space and a slash; the form keeps it and says why.
    page.fill("#device_id", "counter a/3")
    page.evaluate("document.querySelector('#device_id').removeAttribute('pattern')")
    with page.expect_response(lambda r: r.url.endswith("/enrolment")) as answer:
        page.click("form.stacked button[type=submit]")
    assert answer.value.status == 400
    assert "端末名は英数字で始まる" in page.inner_text("[role=alert]")
    assert page.input_value("#device_id") == "counter a/3"
    # A counter already enrolled is refused in Japanese.
    page.fill("#device_id", console.devices[OFFICE_A])
    page.click("form.stacked button[type=submit]")
    assert "すでに登録されています" in page.inner_text("[role=alert]")
    # A good one: the token is shown once, with the command, and works once.
    page.fill("#device_id", "counter-a3")
    page.select_option("#hours", "24")
    page.click("form.stacked button[type=submit]")
    token = page.inner_text("#token")
    assert f"madoguchi device enroll --token {token}" in _main_text(page)
    text = _main_text(page)
    assert not RAW_CODES.findall(text)
    assert "北支所" not in text
    _shot(page, "enrolment")
    repo = open_repository(console.db)
    try:
        assert repo.use_enrolment_token(token_hash(token), "2026-01-01T00:00:00+00:00") == (
            "counter-a3",
            OFFICE_A,
        )
    finally:
        repo.close()
    # Reloading (GET) or Back never shows the token again; the list says it was used.
    page.goto(console.url + "/enrolment")
    assert token not in _main_text(page)
    row = page.locator("table tbody tr", has_text="counter-a3").inner_text()
    assert "使用済み" in row
    # Back to the answer of the POST: no-store, so Chromium has nothing to show (it would
    # have to post again, ERR_CACHE_MISS) and the token does not come back from a cache.
    with pytest.raises(PlaywrightError, match="ERR_CACHE_MISS"):
        page.go_back()
    assert token not in _main_text(page)
    audit = [(r.action, r.office_code, r.detail) for r in console.store.audit(None)]
    assert ("enrolment_token_issued", OFFICE_A, "counter-a3") in audit
    # Office B by a tampered form with a valid CSRF token: 404, nothing issued.
    page.goto(console.url + "/enrolment")
    csrf = page.get_attribute("form.stacked input[name=csrf]", "value")
    assert csrf
    tampered = page.request.post(
        console.url + "/enrolment",
        form={"csrf": csrf, "office": OFFICE_B, "device_id": "sneak-b1", "hours": "72"},
    )
    assert tampered.status == 404
    forged = page.request.post(
        console.url + "/enrolment",
        form={"csrf": "forged", "office": OFFICE_A, "device_id": "forged-a1", "hours": "72"},
    )
    assert forged.status == 403
    odd_hours = page.request.post(
        console.url + "/enrolment",
        form={"csrf": csrf, "office": OFFICE_A, "device_id": "odd-a1", "hours": "9999"},
    )
    assert odd_hours.status == 400
    issued = {r.detail for r in console.store.audit(None) if r.action == "enrolment_token_issued"}
    assert issued.isdisjoint({"sneak-b1", "forged-a1", "odd-a1"})
    # Office staff may not issue tokens: no menu entry, 403 by URL.
    clerk = console.account(Role.STAFF, [OFFICE_A], name="加藤 次郎")
    other = console.page()
    console.sign_in(other, clerk)
    assert "端末の登録" not in other.inner_text("header nav")
    response = other.goto(console.url + "/enrolment")
    assert response is not None
    assert response.status == 403


def _outstanding(page: Page) -> str:
    return page.locator("table").first.locator("tbody tr td").nth(3).inner_text()


def test_payments_to_jlis_against_the_fees_payable(console: Console) -> None:
    payable = sum(
        r.fee_payable_jlis_yen
        for r in console.store.report(f"{MONTH}-01", f"{MONTH}-30", [OFFICE_A])
    )
    assert payable > 100
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.goto(console.url + f"/reports/month?month={MONTH}")
    page.click("header nav >> text=機構への納付")
    page.goto(console.url + f"/payments?month={MONTH}")
    assert page.locator("h1").inner_text() == f"{MONTH} の機構への納付"
    assert _outstanding(page) == f"{payable:,}"
    assert "北支所" not in _main_text(page)
    # Wrong input: letters, zero; the form keeps what was typed and says why.
    for wrong in ("12a", "0", "-5"):
        page.fill("#amount", wrong)
        page.fill("#note", "11月分")
        with page.expect_response(lambda r: r.url.endswith("/payments")) as answer:
            page.click("#add-payment button[type=submit]")
        assert answer.value.status == 400, wrong
        assert "金額は1円以上" in page.inner_text("[role=alert]")
        assert page.input_value("#amount") == wrong
        assert page.input_value("#note") == "11月分"
    assert console.store.payments([OFFICE_A], MONTH) == []
    # A payment of all but 100 yen: redirected, recorded once, 100 outstanding.
    page.fill("#amount", f"{payable - 100:,}")
    page.click("#add-payment button[type=submit]")
    page.wait_for_url("**m=added**")
    assert "納付を記録しました" in page.inner_text("[role=status]")
    assert _outstanding(page) == "100"
    page.reload()  # the redirect's GET: reloading enters nothing again
    assert len(console.store.payments([OFFICE_A], MONTH)) == 1
    # The rest from a second tab.
    second = page.context.new_page()
    second.goto(console.url + f"/payments?month={MONTH}")
    second.fill("#amount", "100")
    second.click("#add-payment button[type=submit]")
    second.wait_for_url("**m=added**")
    assert _outstanding(second) == "0"
    _shot(second, "payments")
    assert not RAW_CODES.findall(_main_text(second))
    audit = [(r.action, r.office_code) for r in console.store.audit(None)]
    assert audit.count(("payment_recorded", OFFICE_A)) == 2
    # Office B by a tampered form with a valid token: 404; a forged token: 403.
    csrf = page.get_attribute("#add-payment input[name=csrf]", "value")
    assert csrf
    for form, status in (
        ({"csrf": csrf, "office": OFFICE_B, "month": MONTH, "amount": "5", "paid_on": "2026-12-01",
          "note": ""}, 404),
        ({"csrf": "forged", "office": OFFICE_A, "month": MONTH, "amount": "5",
          "paid_on": "2026-12-01", "note": ""}, 403),
        ({"csrf": csrf, "office": OFFICE_A, "month": "2026-13", "amount": "5",
          "paid_on": "2026-12-01", "note": ""}, 400),
    ):
        assert page.request.post(console.url + "/payments", form=form).status == status
    assert len(console.store.payments([OFFICE_A], MONTH)) == 2
    assert console.store.payments([OFFICE_B], MONTH) == []
    # English, and office staff refused.
    page.goto(console.url + f"/payments?month={MONTH}")
    page.click("text=English")
    assert page.locator("h1").inner_text() == f"Payments to J-LIS for {MONTH}"
    page.click("text=日本語")
    clerk = console.account(Role.STAFF, [OFFICE_A], name="加藤 次郎")
    other = console.page()
    console.sign_in(other, clerk)
    assert "機構への納付" not in other.inner_text("header nav")
    response = other.goto(console.url + "/payments")
    assert response is not None
    assert response.status == 403


def test_card_and_certificate_status_lookup_with_their_history(console: Console) -> None:
    from datetime import UTC, datetime

    from sync.server.authz import Principal
    from sync.server.registry import OperationStatus

    now = datetime.now(UTC).isoformat()
    registry = console.store.registry
    registry.set_card_status("card-a-001", OperationStatus.IN_OPERATION, "交付", now,
                             actor=Principal(Role.STAFF, OFFICE_A, name="clerk-a"))
    registry.set_card_status("card-a-001", OperationStatus.SUSPENDED, "紛失の届出", now,
                             actor=Principal(Role.ADMINISTRATOR, OFFICE_A, name="mgr-a"))
    registry.set_card_status("card-b-001", OperationStatus.SUSPENDED, "北支所の届出", now,
                             actor=Principal(Role.STAFF, OFFICE_B, name="clerk-b"))
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.click("header nav >> text=運用状況の照会")
    page.wait_for_url("**/registry")
    page.fill("#key", "card-a-001")
    page.click("form.filters button[type=submit]")
    assert page.inner_text("#current") == "一時停止"
    history = page.locator("table tbody tr")
    assert history.count() == 2
    assert "紛失の届出" in history.nth(1).inner_text()
    assert "運用中" in history.nth(1).inner_text()  # before
    text = _main_text(page)
    assert not RAW_CODES.findall(text)
    assert "suspended" not in text
    assert "in_operation" not in text
    _shot(page, "registry")
    # Office B's card: its status is public to every office (like a revocation list), its
    # history is not office A's to read.
    page.goto(console.url + "/registry?what=card&key=card-b-001")
    assert page.inner_text("#current") == "一時停止"
    assert "北支所の届出" not in _main_text(page)
    assert "該当するデータはありません" in _main_text(page)
    # A certificate the counters issued, with its history.
    serial = registry.registry_audit(OFFICE_A, 0, 1)[0].key
    page.goto(console.url + f"/registry?what=certificate&key={serial}")
    assert page.inner_text("#current") == "有効"
    assert "窓口端末" in page.locator("table tbody tr").first.inner_text()
    # Wrong input: twelve digits (could be an individual number), a non-ASCII key, an odd kind.
    for key, words in (("123456789012", "個人番号の可能性"), ("カード番号", "半角英数字")):
        response = page.goto(console.url + "/registry?" + f"what=card&key={key}")
        assert response is not None
        assert response.status == 400
        assert words in page.inner_text("[role=alert]")
        assert page.input_value("#key") == ""  # not echoed back
    response = page.goto(console.url + "/registry?what=person&key=x")
    assert response is not None
    assert response.status == 400
    page.goto(console.url + "/registry?what=card&key=no-such-card")
    assert "登録されていません" in _main_text(page)
    # Office A's manager changes its card back to 運用中: the registry and the console's
    # audit both have it; reload after the redirect changes nothing again.
    page.goto(console.url + "/registry?what=card&key=card-a-001")
    page.select_option("#new_status", "in_operation")
    page.fill("#reason", "カードが見つかった")
    page.click("#card-form button[type=submit]")
    page.wait_for_url("**m=changed**")
    assert page.inner_text("#current") == "運用中"
    assert "運用状況を変更しました" in page.inner_text("[role=status]")
    page.reload()
    changes = console.store.registry_history("card", "card-a-001")
    assert [c.after for c in changes] == ["in_operation", "suspended", "in_operation"]
    assert changes[-1].actor == f"administrator:{manager.staff_id}"
    noted = [(r.action, r.office_code) for r in console.store.audit(None)]
    assert noted.count(("card_status_changed", OFFICE_A)) == 1
    # A card the registry does not know yet: office A's, chosen in the form.
    page.goto(console.url + "/registry?what=card&key=card-a-new")
    assert "登録されていません" in _main_text(page)
    assert page.locator("#card_office option").all_inner_texts() == ["本庁舎 市民課"]
    page.select_option("#new_status", "suspended")
    page.click("#card-form button[type=submit]")
    page.wait_for_url("**m=changed**")
    assert page.inner_text("#current") == "一時停止"
    # Office B's card has no form here; a tampered post with a valid token is 404, a
    # forged token 403, a reason too long 400; nothing changes.
    page.goto(console.url + "/registry?what=card&key=card-b-001")
    assert page.locator("#card-form").count() == 0
    page.goto(console.url + "/registry?what=card&key=card-a-001")
    csrf = page.get_attribute("#card-form input[name=csrf]", "value")
    assert csrf
    for form, status in (
        ({"csrf": csrf, "key": "card-b-001", "status": "in_operation", "reason": ""}, 404),
        ({"csrf": csrf, "key": "card-z-1", "status": "suspended", "office": OFFICE_B,
          "reason": ""}, 404),
        ({"csrf": "forged", "key": "card-a-001", "status": "abolished", "reason": ""}, 403),
        ({"csrf": csrf, "key": "card-a-001", "status": "abolished", "reason": "x" * 201}, 400),
        ({"csrf": csrf, "key": "card-a-001", "status": "gone", "reason": ""}, 400),
    ):
        assert page.request.post(console.url + "/registry/card", form=form).status == status
    assert registry.card_status("card-b-001").status == "suspended"  # type: ignore[union-attr]
    assert registry.card_status("card-z-1") is None
    assert registry.card_status("card-a-001").status == "in_operation"  # type: ignore[union-attr]
    # English, and IT sees office B's history too.
    page.goto(console.url + "/registry?what=card&key=card-a-001")
    page.click("text=English")
    assert page.inner_text("#current") == "in operation"
    page.click("text=日本語")
    it = console.account(Role.IT, [], name="木村 情報")
    third = console.page()
    console.sign_in(third, it)
    third.goto(console.url + "/registry?what=card&key=card-b-001")
    assert "北支所の届出" in _main_text(third)
    # IT reads, but does not change a card's 運用状況 (the matrix): no form, 403.
    assert third.locator("#card-form, #cert-form").count() == 0
    token = third.get_attribute("header form input[name=csrf]", "value")
    assert token
    refused = third.request.post(
        console.url + "/registry/card",
        form={"csrf": token, "key": "card-b-001", "status": "abolished", "reason": ""},
    )
    assert refused.status == 403


def test_the_month_page_draws_issuance_per_office_over_30_days(console: Console) -> None:
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.goto(console.url + f"/reports/month?month={MONTH}")
    caption = page.inner_text("figure.chart figcaption")
    assert "2026-11-01〜2026-11-30" in caption
    lines = page.locator("figure.chart polyline.series")
    assert lines.count() == 1  # office A only: office B is not drawn for its manager
    expected = sum(
        r.issued + r.renewed
        for r in console.store.report("2026-11-01", "2026-11-30", [OFFICE_A])
    )
    assert expected > 0
    assert lines.first.locator("title").text_content() == f"本庁舎 市民課: {expected}"
    assert f"本庁舎 市民課（計 {expected} 件）" in page.inner_text("ul.legend")
    assert "北支所" not in _main_text(page)
    points = lines.first.get_attribute("points")
    assert points is not None
    assert len(points.split()) == 30
    page.locator("figure.chart").screenshot(path=str(SHOTS / "report-chart.png"))
    assert _png_size(SHOTS / "report-chart.png")[0] > 600
    it = console.account(Role.IT, [], name="木村 情報")
    other = console.page()
    console.sign_in(other, it)
    other.goto(console.url + f"/reports/month?month={MONTH}")
    assert other.locator("figure.chart polyline.series").count() == 2


def _valid_certificates(console: Console, office: str) -> list[str]:
    """Serials of ``office``'s certificates the registry holds as 有効 (the counters'
    sample records issued them)."""
    registry = console.store.registry
    seen: list[str] = []
    for entry in registry.registry_audit(office, 0, 500):
        if entry.registry != "certificate" or entry.key in seen:
            continue
        status = registry.certificate_status(entry.key)
        if status is not None and status.status == "valid":
            seen.append(entry.key)
    return seen


def test_a_certificate_put_on_hold_then_revoked_from_the_console(console: Console) -> None:
    mine = _valid_certificates(console, OFFICE_A)
    theirs = _valid_certificates(console, OFFICE_B)
    assert len(mine) >= 2
    assert theirs
    serial = mine[-1]
    registry = console.store.registry
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.goto(console.url + f"/registry?what=certificate&key={serial}")
    assert page.inner_text("#current") == "有効"
    # Only what staff may set (第4-3): 一時保留 and 失効, never 有効.
    assert page.locator("#cert_status option").all_inner_texts() == ["一時保留", "失効"]
    assert page.get_attribute("#cert_reason", "required") is not None
    csrf = page.get_attribute("#cert-form input[name=csrf]", "value")
    assert csrf
    # No reason (a browser would not send the form; a hand-made post): refused, unchanged.
    answer = page.request.post(
        console.url + "/registry/certificate",
        form={"csrf": csrf, "key": serial, "status": "temporary_hold", "reason": " "},
    )
    assert answer.status == 400
    assert "理由を入力してください" in answer.text()
    assert registry.certificate_status(serial).status == "valid"  # type: ignore[union-attr]
    # On hold with a reason: redirected, the registry's history and the console's audit.
    page.select_option("#cert_status", "temporary_hold")
    page.fill("#cert_reason", "カード紛失の届出（電話）")
    page.click("#cert-form button[type=submit]")
    page.wait_for_url("**m=cert_changed**")
    assert page.inner_text("#current") == "一時保留"
    assert "証明書の状態を変更しました" in page.inner_text("[role=status]")
    last = page.locator("table tbody tr").last.inner_text()
    assert "カード紛失の届出（電話）" in last
    assert "一時保留" in last
    # From 一時保留 only 失効 is offered (a held certificate is revoked, not released).
    assert page.locator("#cert_status option").all_inner_texts() == ["失効"]
    _shot(page, "registry-certificate")
    # (The serial and the counter's own reasons hold words like "auth": data, not labels.)
    assert not RAW_CODES.findall(page.inner_text("#cert-form") + page.inner_text("#current"))
    # 失効 without ticking the confirmation: refused, and says why.
    page.fill("#cert_reason", "失効申請書の受理")
    with page.expect_response(lambda r: r.url.endswith("/registry/certificate")) as refused:
        page.click("#cert-form button[type=submit]")
    assert refused.value.status == 400
    assert "失効は取り消せません" in _main_text(page)
    assert registry.certificate_status(serial).status == "temporary_hold"  # type: ignore[union-attr]
    page.go_back()
    page.fill("#cert_reason", "失効申請書の受理")
    page.check("#cert_confirm")
    page.click("#cert-form button[type=submit]")
    page.wait_for_url("**m=cert_changed**")
    assert page.inner_text("#current") == "失効"
    assert page.locator("#cert-form").count() == 0  # 失効 is final
    changes = console.store.registry_history("certificate", serial)
    assert [c.after for c in changes][-2:] == ["temporary_hold", "revoked"]
    assert changes[-1].actor == f"administrator:{manager.staff_id}"
    assert changes[-1].why == "失効申請書の受理"
    noted = [r for r in console.store.audit([OFFICE_A]) if r.action == "certificate_status_changed"]
    assert noted[0].detail == f"{serial} 一時保留 → 失効: 失効申請書の受理"
    # Tampered posts with a valid token: office B's certificate and an unknown one are
    # 404 alike; 有効 is not the console's to set (400); a forged token 403; nothing moves.
    csrf = page.get_attribute("header form input[name=csrf]", "value")
    assert csrf
    other = mine[0]
    for form, status in (
        ({"key": theirs[0], "status": "temporary_hold", "reason": "r"}, 404),
        ({"key": "no-such-serial", "status": "temporary_hold", "reason": "r"}, 404),
        ({"key": other, "status": "valid", "reason": "r"}, 400),
        ({"key": other, "status": "gone", "reason": "r"}, 400),
        ({"key": serial, "status": "temporary_hold", "reason": "r"}, 409),  # 失効 is final
        ({"key": other, "status": "temporary_hold", "reason": "x" * 201}, 400),
    ):
        posted = page.request.post(
            console.url + "/registry/certificate", form={"csrf": csrf, **form}
        )
        assert posted.status == status, form
    forged = page.request.post(
        console.url + "/registry/certificate",
        form={"csrf": "forged", "key": other, "status": "temporary_hold", "reason": "r"},
    )
    assert forged.status == 403
    assert registry.certificate_status(theirs[0]).status == "valid"  # type: ignore[union-attr]
    assert registry.certificate_status(other).status == "valid"  # type: ignore[union-attr]
    # Office B's certificate: its status shown, no form for office A.
    page.goto(console.url + f"/registry?what=certificate&key={theirs[0]}")
    assert page.inner_text("#current") == "有効"
    assert page.locator("#cert-form").count() == 0
    # IT reads but does not change a certificate's status (the matrix): no form, 403.
    it = console.account(Role.IT, [], name="木村 情報")
    third = console.page()
    console.sign_in(third, it)
    third.goto(console.url + f"/registry?what=certificate&key={other}")
    assert third.locator("#cert-form").count() == 0
    token = third.get_attribute("header form input[name=csrf]", "value")
    assert token
    denied = third.request.post(
        console.url + "/registry/certificate",
        form={"csrf": token, "key": other, "status": "temporary_hold", "reason": "r"},
    )
    assert denied.status == 403


def test_a_payment_entered_twice_is_corrected_not_deleted(console: Console) -> None:
    month = MONTH

    def outstanding() -> int:
        payable = sum(
            r.fee_payable_jlis_yen
            for r in console.store.report(f"{month}-01", f"{month}-30", [OFFICE_A])
        )
        return payable - sum(p.amount_yen for p in console.store.payments([OFFICE_A], month))

    before = outstanding()
    manager = console.account(Role.ADMINISTRATOR, [OFFICE_A])
    page = console.page()
    console.sign_in(page, manager)
    page.goto(console.url + f"/payments?month={month}")
    # The same payment entered a second time by mistake.
    page.fill("#amount", "5,000")
    page.fill("#note", "二重入力")
    page.click("#add-payment button[type=submit]")
    page.wait_for_url("**m=added**")
    wrong = console.store.payments([OFFICE_A], month)[-1]
    assert wrong.amount_yen == 5000
    assert _outstanding(page) == f"{before - 5000:,}"
    # Corrected: letters refused with the form kept; then 0 yen with a reason.
    page.select_option("#fix_payment", str(wrong.id))
    page.fill("#fix_amount", "abc")
    page.fill("#fix_reason", "同じ納付を二回記録した")
    with page.expect_response(lambda r: r.url.endswith("/payments/correction")) as bad:
        page.click("#fix-payment button[type=submit]")
    assert bad.value.status == 400
    assert "正しい金額は0円以上" in page.inner_text("[role=alert]")
    assert page.input_value("#fix_amount") == "abc"
    assert page.input_value("#fix_reason") == "同じ納付を二回記録した"
    assert page.input_value("#fix_payment") == str(wrong.id)
    page.fill("#fix_amount", "0")
    page.click("#fix-payment button[type=submit]")
    page.wait_for_url("**m=corrected**")
    assert "訂正を記録しました" in page.inner_text("[role=status]")
    assert _outstanding(page) == (f"{before:,}" if before else "0")
    # The original stays as entered; the correction names it and holds the difference.
    entries = console.store.payments([OFFICE_A], month)
    fix = entries[-1]
    assert (fix.corrects_id, fix.amount_yen) == (wrong.id, -5000)
    assert fix.note == "同じ納付を二回記録した"
    assert console.store.payment(wrong.id) == wrong
    row = page.locator(f"#payment-{fix.id}").inner_text()
    assert f"#{wrong.id} の訂正" in row
    assert "5,000 → 0" in row
    assert page.locator(f"#payment-{wrong.id} td").nth(3).inner_text() == "0"
    _shot(page, "payments-correction")
    page.reload()  # the redirect's GET: nothing entered again
    assert len(console.store.payments([OFFICE_A], month)) == len(entries)
    # In the audit, with the amounts and the reason.
    page.goto(console.url + "/audit")
    audit = _main_text(page)
    assert "機構への納付の訂正" in audit
    assert f"#{wrong.id} ¥5,000 → ¥0" in audit
    # Office B's payment by a tampered form: 404 like a missing one; a correction of a
    # correction and a missing reason 400; a forged token 403; nothing entered.
    theirs = console.store.add_payment(OFFICE_B, month, 700, "2026-12-02", "", actor="t")
    csrf = page.get_attribute("header form input[name=csrf]", "value")
    assert csrf
    for form, status in (
        ({"payment": str(theirs), "amount": "0", "paid_on": "2026-12-02", "reason": "r"}, 404),
        ({"payment": "99999999", "amount": "0", "paid_on": "2026-12-02", "reason": "r"}, 404),
        ({"payment": str(fix.id), "amount": "1", "paid_on": "2026-12-02", "reason": "r"}, 400),
        ({"payment": str(wrong.id), "amount": "1", "paid_on": "2026-12-02", "reason": ""}, 400),
        ({"payment": "x", "amount": "1", "paid_on": "2026-12-02", "reason": "r"}, 400),
    ):
        posted = page.request.post(
            console.url + "/payments/correction", form={"csrf": csrf, **form}
        )
        assert posted.status == status, form
    forged = page.request.post(
        console.url + "/payments/correction",
        form={"csrf": "forged", "payment": str(wrong.id), "amount": "1", "paid_on": "2026-12-02",
              "reason": "r"},
    )
    assert forged.status == 403
    assert len(console.store.payments([OFFICE_A], month)) == len(entries)
    assert [p.amount_yen for p in console.store.payments([OFFICE_B], month)] == [700]
    # Office staff may not record or correct payments.
    clerk = console.account(Role.STAFF, [OFFICE_A], name="加藤 次郎")
    other = console.page()
    console.sign_in(other, clerk)
    token = other.get_attribute("header form input[name=csrf]", "value")
    assert token
    refused = other.request.post(
        console.url + "/payments/correction",
        form={"csrf": token, "payment": str(wrong.id), "amount": "1", "paid_on": "2026-12-02",
              "reason": "r"},
    )
    assert refused.status == 403


def test_the_issuance_register_export(console: Console) -> None:
    from sync.server.console.pages.register import REGISTER_HEADERS

    clerk = console.account(Role.STAFF, [OFFICE_A], name="加藤 次郎")
    page = console.page()
    console.sign_in(page, clerk)
    page.goto(console.url + f"/reports/month?month={MONTH}&office={OFFICE_A}")
    with page.expect_download() as download:
        page.click("text=交付記録簿（CSV・任意）")
    assert download.value.suggested_filename == f"交付記録簿_{OFFICE_A}_{MONTH}.csv"
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == REGISTER_HEADERS
    body = rows[1:]
    assert body
    assert {r[0] for r in body} == {OFFICE_A}
    assert {r[1] for r in body} == {"本庁舎 市民課"}
    assert {r[3] for r in body} <= {"署名用電子証明書", "利用者証明用電子証明書"}
    assert all(r[2].startswith(MONTH) for r in body)
    # (イ) = (ウ) = (エ) + (オ); (カ) is not in the records: left empty, never a guess.
    for r in body:
        assert r[4] == r[5]
        assert int(r[5]) == int(r[6]) + int(r[7])
        assert r[8] == ""
    # The certificates handed over are the month report's issued and renewed.
    report = console.store.report(f"{MONTH}-01", f"{MONTH}-30", [OFFICE_A])
    handed = sum(r.issued + r.renewed for r in report if r.certificate_type in ("sign", "auth"))
    assert sum(int(r[5]) for r in body) == handed
    # No card, certificate or person: only dates, codes, names of offices and counts.
    assert not any(re.search(r"\d{12}", cell) for r in body for cell in r)
    # Office B by a changed URL: 404, the same as an office that does not exist.
    for office in (OFFICE_B, "999999"):
        response = page.goto(console.url + f"/reports/register.csv?month={MONTH}&office={office}")
        assert response is not None
        assert response.status == 404
    response = page.goto(console.url + "/reports/register.csv?month=2026-13")
    assert response is not None
    assert response.status == 400
