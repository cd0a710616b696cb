"""The guided checklist and the outcome, driven by the real procedure engine and store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import OptionList

from tests.pin_scan import assert_no_pin
from tui.app import CounterApp

from .conftest import StepClock, make_services
from .helpers import (
    answer_until,
    pick_procedure,
    screen_text,
    sign_in,
    step_ready,
    wait_for,
)

SIZE = (80, 24)


def _stored(services: Any) -> list[dict[str, Any]]:
    rows = services.store.db.execute("SELECT payload FROM transactions").fetchall()
    return [json.loads(row[0]) for row in rows]


async def test_inquiry_route_with_citations_is_recorded_for_the_operator(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pick_procedure(pilot, "2-1-1")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        text = screen_text(app)
        assert "第2-1-(1)-ア-(ア)" in text
        assert "申請書等を受理したか" in text
        await pilot.press("enter")  # はい
        await wait_for(pilot, lambda: "本人確認書類の種類" in screen_text(app))
        assert "手順 2（本人）" in screen_text(app)
        await pilot.press("home", "enter")  # なし (the default is 個人番号カード)
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        text = screen_text(app)
        assert "照会書送付" in text
        assert "第2-1-(1)-ア-(イ)-A-(E)" in text
        await pilot.press("enter")  # 記録して終了
        await wait_for(pilot, lambda: app.screen.id == "home")
        await wait_for(pilot, lambda: app.sync_state.queued == 1)
        assert "1 件" in screen_text(app)
    [record] = _stored(services)
    assert record["procedure"] == "2-1-1"
    assert record["operator_id"] == "demo"
    assert record["decision"] == "inquiry"
    actions = [e["action"] for e in services.operators.events("demo")]
    assert actions[-5:] == [
        "procedure_chosen", "procedure_started", "step_recorded", "step_recorded",
        "transaction_recorded",
    ]


async def test_reject_path_and_a_refused_value_loses_nothing(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pick_procedure(pilot, "2-1-1")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await pilot.press("enter")  # 申請書等を受理した: はい
        await wait_for(pilot, lambda: "本人確認書類の種類" in screen_text(app))
        await pilot.press("enter")  # 個人番号カード (the default)
        # Answer はい until the card's expiry date is asked.
        for _ in range(5):
            await pilot.pause(0.1)
            if app.screen.query_one(".step-text").display:
                break
            await pilot.press("enter")
        assert app.screen.query_one(".step-text").display
        assert "有効期間" in screen_text(app) or "有効期限" in screen_text(app)
        await pilot.press(*"2026-13-45", "enter")
        await wait_for(pilot, lambda: "日付として読めません" in screen_text(app))
        assert "「申請者／利用者のカードの有効期間満了日」" in screen_text(app)
        assert "$." not in screen_text(app)  # the question by its name, never a JSON path
        recorded = app.screen.session.recorded  # type: ignore[attr-defined]
        assert recorded["application"]["received"] is True
        assert recorded["applicant_id"]["kind"] == "my_number_card"
        await pilot.press("escape")  # abandon? asked first, with the reasons
        await wait_for(pilot, lambda: app.screen.id == "abandon")
        assert "書類不備" in screen_text(app)
        await pilot.press("down", "down", "enter")  # 書類不備
        await wait_for(pilot, lambda: app.screen.id == "home")
    [record] = _stored(services)
    assert record["decision"] == "abandoned"
    assert record["abandonment_reason"] == "documents"
    assert record["extra"]["abandoned_at"] == "applicant_id.card.expiry"
    assert services.operators.events("demo")[-1]["action"] == "procedure_abandoned"


async def test_application_not_received_is_rejected(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pick_procedure(pilot, "2-1-1")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await pilot.press("down", "enter")  # いいえ
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        assert "受付不可" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "home")
    assert [r["decision"] for r in _stored(services)] == ["reject"]


async def test_proxy_procedures_ask_who_is_at_the_counter(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pick_procedure(pilot, "2-1-2")
        await wait_for(pilot, lambda: app.screen.id == "actor")
        text = screen_text(app)
        assert "代理人" in text
        assert "法定代理人" in text
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        assert "（代理人）" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "abandon")
        await pilot.press("escape")  # 中止しない: back to the question, nothing stored
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        assert "（代理人）" in screen_text(app)
    assert _stored(services) == []


async def test_pin_step_is_answered_by_the_card_and_operator_auth_by_the_sign_in(
    services: Any,
) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await answer_until(pilot, "card.pin_result")
        await pilot.pause(0.1)
        checklist = app.screen
        recorded = checklist.session.recorded
        # Never asked: the operator is signed in.
        assert recorded["applicant_id"]["card"]["operator_authenticated"] is True
        assert recorded["applicant_id"]["card"]["expiry"] == "2034-04-01"
        # No way to just say 'verified': the PIN prompt, or 照合番号B without a PIN.
        choice = checklist.query_one(".step-choice", OptionList)
        assert [o.id for o in choice.options] == ["pin:verify", "pin:collation_b"]
        assert "暗証番号を照合する" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        await pilot.press(*"9876", "enter")  # wrong, 2 tries left: the clerk chooses
        await wait_for(pilot, lambda: app.screen.id == "pin-retry")
        assert "残り 2 回" in screen_text(app)
        assert "pin_result" not in checklist.session.recorded["applicant_id"]["card"]
        await pilot.press("down", "enter")  # 照合番号Bで確認: recorded as failed
        # The fallback path: 照合番号B opens at once; Esc leaves it to the step's choice.
        await wait_for(pilot, lambda: app.screen.id == "fallback")
        assert checklist.session.recorded["applicant_id"]["card"]["pin_result"] == "failed"
        await pilot.press("escape")
        await wait_for(pilot, lambda: "券面事項確認情報と券面記載事項" in screen_text(app))
        await pilot.press("down", "enter")  # they do not match
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        assert "受付不可" in screen_text(app)
    assert services.pin_status("juki").remaining == 2


async def test_a_verified_pin_lets_the_issuance_continue(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await answer_until(pilot, "card.pin_result")
        await pilot.pause(0.1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        await pilot.press(*"1234", "enter")
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        assert "手続を継続" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "home")
    [record] = _stored(services)
    assert record["decision"] == "continue"
    assert_no_pin("1234", [json.dumps(record)])  # its times and ids masked, not the PIN


async def test_cancelling_the_pin_prompt_records_nothing(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await answer_until(pilot, "card.pin_result")
        await pilot.pause(0.1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        await pilot.press("1", "escape")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        assert "中止しました" in screen_text(app)
        assert "pin_result" not in app.screen.session.recorded["applicant_id"]["card"]


async def test_today_shows_counts_fees_and_history(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: "本日の取引はまだありません" in screen_text(app))
        await pilot.press("escape")
        for _ in range(2):  # two 受付不可: application not received
            await pick_procedure(pilot, "2-1-1")
            await wait_for(pilot, lambda: app.screen.id == "checklist")
            await pilot.press("down", "enter")
            await wait_for(pilot, lambda: app.screen.id == "outcome")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "home")
        await pilot.press("t")
        await wait_for(pilot, lambda: app.screen.records is not None)  # type: ignore[attr-defined]
        text = screen_text(app)
        assert "受付                2 件" in text
        assert "受付不可            2 件" in text
        assert "交付（発行・更新）  0 件" in text
        assert text.count("第2-1-(1)") == 2  # by citation, as the picker and 履歴 name it
        assert "demo" in text
        assert len(app.screen.records) == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("profile", "face_auth", "hint"),
    [("face-auth", True, "顔認証カードと推定されます"),
     ("standard", False, "顔認証カードではないと推定されます")],
)
async def test_the_chip_proposes_whether_it_is_a_face_auth_card(
    tmp_path: Path, clock: StepClock, sim_pki: Path, profile: str, face_auth: bool, hint: str
) -> None:
    svc = make_services(tmp_path, clock=clock, pki_dir=sim_pki, profile=profile)
    try:
        app = CounterApp(services=svc)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await answer_until(pilot, "card.face_auth")
            await wait_for(pilot, lambda: step_ready(app))
            assert "顔認証カードか" in screen_text(app)
            assert hint in screen_text(app)  # said as a proposal, to check on the card face
            choice = app.screen.query_one(".step-choice", OptionList)
            assert choice.highlighted is not None
            assert choice.get_option_at_index(choice.highlighted).id == str(face_auth).lower()
            session = app.screen.session  # type: ignore[attr-defined]
            assert "face_auth" not in session.recorded["applicant_id"]["card"]  # not yet
            await pilot.press("enter")  # the clerk confirms it
            await wait_for(pilot, lambda: "face_auth" in session.recorded["applicant_id"]["card"])
            assert session.recorded["applicant_id"]["card"]["face_auth"] is face_auth
    finally:
        svc.close()


async def test_the_clerk_can_answer_against_the_chips_proposal(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await answer_until(pilot, "card.face_auth")
        await wait_for(pilot, lambda: step_ready(app))
        session = app.screen.session  # type: ignore[attr-defined]
        await pilot.press("up", "enter")  # the card face says 顔認証 after all
        await wait_for(pilot, lambda: "face_auth" in session.recorded["applicant_id"]["card"])
        assert session.recorded["applicant_id"]["card"]["face_auth"] is True
