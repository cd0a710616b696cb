"""Pilot tests of every screen built so far, on the real sim reader, store and accounts."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from madoguchi.commands.demo import DEMO_PASSWORD
from tui.app import CounterApp
from tui.services import Presence

from .conftest import StepClock, make_services
from .helpers import card_settled, paste, screen_text, sign_in, wait_for

SIZE = (80, 24)


async def test_login_comes_first_and_shows_the_demo_account_in_the_demo(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.id == "login"
        text = screen_text(app)
        assert "操作者の認証" in text
        assert DEMO_PASSWORD in text  # demo only
        # Keys of other screens do nothing before sign-in.
        await pilot.press("tab", "tab", "tab")  # leave the inputs
        for key in ("p", "d", "m"):
            await pilot.press(key)
            assert app.screen.id == "login"


async def test_a_real_counter_never_shows_a_password_hint(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    svc = make_services(tmp_path, clock=clock, pki_dir=sim_pki, demo=False)
    try:
        app = CounterApp(services=svc)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            text = screen_text(app)
            assert "デモ" not in text
            assert "demo" not in text.lower()
            assert not app.query("#demo-hint")
            await sign_in(pilot, "clerk01", "counter-pass-01", typed=True)
            assert "窓口 一郎" in screen_text(app)
            await pilot.press("m")  # no demo menu on a real counter
            assert app.screen.id == "home"
    finally:
        svc.close()


async def test_wrong_password_and_lock_read_the_same_and_never_show_it(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press(*"demo", "enter", *"Secret-Wrong-1", "enter")
        await wait_for(pilot, lambda: not app.screen.busy)
        first = screen_text(app)
        assert "サインインできません" in first
        assert "15分後" in first
        assert "あと" not in first  # no count of tries left: that would confirm the id
        assert "Secret-Wrong-1" not in first
        assert app.screen.query_one("#password").value == ""
        for _ in range(2):
            await paste(pilot, "Secret-Wrong-1")
            await pilot.press("enter")
            await wait_for(pilot, lambda: not app.screen.busy)
        # Even the right password is refused now, and the screen reads as before.
        await paste(pilot, DEMO_PASSWORD)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.screen.busy)
        assert app.screen.id == "login"
        assert services.operators.info("demo").locked
        assert screen_text(app) == first


async def test_empty_fields_are_refused_with_a_message(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter", "enter")
        assert "入力してください" in screen_text(app)
        assert app.screen.id == "login"


async def test_home_shows_operator_card_store_and_health(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await wait_for(pilot, lambda: bool(app.health))
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "デモ職員 (demo)" in text
        assert "madoguchi virtual card" in text
        assert "カードあり" in text
        # tap-to-ready through the real card layer on the sim reader
        assert "個人番号カード" in text
        assert "JPKIAPICCTOKEN2" in text
        assert "住基用暗証番号  残り 3 回" in text
        assert "署名用          残り 5 回" in text
        assert "送信待ち" in text
        assert "0 件" in text
        assert "madoguchi.sqlite3" in text
        assert [e["action"] for e in services.operators.events("demo")][-1] == "sign_in"


async def test_card_removal_and_insertion_show_without_a_restart(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        # Another thread, as the reader's own would.
        threading.Thread(target=services.reader.remove).start()
        await wait_for(pilot, lambda: app.reader_state.presence is Presence.ABSENT)
        await pilot.pause(0.05)
        assert "カードがありません" in screen_text(app)
        threading.Thread(target=services.reader.insert).start()
        await wait_for(pilot, lambda: app.reader_state.presence is Presence.PRESENT)
        await card_settled(pilot)
        assert "カードあり" in screen_text(app)


async def test_idle_operator_is_signed_out(services: Any, clock: StepClock) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        clock.advance(299)
        await pilot.press("x")  # activity restarts the idle timer
        clock.advance(299)
        app.check_operator_idle()  # what the one-second interval calls
        assert app.screen.id == "home"
        clock.advance(2)
        await wait_for(pilot, lambda: app.screen.id == "login")
        assert "一定時間操作がなかった" in screen_text(app)
        assert app.session is None
        assert services.operators.events("demo")[-1]["detail"] == "idle"


async def test_sign_out_key_returns_to_login_from_a_sub_screen(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("p")
        assert app.screen.id == "procedures"
        await pilot.press("escape", "o")
        await wait_for(pilot, lambda: app.screen.id == "login")
        assert "サインアウトしました" in screen_text(app)
        assert len(app.screen_stack) == 2


async def test_procedure_picker_lists_and_attributes_the_choice(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    procedures = (("2-1-1", "電子証明書の新規発行／更新（本人）"), ("4-3", "紛失カードの発見"))
    svc = make_services(tmp_path, clock=clock, pki_dir=sim_pki, procedures=procedures)
    try:
        app = CounterApp(services=svc)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await pilot.press("p")
            text = screen_text(app)
            # citations (as history names them) padded in cells: titles in one column
            assert "第2-1-(1)  電子証明書の新規発行／更新（本人）" in text
            assert "第4-3      紛失カードの発見" in text
            await pilot.press("down", "enter")
            await pilot.pause()
            assert svc.operators.events("demo")[-1]["action"] == "procedure_chosen"
            assert svc.operators.events("demo")[-1]["detail"] == "4-3"
    finally:
        svc.close()


async def test_procedure_picker_lists_the_engines_catalogue(services: Any) -> None:
    from device.procedures import PROCEDURES

    app = CounterApp(services=services)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await pilot.press("p")
        text = screen_text(app)
        assert "第2-1-(1)  電子証明書の新規発行／更新（本人）" in text
        assert len(services.procedures("ja")) == len(PROCEDURES)
        await pilot.press("f2")
        await pilot.pause()
        assert "Certificate issuance/renewal (in person)" in screen_text(app)
        await pilot.press("escape")
        assert app.screen.id == "home"


async def test_procedure_picker_with_an_empty_catalogue(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    svc = make_services(tmp_path, clock=clock, pki_dir=sim_pki, procedures=())
    try:
        app = CounterApp(services=svc)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await pilot.press("p")
            assert "手続エンジンがまだ接続されていません" in screen_text(app)
    finally:
        svc.close()


async def test_diagnostics_reader_test_and_keypad_positions(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("d")
        assert app.screen.id == "diagnostics"
        await pilot.press("8")
        text = screen_text(app)
        assert "押されたキー  8（3 行 2 列）" in text
        assert app.screen.query_one("#key-3-2").has_class("lit")
        assert not app.screen.query_one("#key-2-2").has_class("lit")
        await pilot.press("#")
        assert "押されたキー  #（4 行 3 列）" in screen_text(app)
        await pilot.click("#run-reader-test")
        await wait_for(pilot, lambda: "応答" in screen_text(app))
        assert "正常  madoguchi virtual card" in screen_text(app)


async def test_reader_test_without_a_card(services: Any) -> None:
    services.reader.remove()
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("d")
        await pilot.click("#run-reader-test")
        await wait_for(pilot, lambda: "カードなし" in screen_text(app))


async def test_demo_menu_switches_the_virtual_card(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await pilot.press("m")
        assert app.screen.id == "demo-menu"
        assert "顔認証カード" in screen_text(app)  # the profile by its Japanese name
        assert "face-auth" not in screen_text(app)
        await pilot.press("down", "enter")  # the second profile
        await wait_for(pilot, lambda: app.screen.id == "home")
        assert services.reader.card.facts.profile == "face-auth"
        assert services.operators.events("demo")[-1]["detail"] == "face-auth"
        await card_settled(pilot)
        assert "カードあり" in screen_text(app)


async def test_f2_switches_every_screen_to_english_and_back(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("d", "f2")
        await pilot.pause()
        assert "Diagnostics" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert "Device health" in screen_text(app)
        await pilot.press("f2")
        await pilot.pause()
        assert "端末の状態" in screen_text(app)


async def test_starts_in_english_when_configured(services: Any) -> None:
    app = CounterApp(services=services, language="en")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Operator sign-in" in screen_text(app)


async def test_card_panel_shows_face_auth_expired_and_blocked_cards(services: Any) -> None:
    expectations = {
        "face-auth": ["個人番号カード（顔認証）"],
        "expired": ["有効期限切れ（6か月の猶予期間内"],
        "pin-blocked": ["ロック", "暗証番号がロックされています"],
    }
    app = CounterApp(services=services)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        for profile, expected in expectations.items():
            # Each card goes on the reader as the demo menu puts it: taken away, then put down.
            threading.Thread(target=services.switch_profile, args=(profile,)).start()
            await wait_for(pilot, lambda p=profile: services.reader.card.facts.profile == p)  # type: ignore[misc]
            await card_settled(pilot)
            await wait_for(pilot, lambda e=expected: all(f in screen_text(app) for f in e))  # type: ignore[misc]


async def test_tells_systemd_it_is_ready_and_pings_the_watchdog(
    services: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import socket

    from madoguchi import sdnotify

    path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(5.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        app = CounterApp(services=services, notify=sdnotify.notify, watchdog_interval=0.2)
        async with app.run_test(size=SIZE) as pilot:
            # Until the first ping after READY (a loaded machine draws late, so no fixed
            # pause): 10 s is 50 of the test's 0.2 s intervals.
            messages: list[str] = []
            server.setblocking(False)
            deadline = time.monotonic() + 10.0
            while "WATCHDOG=1" not in messages[1:] and time.monotonic() < deadline:
                await pilot.pause(0.05)
                while True:
                    try:
                        messages.append(server.recv(1024).decode())
                    except BlockingIOError:
                        break
    finally:
        server.close()
    assert messages[0].startswith("READY=1")
    assert "WATCHDOG=1" in messages[1:]


def test_card_conversations_from_several_workers_do_not_interleave(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    # A card that answers slowly lets the threads' APDUs meet on the card.
    svc = make_services(
        tmp_path, clock=clock, pki_dir=sim_pki, profile="slow", apdu_delay_s=0.0005
    )
    errors: list[BaseException] = []
    kinds: list[str | None] = []
    tries: list[int | None] = []

    def reader() -> None:
        try:
            for _ in range(3):
                kinds.append(svc.read_card_status().kind)
                tries.append(svc.pin_status("juki").remaining)
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=reader) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        svc.close()
    assert errors == []
    assert set(kinds) == {"standard"}
    assert set(tries) == {3}


async def test_diagnostics_measures_this_devices_reader_card_read_and_keys(
    services: Any,
) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await pilot.press("d")
        assert app.screen.id == "diagnostics"
        await pilot.press("5", "b")
        await wait_for(pilot, lambda: app.screen.figures is not None)  # type: ignore[attr-defined]
        text = screen_text(app)
        # What was measured, how often, and when (the test clock: 09:00 UTC is 18:00 JST).
        assert "11月25日 18:00 計測  madoguchi virtual card" in text
        assert "JPKI SELECT 往復 20 回: 中央値" in text
        assert "カード読み取り（暗証番号なし）3 回: 中央値" in text
        assert "キーから処理まで（直近 2 回）" in text
        figures = app.screen.figures  # type: ignore[attr-defined]
        assert len(figures.select_ms) == 20
        assert len(figures.ready_ms) == 3
        assert figures.problem is None
        assert all(ms >= 0 for ms in figures.select_ms + figures.ready_ms)
    assert services.pin_status("juki").remaining == 3  # no try spent measuring


async def test_diagnostics_measures_nothing_without_a_card_or_during_a_procedure(
    services: Any,
) -> None:
    from tui.screens.diagnostics import DiagnosticsScreen

    services.reader.remove()
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("d", "b")
        await wait_for(pilot, lambda: app.screen.figures is not None)  # type: ignore[attr-defined]
        assert "カードを置いてから計測してください" in screen_text(app)
        assert app.screen.figures.select_ms == ()  # type: ignore[attr-defined]
        await pilot.press("escape", "p", "enter")  # 2-1-1: the checklist is open
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        app.push_screen(DiagnosticsScreen())
        await wait_for(pilot, lambda: app.screen.id == "diagnostics")
        await pilot.press("b")
        assert "手続の途中は計測できません" in screen_text(app)
        assert app.screen.figures is None  # type: ignore[attr-defined]


async def test_f2_on_the_sign_in_keeps_what_was_typed_and_where(services: Any) -> None:
    """Switching the language mid sign-in: the typed id and password stay, and the keys
    after F2 go on into the field that had the focus."""
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.id == "login")
        await pilot.press(*"de", "f2")
        await wait_for(pilot, lambda: "Operator ID" in screen_text(app))
        await pilot.press(*"mo", "tab", *"madoguchi", "f2")
        await wait_for(pilot, lambda: "操作者ID" in screen_text(app))
        await pilot.press(*"-demo", "enter")
        await wait_for(pilot, lambda: app.screen.id == "home")
