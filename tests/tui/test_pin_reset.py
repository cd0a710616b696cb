"""暗証番号の初期化・再設定 in the TUI on the real stack (Textual Pilot, the sim reader, the
keyboard pad, the store): the procedure from the picker, the checklist, the card step and
the record, at 80x24 and 100x30.

On the virtual card the appliance writes the new PIN as the card's test terminal; as a
counter (``test_terminal=False``) it hands the write to the J-LIS terminal and the clerk
confirms. Every frame while a PIN is typed, every log line, notice, operator event and
the stored record are scanned for the PIN (tests/pin_scan.py); the card itself shows
what happened (tries back to 3, the new PIN verifies) or that nothing was sent.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing
from tui.app import CounterApp
from tui.screens.pin_prompt import mask_rows

from .conftest import StepClock, make_services
from .helpers import card_settled, notices, pick_procedure, screen_text, sign_in, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((100, 30), id="100x30")]
NEW = "5738"


def _events(services: Any) -> list[str]:
    return [f"{e['action']} {e['detail']}" for e in services.operators.events("demo")]


def _stored(services: Any) -> list[dict[str, Any]]:
    with sqlite3.connect(services.store.path) as db:
        rows = db.execute("SELECT payload FROM transactions ORDER BY seq").fetchall()
    return [json.loads(row[0]) for row in rows]


async def _answer(pilot: Pilot[None], question: str, *keys: str) -> None:
    """Wait for ``question`` on the checklist, then press ``keys``."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    await wait_for(pilot, lambda: question in screen_text(app))
    await pilot.press(*keys)
    await wait_for(pilot, lambda: question not in screen_text(app))


async def _through_checklist(pilot: Pilot[None], actor: str) -> None:
    """Open 暗証番号の初期化・再設定 for ``actor`` and answer every question as a clerk
    would when all is in order, up to the card step."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    await card_settled(pilot)
    await pick_procedure(pilot, "pin-reset")
    await wait_for(pilot, lambda: app.screen.id == "actor")
    await pilot.press(*(("enter",) if actor == "self" else ("down", "enter")))
    await wait_for(pilot, lambda: app.screen.id == "checklist")
    assert "要領外-初期化" in screen_text(app)
    await _answer(pilot, "申請書等を受理したか", "enter")
    await _answer(pilot, "初期化・再設定する暗証番号", "enter")  # 利用者証明用 ticked
    await _answer(pilot, "カードを持参しているか", "enter")
    if actor == "self":
        await _answer(pilot, "カードの写真と来庁者が同一人物か", "enter")
        await _answer(pilot, "カード以外の本人確認書類", "enter")
    else:
        await _answer(pilot, "照会書兼回答書を代理人が持参したか", "enter")
        await _answer(pilot, "新しい暗証番号の隠し方", "enter")
        await _answer(pilot, "代理人の顔写真付き本人確認書類", "enter")
        await _answer(pilot, "本人（カードの名義人）の本人確認書類", "enter")
    await wait_for(pilot, lambda: "カードへの書込みへ進む" in screen_text(app))


async def _type(pilot: Pilot[None], pin: str, frames: list[tuple[int, str]]) -> None:
    app = pilot.app
    assert isinstance(app, CounterApp)
    for typed, digit in enumerate(pin, start=1):
        await pilot.press(digit)
        await wait_for(pilot, lambda n=typed: mask_rows(n, 4)[1] in screen_text(app))  # type: ignore[misc]
        frames.append((typed, screen_text(app)))
    await pilot.press("enter")
    await pilot.pause()


async def _record(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, CounterApp)
    await wait_for(pilot, lambda: app.screen.id == "outcome")
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen.id == "home")


def _written_and_nothing_leaked(
    services: Any, frames: list[tuple[int, str]], told: list[str],
    caplog: pytest.LogCaptureFixture,
) -> tuple[dict[str, Any], list[str]]:
    """The card took the new PIN (tries back to 3), one continued record, and no frame
    while typing, notice, log line, event or record holds the PIN; the record and the
    events for the caller's own checks."""
    status = services.pin_status("jpki_auth")
    assert (status.state, status.remaining) == ("available", 3)
    assert services.verify_pin("jpki_auth", bytearray(NEW.encode()),
                               confirm_last_try=False).outcome == "verified"
    (record,) = _stored(services)
    assert (record["procedure"], record["decision"]) == ("pin-reset", "continue")
    assert record["extra"]["actions"] == [["reset_pin", "jpki_auth", "要領外-初期化-9"]]
    events = _events(services)
    assert "pin_reset jpki_auth:written" in events
    assert "transaction_recorded pin-reset" in events
    logs = [r.getMessage() for r in caplog.records]
    assert_no_pin_while_typing(NEW, frames)
    assert_no_pin(NEW, [f for _, f in frames] + told + logs + events
                  + [json.dumps(record, ensure_ascii=False)])
    return record, events


