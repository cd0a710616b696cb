"""Clerk accounts managed centrally per office (issue 16), end to end on SQLite and PostgreSQL.

A real server process on loopback (mutual TLS), the counter's real operator store on a
SQLite file, the real clerk sync the daemon runs, and the clerk signing in on the real
Textual login screen (Pilot): add a clerk centrally → next sync → signs in → revoke →
next sync → refused with the one refusal; with the server stopped the cached clerk
still signs in; every attempt reaches the server once, a crash between sending and
marking included; another office's list is refused.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from device.operators import (
    REFUSED_MESSAGE,
    REVOCATION_CHECK_S,
    KdfParams,
    OperatorStore,
    SignInRefusedError,
    open_operator_db,
)
from madoguchi.errors import ConfigError
from sync.clerks import ClerkSync
from sync.server.clerks import ClerkStore
from sync.server.repository import open_repository
from tests.sync.conftest import ServerProcess
from tui.app import CounterApp

OFFICE = "131016"
OTHER_OFFICE = "271004"
#: The server's scrypt cost in these tests (the default costs ~0.3 s a hash).
FAST_KDF = KdfParams(n=2**4, r=8, p=1)
PASSWORD = "madoguchi-tanaka-01"


def _server_store(server: ServerProcess) -> tuple[ClerkStore, object]:
    repo = open_repository(server.db_url, pool_size=1)
    return ClerkStore(repo.dialect, kdf=FAST_KDF), repo


def _counter(path: Path) -> OperatorStore:
    return OperatorStore(open_operator_db(str(path)), central_only=True, max_failures=3)


def _server_sign_ins(store: ClerkStore) -> list[tuple[str, str, str]]:
    return sorted(
        (r.clerk_id, r.action, r.detail) for r in store.sign_ins([OFFICE], limit=1000)
    )


def _services(state: Path, operators: OperatorStore, clock: Any = None) -> object:
    from device.operators import SystemClock
    from device.store import Store
    from drivers import open_keypad, open_reader
    from madoguchi.commands.demo import ApplianceServices

    return ApplianceServices(
        clock=clock if clock is not None else SystemClock(),
        reader=open_reader("sim", profile="standard", pki_dir=state / "sim-pki"),
        operators=operators,
        store=Store(state / "madoguchi.sqlite3"),
        keypad_rows=("123", "456", "789", "*0#"),
        keypad_backend="keyboard",
        pin_pad=open_keypad("keyboard"),
        demo=False,
        pki_dir=state / "sim-pki",
    )


async def _tui_sign_in(services: object, clerk_id: str, password: str) -> tuple[str, str]:
    """Type the id and the password on the login screen; the screen's id and message."""
    app = CounterApp(services=services)  # type: ignore[arg-type]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.query_one("#operator-id", Input).focus()
        await pilot.press(*clerk_id, "enter", *password, "enter")
        for _ in range(1000):
            await pilot.pause(0.02)
            screen = app.screen
            if screen.id == "home":
                # Let the home screen finish composing before the app closes.
                await _until(pilot, lambda: bool(app.screen.query("#card-panel")))
                break
            text = str(screen.query_one("#login-message", Static).render()).strip()
            if not getattr(screen, "busy", True) and text:
                break
        screen = app.screen
        message = (
            "" if screen.id == "home" else str(screen.query_one("#login-message", Static).render())
        )
        return str(screen.id), message


