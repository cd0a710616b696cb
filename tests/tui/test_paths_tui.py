"""Every path at the counter ends in a record: the clerk's 'no', retries and mistakes in the TUI.

On the real stack (sim reader and card layer, the engine, the SQLite store, the
keyboard pad): a wrong PIN then the right one on the clerk's 再入力; the prompt's
countdown and a timeout that spends no try; 照合番号B from the PIN step after the
face-auth proposal was overridden; F3 back one step; Esc on the outcome asks and
records 中止; Enter confirms ticks; a card swapped mid-procedure withdraws the first
card's facts; quitting asks, and a counter refuses during a procedure; the
abandonment counted on 本日 and shown in 履歴.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import OptionList

from tui.app import CounterApp
from tui.services import Presence

from .conftest import StepClock, make_services
from .helpers import (
    answer_until,
    notices,
    pick_procedure,
    screen_text,
    sign_in,
    step_ready,
    wait_for,
)

SIZE = (80, 24)


def _stored(services: Any) -> list[dict[str, Any]]:
    rows = services.store.db.execute("SELECT payload FROM transactions ORDER BY seq").fetchall()
    return [json.loads(row[0]) for row in rows]


@pytest.fixture
def face_auth(tmp_path: Path, clock: StepClock, sim_pki: Path) -> Any:
    svc = make_services(tmp_path / "face", clock=clock, pki_dir=sim_pki, profile="face-auth")
    yield svc
    svc.close()


@pytest.fixture
def counter(tmp_path: Path, clock: StepClock, sim_pki: Path) -> Any:
    """A counter's composition (no demo): no demo menu, no demo account."""
    svc = make_services(tmp_path / "counter", clock=clock, pki_dir=sim_pki, demo=False)
    yield svc
    svc.close()


async def test_wrong_pin_then_the_right_one_on_the_clerks_retry(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await answer_until(pilot, "card.pin_result")
        await wait_for(pilot, lambda: step_ready(app))
        checklist: Any = app.screen
        await pilot.press("enter")  # 暗証番号を照合する
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        text = screen_text(app)
        assert "住民基本台帳用暗証番号（数字4桁）" in text  # which PIN, and its format
        assert "残り時間" in text  # the countdown
        await pilot.press(*"9876", "enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-retry")
        assert services.pin_status("juki").remaining == 2
        text = screen_text(app)
        assert "残り 2 回" in text
        assert "再入力" in text
        assert "照合番号B" in text
        assert "中止" in text
        await pilot.press("enter")  # 再入力: a new prompt, the tries read again first
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        assert "残り 2 回" in screen_text(app)
        await pilot.press(*"1234", "enter")
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        assert "手続を継続" in screen_text(app)
        assert checklist.session.recorded["applicant_id"]["card"]["pin_result"] == "verified"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "home")
    assert services.pin_status("juki").remaining == 3  # verified: the counter is reset
    [record] = _stored(services)
    assert record["decision"] == "continue"
    actions = [e["action"] for e in services.operators.events("demo")]
    assert "pin_retry_chosen" in actions