@pytest.mark.parametrize("size", SIZES)
async def test_a_blocked_pin_reset_in_person_on_the_virtual_card(
    tmp_path: Path, clock: StepClock, sim_pki: Path, caplog: pytest.LogCaptureFixture,
    size: tuple[int, int],
) -> None:
    caplog.set_level(logging.DEBUG)
    services = make_services(tmp_path / "state", clock=clock, pki_dir=sim_pki,
                             profile="pin-blocked")
    try:
        assert services.pin_status("jpki_auth").state == "blocked"
        app = CounterApp(services=services)
        frames: list[tuple[int, str]] = []
        async with app.run_test(size=size) as pilot:
            await sign_in(pilot)
            await _through_checklist(pilot, "self")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "pin-reset-card")
            assert "テンキーで新しい利用者証明用" in screen_text(app).replace("\n", "")
            await pilot.press("enter")  # テンキーでの入力へ
            await wait_for(pilot, lambda: app.screen.id == "pin-change")
            await _type(pilot, NEW, frames)
            await wait_for(pilot, lambda: "確認のため" in screen_text(app))
            await _type(pilot, NEW, frames)
            await wait_for(pilot, lambda: app.screen.id == "outcome")
            outcome = screen_text(app)
            assert "手続を継続" in outcome
            assert "要領外-初期化-9" in outcome
            await _record(pilot)
            told = notices(app)
        record, events = _written_and_nothing_leaked(services, frames, told, caplog)
        assert record["actor"] == "self"
        assert "concealed_form_used" not in record["extra"]
        assert "pin_reset_pad jpki_auth:pad" in events
    finally:
        services.close()


async def test_by_proxy_the_clerk_types_from_the_concealed_form_after_the_proxy_steps_away(
    tmp_path: Path, clock: StepClock, sim_pki: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    services = make_services(tmp_path / "state", clock=clock, pki_dir=sim_pki,
                             profile="pin-blocked")
    try:
        app = CounterApp(services=services)
        frames: list[tuple[int, str]] = []
        async with app.run_test(size=(80, 24)) as pilot:
            await sign_in(pilot)
            await _through_checklist(pilot, "proxy")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "pin-reset-card")
            text = screen_text(app).replace("\n", "")
            assert "代理人に窓口から離れてもらって" in text
            await pilot.press("enter")  # 代理人が離れた（入力へ）
            await wait_for(pilot, lambda: app.screen.id == "pin-change")
            assert "回答書の新しい" in screen_text(app).replace("\n", "")
            await _type(pilot, NEW, frames)
            await wait_for(pilot, lambda: "確認のため" in screen_text(app))
            await _type(pilot, NEW, frames)
            await _record(pilot)
            told = notices(app)
        record, events = _written_and_nothing_leaked(services, frames, told, caplog)
        assert record["actor"] == "proxy"
        # the record says the concealed form was used, and nothing of what it said
        assert record["extra"]["concealed_form_used"] is True
        assert "pin_reset_pad jpki_auth:form" in events
    finally:
        services.close()


async def test_on_a_counter_the_jlis_terminal_writes_and_the_clerk_confirms(
    tmp_path: Path, clock: StepClock, sim_pki: Path,
) -> None:
    services = make_services(tmp_path / "state", clock=clock, pki_dir=sim_pki,
                             profile="pin-blocked", test_terminal=False)
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=(80, 24)) as pilot:
            await sign_in(pilot)
            await _through_checklist(pilot, "self")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "pin-reset-card")
            assert "統合端末で利用者証明用" in screen_text(app).replace("\n", "")
            await pilot.press("enter")  # 統合端末で完了した
            await _record(pilot)
        # nothing was sent from here: the virtual card is still blocked
        assert services.pin_status("jpki_auth").state == "blocked"
        (record,) = _stored(services)
        assert record["decision"] == "continue"
        assert any("統合端末" in r["text"] for r in record["reasons"])
        assert "pin_reset jpki_auth:handed_to_jlis" in _events(services)
    finally:
        services.close()


async def test_not_done_is_recorded_as_refused_and_esc_before_any_write_is_abandoned(
    tmp_path: Path, clock: StepClock, sim_pki: Path,
) -> None:
    services = make_services(tmp_path / "state", clock=clock, pki_dir=sim_pki,
                             profile="pin-blocked")
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=(80, 24)) as pilot:
            await sign_in(pilot)
            # 1: the write could not be done → 受付不可, recorded
            await _through_checklist(pilot, "self")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "pin-reset-card")
            await pilot.press("down", "enter")  # 書込みができなかった
            await wait_for(pilot, lambda: app.screen.id == "outcome")
            assert "受付不可" in screen_text(app)
            await _record(pilot)
            # 2: the pad entry cancelled (Esc), then Esc on the card step, then 中止
            await _through_checklist(pilot, "self")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "pin-reset-card")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "pin-change")
            await pilot.press("1", "escape")
            await wait_for(pilot, lambda: app.screen.id == "pin-reset-card")
            await wait_for(pilot, lambda: "カードには何も送っていません" in
                           screen_text(app).replace("\n", ""))
            await pilot.press("escape")  # nothing written: back to the step
            await wait_for(pilot, lambda: app.screen.id == "checklist")
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen.id == "abandon")
            await pilot.press("down", "enter")  # 申請取下げ (the top option resumes)
            await wait_for(pilot, lambda: app.screen.id == "home")
        assert services.pin_status("jpki_auth").state == "blocked"
        refused, stopped = _stored(services)
        assert refused["decision"] == "reject"
        assert refused["reasons"][-1]["citation"] == "要領外-初期化-9"
        assert stopped["decision"] == "abandoned"
        assert stopped["extra"]["abandoned_at"] == "pin_reset.card_step.by"
        events = _events(services)
        assert "pin_reset jpki_auth:not_done" in events
        assert "pin_reset jpki_auth:abandoned" in events
    finally:
        services.close()
