"""The demo's local central server: a 第2-1-(1) issuance in the demo reaches the server.

The composition is the demo's own (``build_services`` + :func:`demo_sync`, started by
the app's ``READY=1``): a real ``madoguchi server run`` child on loopback with
SQLite, the real enrolment, the real uploader thread, mutual TLS throughout, and
the server's simulated issuing authority issuing the certificates of an issuance.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import Button, Static

from device.records import find_forbidden_data
from madoguchi.bench.tui import LOGIN_TITLE, TmuxSession, demo_command
from madoguchi.commands.demo import (
    DEMO_OFFICE_CODE,
    DEMO_SERVER_DIR,
    DemoSync,
    build_services,
    demo_sync,
    local_server,
    notify_then_sync,
)
from madoguchi.config import (
    Config,
    ReaderConfig,
    RulesConfig,
    SyncConfig,
    UiConfig,
    load_config,
)
from madoguchi.errors import ConfigError
from sync.client import DEVICE_CERT, DEVICE_KEY, SERVER_CA, tls_context
from tests.pin_scan import assert_no_pin
from tui.app import CounterApp

from .conftest import StepClock
from .helpers import (
    CARD_PROCEDURE_KEYS,
    answer_until,
    card_settled,
    pick_procedure,
    screen_text,
    sign_in,
    step_ready,
    wait_for,
)

SIZE = (80, 24)
#: Fees set in ``[rules]`` so that the report has something to sum (the default is 0 yen).
RULES = RulesConfig(fee_sign_cert_yen=200, fee_auth_cert_yen=100, fee_payable_jlis_percent=50)


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line holds ``text`` (to find an orphan server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if text.encode() in cmdline:
            found.append(int(entry.name))
    return found


def test_only_the_demo_on_the_default_server_url_runs_a_local_server() -> None:
    assert local_server(Config())
    real = Config(sync=SyncConfig(server_url="https://central.example.lg.jp:8443"))
    assert not local_server(real)
    assert not local_server(Config(reader=ReaderConfig(backend="pcsc")))


def test_the_configured_office_reaches_every_record_and_the_enrolment(
    state_dir: Path, clock: StepClock, tmp_path: Path
) -> None:
    toml = tmp_path / "madoguchi.toml"
    toml.write_text('[sync]\noffice_code = "271004"\n', encoding="utf-8")
    config = load_config(toml)
    assert config.sync.office_code == "271004"
    services = build_services(config, state_dir=state_dir, demo=True, clock=clock)
    try:
        session = services.start_procedure("2-1-1", "self", operator_id="demo")
        session.record("application.received", False)  # 受付不可: decided at once
        assert session.complete().office_code == "271004"
        assert demo_sync(services, state_dir, config).office_code == "271004"
    finally:
        services.close()
    # Unset: the demo's own office, which its local server enrols it for.
    services = build_services(Config(), state_dir=state_dir, demo=True, clock=clock)
    try:
        assert services.start_procedure("2-2-1", "self", operator_id="demo").office_code == (
            DEMO_OFFICE_CODE
        )
    finally:
        services.close()
    # Unset against a real server: the record names none and the server files it under
    # the office it enrolled the device for (tests/sync/test_offices_and_issuance.py).
    real = Config(sync=SyncConfig(server_url="https://central.example.lg.jp"))
    services = build_services(real, state_dir=state_dir, demo=True, clock=clock)
    try:
        assert services.office_code == ""
    finally:
        services.close()
    bad = Config(sync=SyncConfig(office_code="13\x001016"))
    with pytest.raises(ConfigError, match="office_code"):
        build_services(bad, state_dir=state_dir, demo=True, clock=clock)


async def test_a_demo_issuance_reaches_the_local_server_and_its_daily_report(
    state_dir: Path, clock: StepClock
) -> None:
    config = Config(rules=RULES)
    services = build_services(config, state_dir=state_dir, demo=True, clock=clock)
    sync = demo_sync(services, state_dir, config)
    notified: list[str] = []

    def notify(state: str) -> bool:
        notified.append(state)
        return True

    app = CounterApp(services=services, notify=notify_then_sync(notify, sync))
    server_db = state_dir / DEMO_SERVER_DIR / "server.sqlite3"
    try:
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            assert notified
            assert notified[0].startswith("READY=1")
            # First run: server start, PKI, device key and enrolment, all off the UI loop.
            await wait_for(pilot, lambda: app.sync_state.server_reachable is True, timeout=60)
            await answer_until(pilot, "card.pin_result")
            await pilot.pause(0.1)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
            await pilot.press(*"1234", "enter")
            await wait_for(pilot, lambda: app.screen.id == "outcome")
            assert "手続を継続" in screen_text(app)
            await pilot.press("enter")  # 記録して終了
            await wait_for(pilot, lambda: app.screen.id == "home")
            # The queue drains to the server, and the home screen says so.
            await wait_for(
                pilot,
                lambda: services.store.uploader_status().server_high_water == 1
                and app.sync_state.queued == 0
                and app.sync_state.last_success is not None,
                timeout=30,
            )
            text = screen_text(app)
            assert "接続中" in text
            assert "0 件" in text
            server = sync.server
            assert server is not None
            assert server.proc is not None
            pid = server.proc.pid
            report = _daily_report(server.url, state_dir, "2026-11-25")
    finally:
        sync.stop()
        services.close()

    rows = {row["certificate_type"]: row for row in report["rows"]}
    assert set(rows) == {"sign", "auth"}  # the fee went with the certificates issued
    assert all(row["transactions"] == 1 for row in rows.values())
    assert rows["sign"]["issued"] + rows["sign"]["renewed"] == 1
    assert sum(row["fee_collected_yen"] for row in rows.values()) == 300
    assert sum(row["fee_payable_jlis_yen"] for row in rows.values()) == 150
    assert {row["date"] for row in rows.values()} == {"2026-11-25"}
    assert {row["office_code"] for row in rows.values()} == {"131016"}

    db = sqlite3.connect(server_db)
    try:
        [(device_id, payload_text)] = db.execute("SELECT device_id, payload FROM records")
        cells = [str(v) for row in db.execute("SELECT * FROM records") for v in row]
    finally:
        db.close()
    payload = json.loads(payload_text)
    assert device_id == "demo-device"
    assert payload["procedure"] == "2-1-1"
    assert payload["decision"] == "continue"
    assert payload["fee_collected_yen"] == 300
    assert find_forbidden_data(payload) is None
    for cell in cells:
        assert find_forbidden_data({"cell": cell}) is None
        assert_no_pin("1234", [cell])  # the record's times and ids are masked, not the PIN

    # Stopped with the demo: no orphan server process.
    assert not Path(f"/proc/{pid}").exists()
    assert _processes_mentioning(str(server_db)) == []


async def _run_with_card(pilot: Any, app: CounterApp, procedure_id: str) -> None:
    """From the home screen: ``procedure_id`` for the applicant in person with the
    card, the PIN typed on the pad, up to the outcome."""
    await card_settled(pilot)
    await pick_procedure(pilot, procedure_id)
    await wait_for(pilot, lambda: app.screen.id == "checklist")
    session = app.screen.session  # type: ignore[attr-defined]
    while not session.next_step().key.endswith("card.pin_result"):
        key = session.next_step().key
        await wait_for(pilot, lambda: step_ready(app))
        await pilot.press(*CARD_PROCEDURE_KEYS[key])
        await wait_for(pilot, lambda k=key: session.next_step().key != k)
    await wait_for(pilot, lambda: step_ready(app))
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
    await pilot.press(*"1234", "enter")
    await wait_for(pilot, lambda: app.screen.id == "outcome")
    assert "手続を継続" in screen_text(app)


def _stored(services: Any) -> list[dict[str, Any]]:
    rows = services.store.db.execute("SELECT payload FROM transactions ORDER BY seq").fetchall()
    return [json.loads(row[0]) for row in rows]


async def test_issuance_and_revocation_reach_the_daily_report_on_the_default_zero_fee(
    state_dir: Path, clock: StepClock
) -> None:
    """Embedded defaults (0-yen fees): an issuance's certificates come from the
    simulated issuing authority and a revocation's from the card; both records reach
    the server and its 交付状況 report (JSON and CSV) under the demo's office."""
    config = Config()
    services = build_services(config, state_dir=state_dir, demo=True, clock=clock)
    sync = demo_sync(services, state_dir, config)
    app = CounterApp(services=services)  # the server is started by hand below
    try:
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await _run_with_card(pilot, app, "2-1-1")
            # No issuing authority yet: a clear error, nothing stored, recording stays open.
            await pilot.press("enter")
            message = app.screen.query_one("#outcome-message", Static)
            await wait_for(pilot, lambda: "issuing authority" in str(message.render()))
            assert "not running yet" in str(message.render())
            assert not app.screen.query_one("#outcome-record", Button).disabled
            assert _stored(services) == []
            sync.start()
            await wait_for(pilot, lambda: app.sync_state.server_reachable is True, timeout=60)
            await pilot.press("enter")  # 記録して終了, again
            await wait_for(pilot, lambda: app.screen.id == "home", timeout=30)
            await _run_with_card(pilot, app, "2-2-1")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "home", timeout=30)
            await wait_for(
                pilot,
                lambda: services.store.uploader_status().server_high_water == 2,
                timeout=30,
            )
            server = sync.server
            assert server is not None
            report = _daily_report(server.url, state_dir, "2026-11-25")
            report_csv = _daily_report(server.url, state_dir, "2026-11-25", "csv")
            issued, revoked = _stored(services)
            registry = {
                c["serial"]: _get(server.url, state_dir, f"/v1/certificates/{c['serial']}/status")
                for c in (*issued["certificates"], *revoked["certificates"])
                if c["serial"]
            }
    finally:
        sync.stop()
        services.close()

    assert issued["procedure"] == "2-1-1"
    assert issued["office_code"] == revoked["office_code"] == "131016"
    assert (issued["fee_collected_yen"], issued["fee_payable_jlis_yen"]) == (0, 0)
    issued_kinds = {c["kind"]: c for c in issued["certificates"]}
    assert set(issued_kinds) == {"sign", "auth"}
    # The standard card already holds both certificates: this issuance is a 更新.
    assert {c["action"] for c in issued_kinds.values()} == {"renewed"}
    assert revoked["procedure"] == "2-2-1"
    assert {(c["kind"], c["action"]) for c in revoked["certificates"]} == {
        ("sign", "revoked"), ("auth", "revoked"),
    }
    # The new serials are 有効 at the server, the card's own 利用者証明用 one 失効.
    for cert in issued["certificates"]:
        assert registry[cert["serial"]]["status"] == "valid"
    [card_auth] = [c for c in revoked["certificates"] if c["kind"] == "auth"]
    assert registry[card_auth["serial"]]["status"] == "revoked"

    expected = {
        "office_code": "131016", "date": "2026-11-25", "transactions": 2, "issued": 0,
        "renewed": 1, "revoked": 1, "fee_collected_yen": 0, "fee_payable_jlis_yen": 0,
    }
    assert {row["certificate_type"]: row for row in report["rows"]} == {
        kind: {**expected, "certificate_type": kind} for kind in ("auth", "sign")
    }
    lines = list(csv.DictReader(io.StringIO(report_csv)))
    assert [(line["certificate_type"], line["office_code"], line["date"]) for line in lines] == [
        ("auth", "131016", "2026-11-25"), ("sign", "131016", "2026-11-25"),
    ]
    assert all(
        (line["renewed"], line["revoked"], line["fee_collected_yen"]) == ("1", "1", "0")
        for line in lines
    )
    for record in (issued, revoked):
        assert find_forbidden_data(record) is None