def test_a_clerk_added_centrally_signs_in_until_revoked(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    store, repo = _server_store(server)
    counter = _counter(tmp_path / "operators.sqlite3")
    sync = ClerkSync.connect(counter, server.url, device_tls, central=True, timeout_s=5.0)
    try:
        # Nothing yet: the counter holds no clerk; central refuses a local add.
        first = sync.sync_once()
        assert first.error is None
        assert counter.operator_ids() == []
        with pytest.raises(ConfigError, match="managed centrally"):
            counter.add("local01", "local-password-1")

        store.add(OFFICE, "tanaka", "田中 花子", PASSWORD, actor="administrator:yamada")
        store.add(OTHER_OFFICE, "osaka01", "大阪 一郎", PASSWORD, actor="it")
        added = sync.sync_once()
        assert (added.error, added.written, added.removed) == (None, 1, 0)
        assert counter.operator_ids() == ["tanaka"]  # never another office's clerk
        assert counter.info("tanaka").source == "central"
        # An unchanged list costs a 304.
        assert sync.sync_once().unchanged

        session = counter.sign_in("tanaka", PASSWORD)
        assert session.display_name == "田中 花子"
        session.sign_out()
        with pytest.raises(SignInRefusedError):
            counter.sign_in("tanaka", "wrong-password-1")

        # The server stopped for days: the cached clerk still signs in offline.
        server.stop()
        down = sync.sync_once()
        assert down.error is not None
        counter.sign_in("tanaka", PASSWORD).sign_out()
        server.start()

        # The attempts reached the server, once each.
        back = sync.sync_once()
        assert back.error is None
        assert back.sign_ins_sent == 5
        held = _server_sign_ins(store)
        assert held == sorted([
            ("tanaka", "sign_in", ""), ("tanaka", "sign_out", "explicit"),
            ("tanaka", "sign_in_refused", "wrong_password 1/3"),
            ("tanaka", "sign_in", ""), ("tanaka", "sign_out", "explicit"),
        ])
        # A kill -9 after the server stored a batch and before the mark moved: the same
        # events again are kept once.
        with counter._db.conn:
            counter._db.conn.execute("DELETE FROM operator_sync WHERE name = 'sign_ins_sent'")
        again = sync.sync_once()
        assert again.sign_ins_sent == 5
        assert _server_sign_ins(store) == held

        # A password reset reaches the counter and ends a lock-out there.
        for _ in range(3):
            with pytest.raises(SignInRefusedError):
                counter.sign_in("tanaka", "wrong-password-2")
        assert counter.info("tanaka").locked
        store.reset_password(OFFICE, "tanaka", "madoguchi-tanaka-02", actor="staff:suzuki")
        assert sync.sync_once().written == 1
        assert not counter.info("tanaka").locked
        with pytest.raises(SignInRefusedError):
            counter.sign_in("tanaka", PASSWORD)
        counter.sign_in("tanaka", "madoguchi-tanaka-02").sign_out()

        # Revoked centrally → next sync → refused with the one refusal of every failure.
        store.revoke(OFFICE, "tanaka", actor="administrator:yamada")
        revoked = sync.sync_once()
        assert (revoked.error, revoked.removed) == (None, 1)
        with pytest.raises(SignInRefusedError) as refused:
            counter.sign_in("tanaka", "madoguchi-tanaka-02")
        assert str(refused.value) == REFUSED_MESSAGE
        # Its id stays taken; the changes are in the console's audit with the office.
        with pytest.raises(ConfigError, match="already has"):
            store.add(OFFICE, "tanaka", "別人", PASSWORD, actor="it")
        with repo.dialect.transaction() as cur:  # type: ignore[attr-defined]
            cur.execute(repo.dialect.sql(  # type: ignore[attr-defined]
                "SELECT action, office_code, detail FROM console_audit ORDER BY id"))
            audit = [tuple(r) for r in cur.fetchall()]
        assert audit == [
            ("clerk_added", OFFICE, "tanaka"), ("clerk_added", OTHER_OFFICE, "osaka01"),
            ("clerk_password_reset", OFFICE, "tanaka"), ("clerk_revoked", OFFICE, "tanaka"),
        ]
    finally:
        sync.close()
        counter.close()
        repo.close()  # type: ignore[attr-defined]


def test_a_counter_gets_only_its_own_office(server: ServerProcess, device_tls: Path) -> None:
    store, repo = _server_store(server)
    try:
        store.add(OTHER_OFFICE, "osaka01", "大阪 一郎", PASSWORD, actor="it")
        with server.client(device_tls) as http:
            other = http.get("/v1/clerks", params={"office": OTHER_OFFICE})
            assert other.status_code == 403
            own = http.get("/v1/clerks", params={"office": OFFICE})
            assert own.status_code == 200
            assert own.json()["clerks"] == []
            assert own.headers["etag"] == '"clerks-0"'
            bad = http.post("/v1/clerks/sign-ins", json={"store_id": "x", "events": []})
            assert bad.status_code == 400
        with server.anonymous_client() as anonymous:
            assert anonymous.get("/v1/clerks").status_code == 401
    finally:
        repo.close()  # type: ignore[attr-defined]


def test_the_clerk_signs_in_on_the_login_screen_until_revoked(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    store, repo = _server_store(server)
    state = tmp_path / "counter"
    state.mkdir()
    counter = _counter(state / "operators.sqlite3")
    services = _services(state, counter)
    sync = ClerkSync.connect(counter, server.url, device_tls, central=True, timeout_s=5.0)
    try:
        store.add(OFFICE, "tanaka", "田中 花子", PASSWORD, actor="administrator:yamada")
        assert sync.sync_once().written == 1
        where, _ = asyncio.run(_tui_sign_in(services, "tanaka", PASSWORD))
        assert where == "home"
        store.revoke(OFFICE, "tanaka", actor="administrator:yamada")
        assert sync.sync_once().removed == 1
        where, revoked_message = asyncio.run(_tui_sign_in(services, "tanaka", PASSWORD))
        assert where == "login"
        where, unknown_message = asyncio.run(_tui_sign_in(services, "nobody", PASSWORD))
        assert where == "login"
        # One refusal for every failed sign-in: a revoked id reads as an unknown one.
        assert revoked_message == unknown_message
        assert revoked_message.strip()
        assert sync.sync_once().sign_ins_sent == 2
        actions = sorted((r.clerk_id, r.action, r.detail) for r in store.sign_ins([OFFICE]))
        assert actions == [
            ("", "sign_in_refused", "unknown_id"),  # an unknown id is never kept as typed
            ("tanaka", "sign_in", ""),
            ("tanaka", "sign_in_refused", "revoked"),  # a revoked clerk's try is attributed
        ]
    finally:
        sync.close()
        services.close()  # type: ignore[attr-defined]
        repo.close()  # type: ignore[attr-defined]


class _StepClock:
    """Monotonic and wall time the test moves by hand (days pass in no time)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.start = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t - 1000.0)


def test_a_clerk_signed_in_when_revoked_is_signed_out_and_days_offline_change_nothing(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    store, repo = _server_store(server)
    state = tmp_path / "counter"
    state.mkdir()
    clock = _StepClock()
    counter = OperatorStore(
        open_operator_db(str(state / "operators.sqlite3")), central_only=True, clock=clock
    )
    services = _services(state, counter, clock)
    sync = ClerkSync.connect(counter, server.url, device_tls, central=True, timeout_s=5.0)

    async def scenario() -> str:
        app = CounterApp(services=services)  # type: ignore[arg-type]
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press(*"tanaka", "enter", *PASSWORD, "enter")
            await _until(pilot, lambda: app.screen.id == "home")
            # Revoked on the console while the clerk is signed in; the next sync.
            await asyncio.to_thread(store.revoke, OFFICE, "tanaka", actor="administrator:yamada")
            result = await asyncio.to_thread(sync.sync_once)
            assert result.removed == 1
            clock.t += REVOCATION_CHECK_S + 0.1
            await _until(pilot, lambda: app.screen.id == "login")
            return str(app.screen.query_one("#login-message", Static).render())

    try:
        store.add(OFFICE, "tanaka", "田中 花子", PASSWORD, actor="administrator:yamada")
        assert sync.sync_once().written == 1
        # Five days with the server stopped: the cached clerk still signs in.
        server.stop()
        clock.t += 5 * 24 * 3600
        assert sync.sync_once().error is not None
        counter.sign_in("tanaka", PASSWORD).sign_out()
        server.start()
        message = asyncio.run(scenario())
        assert message == "サインアウトしました。"  # says signed out, never why
        assert counter.events("tanaka")[-1]["action"] == "sign_out"
        assert counter.events("tanaka")[-1]["detail"] == "revoked"
        assert sync.sync_once().error is None
        actions = [(r.action, r.detail) for r in store.sign_ins([OFFICE], clerk_id="tanaka")]
        assert ("sign_out", "revoked") in actions
    finally:
        sync.close()
        services.close()  # type: ignore[attr-defined]
        repo.close()  # type: ignore[attr-defined]


async def _until(pilot: Any, condition: Any, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met in time")


def _upload_sign_ins_forever(operators_path: Path, url: str, tls: Path) -> None:
    """A child that uploads sign-in events in small batches, over and over."""
    import sync.clerks as clerks_module

    clerks_module.MAX_SIGN_INS = 25  # many batches, so a kill lands between two
    counter = OperatorStore(open_operator_db(str(operators_path)))
    sync = ClerkSync.connect(counter, url, tls, central=False, timeout_s=2.0)
    while True:
        sync.sync_once()


def test_kill_9_of_the_sign_in_upload_loses_and_doubles_nothing(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    import multiprocessing
    import os
    import random
    import signal
    import time

    path = tmp_path / "operators.sqlite3"
    counter = OperatorStore(open_operator_db(str(path)))
    for n in range(600):  # what the counter logged while the server was down
        counter.log_event(f"clerk{n % 7}", "sign_in_refused", f"wrong_password {n % 3 + 1}/5")
    fork = multiprocessing.get_context("fork")
    rng = random.Random(16)
    kills = 0
    while kills < 20:
        child = fork.Process(
            target=_upload_sign_ins_forever, args=(path, server.url, device_tls), daemon=True
        )
        child.start()
        time.sleep(rng.uniform(0.05, 0.6))
        if child.is_alive():
            os.kill(child.pid or 0, signal.SIGKILL)
            kills += 1
        child.join()
        # More attempts keep arriving between the kills.
        counter.log_event("clerk9", "sign_in_refused", "unknown_id")
    sync = ClerkSync.connect(counter, server.url, device_tls, central=False, timeout_s=5.0)
    try:
        while counter.pending_sign_ins():  # a backlog drains over a few contacts
            assert sync.sync_once().error is None
    finally:
        sync.close()
    _, repo = _server_store(server)
    try:
        with repo.dialect.transaction() as cur:  # type: ignore[attr-defined]
            cur.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM clerk_sign_ins")
            total, distinct = cur.fetchone()
        assert (int(total), int(distinct)) == (620, 620)
    finally:
        counter.close()
        repo.close()  # type: ignore[attr-defined]