async def test_the_pin_prompt_times_out_as_configured_and_spends_no_try(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    services = make_services(tmp_path / "s", clock=clock, pki_dir=sim_pki)
    services._pin_timeouts = (1.0, 1.0)  # [keypad] pin_overall_timeout_s = 1
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await answer_until(pilot, "card.pin_result")
            await wait_for(pilot, lambda: step_ready(app))
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
            assert "残り時間 1 秒" in screen_text(app)
            await pilot.press("1", "2")
            await wait_for(pilot, lambda: getattr(app.screen, "length", 0) == 2)
            clock.advance(1.5)  # the configured second runs out, on the counter's clock
            await wait_for(pilot, lambda: app.screen.id == "checklist")
            text = screen_text(app)
            assert "時間切れ" in text
            # The step is still there to answer: the PIN again, or 照合番号B.
            assert "暗証番号を照合する" in text
            assert "照合番号B" in text
            recorded = app.screen.session.recorded  # type: ignore[attr-defined]
            assert "pin_result" not in recorded["applicant_id"]["card"]
        assert services.pin_status("juki").remaining == 3
    finally:
        services.close()


async def test_overriding_the_face_auth_proposal_still_reaches_collation_b(
    face_auth: Any,
) -> None:
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        # The card is proposed as face-auth; the clerk answers いいえ anyway.
        await answer_until(pilot, "card.pin_result",
                           answers={"applicant_id.card.face_auth": ("down", "enter")})
        await wait_for(pilot, lambda: step_ready(app))
        choice = app.screen.query_one(".step-choice", OptionList)
        assert [o.id for o in choice.options] == ["pin:verify", "pin:collation_b"]
        await pilot.press("down", "enter")  # 照合番号Bで確認する
        await wait_for(pilot, lambda: app.screen.id == "fallback")
        assert "照合番号B" in screen_text(app)


async def test_f3_goes_back_one_step_and_nothing_is_lost(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pick_procedure(pilot, "2-1-1")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        session = app.screen.session  # type: ignore[attr-defined]
        await pilot.press("f3")  # nothing to go back to: said so, nothing lost
        await wait_for(pilot, lambda: "戻れる手順はありません" in screen_text(app))
        await pilot.press("enter")  # 申請書等を受理した: はい
        await wait_for(pilot, lambda: "本人確認書類の種類" in screen_text(app))
        await pilot.press("f3")
        await wait_for(pilot, lambda: "申請書等を受理したか" in screen_text(app))
        assert session.recorded == {}
        assert "手順 1" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "本人確認書類の種類" in screen_text(app))
        assert session.recorded == {"application": {"received": True}}


async def test_escape_on_the_outcome_asks_and_records_the_abandonment(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pick_procedure(pilot, "2-1-1")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await pilot.press("down", "enter")  # 申請書等を受理していない: 受付不可
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        await pilot.press("escape")  # not thrown away: asked
        await wait_for(pilot, lambda: app.screen.id == "abandon")
        assert "判定を記録せずに中止しますか" in screen_text(app)
        await pilot.press("enter")  # 中止しない: the decision is still there
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        assert "受付不可" in screen_text(app)
        await pilot.press("f3")  # back one step: the question again
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await wait_for(pilot, lambda: "申請書等を受理したか" in screen_text(app))
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "abandon")
        await pilot.press("down", "down", "down", "down", "down", "enter")  # 操作誤り
        await wait_for(pilot, lambda: app.screen.id == "home")
        assert any("中止を記録しました（操作誤り）" in n for n in notices(app))
        # 本日: counted on its own line, not as received.
        await pilot.press("t")
        await wait_for(pilot, lambda: app.screen.records is not None)  # type: ignore[attr-defined]
        text = screen_text(app)
        assert "受付                0 件" in text
        assert "中止                1 件" in text
        assert "中止（操作誤り）" in text
        assert "第2-1-(1)" in text  # the procedure as the picker and 履歴 name it
        await pilot.press("escape", "h")
        await wait_for(pilot, lambda: "中止（操作誤り）" in screen_text(app))
    [record] = _stored(services)
    assert record["decision"] == "abandoned"
    assert record["abandonment_reason"] == "operator_error"
    assert record["extra"]["decision_discarded"] == "reject"
    # Like any transaction: in the outbox, to be synced.
    assert services.sync_state().queued == 1


async def test_enter_confirms_the_ticks_of_a_selection(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pick_procedure(pilot, "2-1-2")
        await wait_for(pilot, lambda: app.screen.id == "actor")
        actors = app.screen.query_one("#actor-list", OptionList)
        actors.highlighted = actors.get_option_index("legal_representative")
        await pilot.press("enter")  # 法定代理人: the proof of the representation is a selection
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        session = app.screen.session  # type: ignore[attr-defined]
        for _ in range(30):  # the default answer until a selection is asked
            await wait_for(pilot, lambda: step_ready(app))
            if app.screen.query_one(".step-multi").display:
                break
            await pilot.press("enter")
        assert app.screen.query_one(".step-multi").display
        step = session.next_step()
        first = step.value_type.partition(":")[2].replace(",", "|").split("|")
        if step.default is None:
            await pilot.press("space")  # tick the first
        # else the safe default (the first) is ticked already. Enter confirms, never un-ticks.
        await pilot.press("enter")
        await wait_for(pilot, lambda: session.next_step() is None
                       or session.next_step().key != step.key)
        value: Any = session.recorded
        for part in step.key.split("."):
            value = value[part]
        if isinstance(value, list):
            assert value == [first[0]]
        else:
            assert value == {name: name == first[0] for name in first}


async def test_a_card_swapped_mid_procedure_withdraws_the_first_cards_facts(
    services: Any, sim_pki: Path
) -> None:
    from drivers.simcard import make_card

    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await answer_until(pilot, "card.pin_result")
        await wait_for(pilot, lambda: step_ready(app))
        checklist: Any = app.screen
        first = app.card_status.identity  # type: ignore[union-attr]
        assert checklist.session.recorded["applicant_id"]["card"]["expiry"] == "2034-04-01"
        reader = services.reader
        threading.Thread(target=reader.remove).start()
        await wait_for(pilot, lambda: app.reader_state.presence is Presence.ABSENT)
        expired = make_card("expired", pki_dir=sim_pki)
        threading.Thread(target=reader.insert, args=(expired,)).start()
        await wait_for(pilot, lambda: app.card_status is not None
                       and app.card_status.identity not in (None, first))
        await wait_for(pilot, lambda: "別のカードが置かれました" in screen_text(app))
        # Nothing of the first card is left; its steps are asked again.
        assert "card" not in checklist.session.recorded["applicant_id"]
        assert checklist.session.next_step().key == "applicant_id.card.expiry"
    actions = [e["action"] for e in services.operators.events("demo")]
    assert "card_swapped" in actions


async def test_quitting_asks_in_japanese_and_a_counter_refuses_during_a_procedure(
    services: Any, counter: Any
) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.screen.id == "quit")
        assert "窓口端末を終了しますか" in screen_text(app)
        await pilot.press("enter")  # the focused answer keeps the app running
        await wait_for(pilot, lambda: app.screen.id == "home")
        await pilot.press("ctrl+c")  # the same question, no English toast
        await wait_for(pilot, lambda: app.screen.id == "quit")
        assert "Ctrl+Q" not in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "home")
        assert app.is_running

    app = CounterApp(services=counter)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk01", "counter-pass-01")
        await pick_procedure(pilot, "2-1-1")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: any("手続の途中は終了できません" in n for n in notices(app)))
        assert app.screen.id == "checklist"
        assert app.is_running