def _get(url: str, state_dir: Path, path: str, **params: str) -> Any:
    """One GET to the demo's server with the demo device's certificate."""
    tls = state_dir / DEMO_SERVER_DIR / "device"
    context = tls_context(tls / SERVER_CA, tls / DEVICE_CERT, tls / DEVICE_KEY)
    assert oct(os.stat(tls / DEVICE_KEY).st_mode & 0o777) == "0o600"
    with httpx.Client(base_url=url, verify=context, timeout=10.0) as http:
        response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.text if params.get("format") == "csv" else response.json()


def _daily_report(url: str, state_dir: Path, date: str, fmt: str = "json") -> Any:
    """The server's 交付状況 report (JSON or CSV text), asked as the demo device."""
    return _get(url, state_dir, "/v1/reports/daily", date=date, format=fmt)


def test_a_second_start_keeps_the_enrolment_and_the_uploaded_records(
    state_dir: Path, clock: StepClock
) -> None:
    """The keys are made once; a restarted demo reuses them and the server's database."""
    services = build_services(Config(), state_dir=state_dir, demo=True, clock=clock)
    cert = state_dir / DEMO_SERVER_DIR / "device" / DEVICE_CERT
    try:
        first: list[bytes] = []
        for _ in range(2):
            sync = DemoSync(services.store.path, state_dir, SyncConfig())
            sync.start()
            try:
                _wait_until(lambda: services.store.uploader_status().last_success is not None)
                first.append(cert.read_bytes())
            finally:
                sync.stop()
            services.store.set_uploader_status(last_success=None)
    finally:
        services.close()
    assert first[0] == first[1]


