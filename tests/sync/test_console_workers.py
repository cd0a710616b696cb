"""The office console with several worker processes (``--console-workers 2``): a real
``madoguchi server run`` on loopback over HTTPS, on SQLite and PostgreSQL.

Each answer names the worker that served it, and an HTTP keep-alive connection stays
with the worker that accepted it, so the test holds one connection to each worker and
sends every request to the worker it chooses: a sign-in on one is a session on the
other, a CSRF token rendered by one is accepted by the other, a TOTP code used on one is
refused on the other, failures counted on both lock the account on both, and signing
out on one ends the session on the other.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from sync import pki
from sync.client import tls_context
from sync.localserver import LocalServer
from sync.pgcluster import free_port
from sync.server.authz import Role
from sync.server.console.serve import open_console_store
from sync.server.console.store import LOCK_AFTER, ConsoleStore

PASSWORD = "workers-console-pw-1"
OFFICE = "131016"
WORKER = "x-madoguchi-console-worker"


@dataclass
class Browser:
    """One browser's cookies, sent to whichever worker the test picks."""

    jar: dict[str, str] = field(default_factory=dict)

    def call(
        self, client: httpx.Client, worker: int, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items())}
        answer = client.request(method, path, headers=headers, **kwargs)
        client.cookies.clear()  # the jar above is the browser's, not the connection's
        assert answer.headers[WORKER] == str(worker), "the connection changed worker"
        for header in answer.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower() or not value or value == '""':
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return answer


@dataclass
class World:
    url: str
    store: ConsoleStore
    workers: dict[int, httpx.Client]


@pytest.fixture
def world(db_url: str, server_pki: Path, tmp_path: Path) -> Iterator[World]:
    port = free_port()
    server = LocalServer(
        db_url,
        server_pki,
        extra_args=("--console-listen", f"127.0.0.1:{port}", "--console-workers", "2"),
    )
    server.start()
    store = open_console_store(db_url)
    url = f"https://127.0.0.1:{port}"
    found: dict[int, httpx.Client] = {}
    try:
        # New connections until each worker holds one (the kernel hands each new
        # connection to whichever worker accepts it first).
        deadline = time.monotonic() + 60
        while len(found) < 2 and time.monotonic() < deadline:
            client = httpx.Client(
                base_url=url, verify=tls_context(server_pki / pki.CA_CERT), timeout=15.0
            )
            try:
                answer = client.get("/login")
            except httpx.TransportError:  # the workers are still starting
                client.close()
                time.sleep(0.2)
                continue
            worker = int(answer.headers[WORKER])
            if worker in found:
                client.close()
            else:
                found[worker] = client
        assert sorted(found) == [1, 2], f"only workers {sorted(found)} answered"
        yield World(url, store, found)
    finally:
        for client in found.values():
            client.close()
        store.close()
        server.stop()


def _login_token(page: str) -> str:
    match = re.search(r'name="login_token" value="([^"]+)"', page)
    assert match, "no sign-in token on the page"
    return match.group(1)


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _sign_in_form(token: str, staff_id: str, password: str, code: str) -> dict[str, str]:
    return {"login_token": token, "staff_id": staff_id, "password": password, "code": code}