async def test_a_procedure_without_an_actor_opens_its_checklist(services: Any) -> None:
    # 第4-4 (申請書等の保存) has nobody at the counter: no empty "who is here" question.
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pick_procedure(pilot, "4-4")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        assert "第4-4-(1)" in screen_text(app)


async def test_retrying_into_the_last_try_still_needs_the_clerks_confirmation(
    services: Any,
) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await answer_until(pilot, "card.pin_result")
        await wait_for(pilot, lambda: step_ready(app))
        checklist: Any = app.screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        await pilot.press(*"9876", "enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-retry")
        await pilot.press("enter")  # 再入力
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        await pilot.press(*"9876", "enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-retry")
        assert "次が最後の1回です" in screen_text(app)
        await pilot.press("enter")  # 再入力: the tries are read again, one is left
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await pilot.press("enter")  # the focused answer declines: nothing is sent
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        assert "pin_result" not in checklist.session.recorded["applicant_id"]["card"]
    assert services.pin_status("juki").remaining == 1


async def test_another_card_under_the_outcome_sends_the_clerk_back(
    services: Any, sim_pki: Path
) -> None:
    from drivers.simcard import make_card

    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await answer_until(pilot, "card.pin_result")
        await wait_for(pilot, lambda: step_ready(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        await pilot.press(*"1234", "enter")
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        outcome: Any = app.screen
        first = app.card_status.identity if app.card_status else None
        reader = services.reader
        threading.Thread(target=reader.remove).start()
        await wait_for(pilot, lambda: app.reader_state.presence is Presence.ABSENT)
        assert app.screen.id == "outcome"  # the decision needs no card by itself
        card = make_card("face-auth", pki_dir=sim_pki)
        threading.Thread(target=reader.insert, args=(card,)).start()
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        assert app.card_status is not None
        assert app.card_status.identity != first
        assert "card" not in outcome.session.recorded["applicant_id"]
    assert _stored(services) == []  # nothing mixing two cards was recorded


def test_the_pin_timeout_is_configured_and_checked(tmp_path: Path) -> None:
    from madoguchi.config import load_config
    from madoguchi.errors import ConfigError

    config = tmp_path / "madoguchi.toml"
    config.write_text("[keypad]\npin_overall_timeout_s = 90\n", encoding="utf-8")
    keypad = load_config(config).keypad
    assert (keypad.pin_overall_timeout_s, keypad.pin_inter_key_timeout_s) == (90.0, 60.0)
    config.write_text("[keypad]\npin_inter_key_timeout_s = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="pin_inter_key_timeout_s must be more than 0"):
        load_config(config)