def test_a_new_office_code_enrols_the_demo_device_again(
    state_dir: Path, clock: StepClock
) -> None:
    """Records of another office would be refused: the demo re-enrols when it changes."""
    services = build_services(Config(), state_dir=state_dir, demo=True, clock=clock)
    cert = state_dir / DEMO_SERVER_DIR / "device" / DEVICE_CERT
    seen: list[tuple[bytes, str]] = []
    try:
        for office in ("131016", "131016", "271004"):
            sync = DemoSync(services.store.path, state_dir, SyncConfig(), office_code=office)
            sync.start()
            try:
                _wait_until(lambda: services.store.uploader_status().last_success is not None)
                assert sync.server is not None
                me = _get(sync.server.url, state_dir, "/v1/devices/me")
                seen.append((cert.read_bytes(), me["office_code"]))
            finally:
                sync.stop()
            services.store.set_uploader_status(last_success=None)
    finally:
        services.close()
    assert [office for _, office in seen] == ["131016", "131016", "271004"]
    assert seen[0][0] == seen[1][0] != seen[2][0]


def _wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


@pytest.mark.slow
def test_sigterm_ends_the_demo_and_its_local_server(state_dir: Path) -> None:
    """``madoguchi demo`` in a real terminal: SIGTERM (what systemd sends) leaves no server."""
    server_db = str(state_dir / DEMO_SERVER_DIR / "server.sqlite3")
    session = TmuxSession(f"madoguchi-test-{os.getpid()}-demo-sync", width=80, height=24)
    session.start(
        demo_command() + "; sleep 30",  # the pane outlives the app: no SIGHUP does the job
        {"MADOGUCHI_STATE_DIR": str(state_dir), "TERM": "xterm-256color", "LANG": "C.UTF-8"},
    )
    try:
        session.wait_for(LOGIN_TITLE, timeout=30.0)
        _wait_until(lambda: len(_processes_mentioning(server_db)) == 1)
        [server_pid] = _processes_mentioning(server_db)
        demo_pid = int((Path(f"/proc/{server_pid}/stat").read_text().split(")")[1]).split()[1])
        assert "demo" in Path(f"/proc/{demo_pid}/cmdline").read_bytes().decode()
        os.kill(demo_pid, signal.SIGTERM)
        _wait_until(lambda: not Path(f"/proc/{demo_pid}").exists() or _zombie(demo_pid))
        _wait_until(lambda: _processes_mentioning(server_db) == [], timeout=10.0)
    finally:
        session.kill()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_counter_dates_procedures_by_the_offices_calendar_not_utc(
    state_dir: Path, clock: StepClock
) -> None:
    # 23:30 UTC on the 25th is 08:30 JST on the 26th: the procedure, its rule version
    # and the today screen all belong to the 26th at a Japanese counter.
    clock.start = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    services = build_services(Config(), state_dir=state_dir, demo=True, clock=clock)
    try:
        assert services.today() == date(2026, 11, 26)
        session = services.start_procedure("2-1-1", "self", operator_id="demo")
        assert session.on == date(2026, 11, 26)
        session.record("application.received", False)
        services.record_transaction(session.complete())
        assert [r.extra["transaction_date"] for r in services.today_records()] == ["2026-11-26"]
    finally:
        services.close()
    utc = Config(ui=UiConfig(timezone="UTC"))
    services = build_services(utc, state_dir=state_dir, demo=True, clock=clock)
    try:
        assert services.today() == date(2026, 11, 25)
        assert services.today_records() == []
    finally:
        services.close()