def test_a_session_its_csrf_token_and_a_used_code_cross_workers(world: World) -> None:
    one, two = world.workers[1], world.workers[2]
    added = world.store.add_staff(
        "sato", "佐藤 一郎", Role.ADMINISTRATOR, PASSWORD, [OFFICE], actor="test"
    )
    code = pyotp.TOTP(added.totp_secret).now()
    browser = Browser()
    token = _login_token(browser.call(one, 1, "GET", "/login").text)
    signed = browser.call(
        one, 1, "POST", "/login", data=_sign_in_form(token, "sato", PASSWORD, code)
    )
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/reports/month"
    session_cookie = browser.jar["__Host-madoguchi-console"]
    # The session made by worker 1 is a session on worker 2.
    month = browser.call(two, 2, "GET", "/reports/month")
    assert month.status_code == 200
    assert "佐藤 一郎" in month.text
    # A CSRF token rendered by worker 2 is accepted by worker 1 (a payment is recorded).
    form = browser.call(two, 2, "GET", "/payments?month=2026-11")
    posted = browser.call(
        one,
        1,
        "POST",
        "/payments",
        data={
            "csrf": _csrf(form.text),
            "office": OFFICE,
            "month": "2026-11",
            "amount": "1200",
            "paid_on": "2026-12-01",
            "note": "",
        },
    )
    assert posted.status_code == 303, posted.text
    assert [p.amount_yen for p in world.store.payments([OFFICE], "2026-11")] == [1200]
    # A wrong token is still refused on either worker.
    forged = browser.call(
        two, 2, "POST", "/payments", data={"csrf": "forged", "office": OFFICE, "month": "2026-11"}
    )
    assert forged.status_code == 403
    # The code worker 1 took is refused by worker 2 (the last step used is in the database).
    replay = Browser()
    token = _login_token(replay.call(two, 2, "GET", "/login").text)
    again = replay.call(two, 2, "POST", "/login", data=_sign_in_form(token, "sato", PASSWORD, code))
    assert again.status_code == 401
    assert "__Host-madoguchi-console" not in replay.jar
    reasons = [r.detail for r in world.store.audit(None) if r.action == "sign_in_failed"]
    assert reasons[0] == "wrong_code"
    # Signing out on worker 2 ends the session on worker 1.
    page = browser.call(two, 2, "GET", "/reports/month")
    out = browser.call(two, 2, "POST", "/logout", data={"csrf": _csrf(page.text)})
    assert out.status_code == 303
    assert "__Host-madoguchi-console" not in browser.jar
    browser.jar["__Host-madoguchi-console"] = session_cookie  # a copy kept from before
    gone = browser.call(one, 1, "GET", "/reports/month")
    assert gone.status_code == 303
    assert gone.headers["location"].startswith("/login")


def test_a_lock_out_counts_failures_on_every_worker(world: World) -> None:
    added = world.store.add_staff("suzuki", "鈴木 次郎", Role.STAFF, PASSWORD, [OFFICE], actor="t")
    totp = pyotp.TOTP(added.totp_secret)
    browser = Browser()
    # The sign-in form's token is bound to a cookie (each answer gives a fresh pair),
    # so a form one worker gave is good on the other.
    token = _login_token(browser.call(world.workers[1], 1, "GET", "/login").text)
    served = []
    for attempt in range(LOCK_AFTER):
        worker = 2 - attempt % 2  # 2, 1, 2, 1, 2: neither worker sees five alone
        answer = browser.call(
            world.workers[worker],
            worker,
            "POST",
            "/login",
            data=_sign_in_form(token, "suzuki", "not-the-password", totp.now()),
        )
        assert answer.status_code == 401
        token = _login_token(answer.text)
        served.append(worker)
    assert sorted(set(served)) == [1, 2]
    assert max(served.count(1), served.count(2)) < LOCK_AFTER
    staff = world.store.staff("suzuki")
    assert staff is not None
    assert staff.locked
    # Locked on both: the right password and code are refused by each worker.
    for worker, client in world.workers.items():
        refused = browser.call(
            client,
            worker,
            "POST",
            "/login",
            data=_sign_in_form(token, "suzuki", PASSWORD, totp.now()),
        )
        assert refused.status_code == 401
        assert "__Host-madoguchi-console" not in browser.jar
        token = _login_token(refused.text)
    actions = [r.action for r in world.store.audit(None) if r.actor == "staff:suzuki"]
    assert actions.count("locked_out") == 1
    assert actions.count("sign_in_refused") == 2
    # Lifted (as `server staff unlock` does): the next sign-in works on either worker.
    world.store.unlock("suzuki", actor="test")
    ok = browser.call(
        world.workers[2],
        2,
        "POST",
        "/login",
        data=_sign_in_form(token, "suzuki", PASSWORD, totp.now()),
    )
    assert ok.status_code == 303
    assert browser.call(world.workers[1], 1, "GET", "/transactions").status_code == 200
