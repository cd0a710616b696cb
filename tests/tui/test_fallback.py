"""The fallback path (照合番号B, chip data beside the card face, the declaration) on the real stack.

A face-auth card and a counterfeit card go from the checklist through the
fallback screen to the outcome; the chip is read by ``device/card`` on the sim
reader, the signatures are checked under the test PKI's anchors, the engine
decides. Every frame rendered and every log record is scanned for 照合番号B
and the card's My Number.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tui.app import CounterApp
from tui.screens.fallback import code_mask, era_date

from .conftest import StepClock, make_services
from .helpers import answer_until, notices, paste, screen_text, sign_in, wait_for

SIZE = (80, 24)
WRONG_CODE = "11111111111111"


@pytest.fixture
def face_auth(tmp_path: Path, clock: StepClock, sim_pki: Path) -> Iterator[Any]:
    svc = make_services(tmp_path / "face", clock=clock, pki_dir=sim_pki, profile="face-auth")
    yield svc
    svc.close()


@pytest.fixture
def counterfeit(tmp_path: Path, clock: StepClock, sim_pki: Path) -> Iterator[Any]:
    svc = make_services(tmp_path / "fake", clock=clock, pki_dir=sim_pki, profile="counterfeit")
    yield svc
    svc.close()


def _facts(services: Any) -> Any:
    card = services.reader.card
    assert card is not None
    return card.facts


def _stored(services: Any) -> list[dict[str, Any]]:
    rows = services.store.db.execute("SELECT payload FROM transactions").fetchall()
    return [json.loads(row[0]) for row in rows]


class Frames:
    """Every frame after every key press of a flow."""

    def __init__(self, pilot: Pilot[None]) -> None:
        self.pilot = pilot
        self.seen: list[str] = []

    async def press(self, *keys: str) -> None:
        app = self.pilot.app
        assert isinstance(app, CounterApp)
        for key in keys:
            await self.pilot.press(key)
            self.seen.append(screen_text(app))

    def snap(self) -> None:
        app = self.pilot.app
        assert isinstance(app, CounterApp)
        self.seen.append(screen_text(app))


async def _to_fallback(pilot: Pilot[None], frames: Frames) -> None:
    """2-1-1 for the person, a card the clerk calls face-auth, up to the chip match.

    はい is chosen whatever the chip proposes: the counterfeit card's chip proposes いいえ.
    """
    app = pilot.app
    assert isinstance(app, CounterApp)
    await sign_in(pilot)
    await answer_until(pilot, "chip_face_match", press=frames.press,
                       answers={"applicant_id.card.face_auth": ("home", "enter")})
    await wait_for(pilot, lambda: "照合番号BでICチップの券面事項を確認する" in screen_text(app))
    # No bare 'yes': only the chip read or 'cannot be checked'.
    assert "はい" not in screen_text(app)
    await frames.press("enter")
    await wait_for(pilot, lambda: app.screen.id == "fallback")
    await wait_for(pilot, lambda: "照合番号Bの残り照合回数" in screen_text(app))
    frames.snap()


async def _type_code(frames: Frames, code: str) -> None:
    app = frames.pilot.app
    for typed, digit in enumerate(code, start=1):
        await frames.press(digit)
        assert code_mask(typed) in frames.seen[-1]
    await frames.press("enter")
    await wait_for(frames.pilot, lambda: app.screen.phase != "reading")  # type: ignore[attr-defined]
    frames.snap()


async def _tick_all_and_record(frames: Frames) -> None:
    """Tick the five printed items as matching, then press 比較結果を記録."""
    await frames.press("space", *(k for _ in range(4) for k in ("down", "space")))
    await frames.press("tab", "enter")


def _assert_secret_nowhere(
    frames: Frames, notices: str, log: pytest.LogCaptureFixture, services: Any, *codes: str
) -> None:
    my_number = _facts(services).my_number
    log_text = "\n".join(r.getMessage() for r in log.records)
    records = json.dumps(_stored(services), ensure_ascii=False)
    events = json.dumps(services.operators.events("demo"), ensure_ascii=False)
    assert len(frames.seen) > 20  # the scan really saw the flow
    for secret in (*codes, my_number):
        for frame in frames.seen:
            assert secret not in frame
        for text in (notices, log_text, records, events):
            assert secret not in text


async def test_face_auth_card_fallback_match_and_declaration_continue(
    face_auth: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = _facts(face_auth).verification_code_b
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        frames = Frames(pilot)
        await _to_fallback(pilot, frames)
        text = frames.seen[-1]
        assert "第2-1-(1)-ア-(イ)-B" in text
        assert "照合番号Bの残り照合回数 10 回" in text
        assert code_mask(0) in text
        await frames.press("1", "2", "backspace")  # BS deletes one digit
        assert code_mask(1) in frames.seen[-1]
        await frames.press("backspace", "enter")  # too short: nothing sent
        assert "14桁を入力してください（入力済み 0 桁）" in frames.seen[-1]
        await _type_code(frames, code)
        screen = app.screen
        assert screen.phase == "compare"  # type: ignore[attr-defined]
        text = screen_text(app)
        for shown in ("番号　花子", "東京都千代田区永田町１－２－３",
                      "1985-04-01（昭和60年4月1日）", "女", "2034-04-01", "顔認証",
                      "券面入力補助AP 正常", "券面AP 正常", "カード実在確認 正常"):
            assert shown in text, shown
        assert "偽造" not in text
        # Tick the five printed items; a language switch keeps the ticks; record.
        await frames.press("space", *(k for _ in range(4) for k in ("down", "space")))
        await frames.press("f2")
        await wait_for(pilot, lambda: "Card-face data on the chip" in screen_text(app))
        await frames.press("f2")
        await wait_for(pilot, lambda: "ICチップの券面事項" in screen_text(app))
        ticks = app.screen.query_one(".fallback-items")
        assert len(ticks.selected) == 5  # type: ignore[attr-defined]
        await frames.press("tab", "enter")
        await wait_for(pilot, lambda: screen.phase == "declare")  # type: ignore[attr-defined]
        recorded = screen.session.recorded["applicant_id"]["card"]  # type: ignore[attr-defined]
        assert recorded["chip_face_match"] is True
        assert "住民票" in screen_text(app)
        await frames.press("enter")  # 住民票の記載事項
        await wait_for(pilot, lambda: "誰に係る" in screen_text(app))
        await frames.press("enter")  # 申請者
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        frames.snap()
        assert "手続を継続" in frames.seen[-1]
        await frames.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "home")
        told = " ".join(notices(app))
    [record] = _stored(face_auth)
    assert record["decision"] == "continue"
    assert any("b_fallback_chip_and_declaration" in c for c in record["checks"])
    # The checklist never asked the chip match or the declaration itself.
    steps = [e["detail"] for e in face_auth.operators.events("demo")
             if e["action"] == "step_recorded"]
    assert steps.count("applicant_id.card.chip_face_match") == 1
    assert steps.count("applicant_id.card.declaration.items") == 1
    assert "券面事項の一致を記録しました" in told
    _assert_secret_nowhere(frames, told, caplog, face_auth, code)
    assert face_auth.pin_status("support_collation_b").remaining == 10


async def test_counterfeit_card_is_warned_and_cannot_match(
    counterfeit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = _facts(counterfeit).verification_code_b
    app = CounterApp(services=counterfeit)
    async with app.run_test(size=SIZE) as pilot:
        frames = Frames(pilot)
        await _to_fallback(pilot, frames)
        await _type_code(frames, code)
        screen = app.screen
        text = screen_text(app)
        assert "偽造カードの疑いがあります" in text
        assert "券面入力補助AP 不正" in text
        # Even with every item ticked, a failed signature records no match.
        await _tick_all_and_record(frames)
        await wait_for(pilot, lambda: app.screen is not screen or screen.phase == "declare")  # type: ignore[attr-defined]
        assert screen.session.recorded["applicant_id"]["card"]["chip_face_match"] is False  # type: ignore[attr-defined]
        while app.screen.id == "fallback":
            await frames.press("enter")
            await pilot.pause(0.1)
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        frames.snap()
        assert "受付不可" in frames.seen[-1]
        told = " ".join(notices(app))
    assert "券面事項の不一致を記録しました" in told
    _assert_secret_nowhere(frames, told, caplog, counterfeit, code)


async def test_a_wrong_collation_number_shows_the_tries_left_and_loses_nothing(
    face_auth: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = _facts(face_auth).verification_code_b
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        frames = Frames(pilot)
        await _to_fallback(pilot, frames)
        screen = app.screen
        await _type_code(frames, WRONG_CODE)
        text = frames.seen[-1]
        assert "照合番号Bが違います。残り 9 回です。" in text
        # The wrong code spent a try of the 入力補助 AP's counter only: both are named.
        await wait_for(pilot, lambda: "入力補助AP 9 回 ／ 券面AP 10 回" in screen_text(app))
        assert screen.phase == "entry"  # type: ignore[attr-defined]
        assert code_mask(0) in text  # the typed code is gone
        assert face_auth.pin_status("support_collation_b").remaining == 9
        # Esc goes back to the checklist with nothing recorded; the step is asked again.
        await frames.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        card = app.screen.session.recorded["applicant_id"]["card"]  # type: ignore[attr-defined]
        assert "chip_face_match" not in card
        # The right code now: one try spent so far, the counter comes back to full.
        await frames.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "fallback")
        await wait_for(pilot, lambda: "入力補助AP 9 回 ／ 券面AP 10 回" in screen_text(app))
        await _type_code(frames, code)
        assert app.screen.phase == "compare"  # type: ignore[attr-defined]
        told = " ".join(notices(app))
    assert face_auth.pin_status("support_collation_b").remaining == 10
    outcomes = [e["detail"] for e in face_auth.operators.events("demo")
                if e["action"] == "collation_b_check"]
    assert outcomes == ["wrong", "read"]
    _assert_secret_nowhere(frames, told, caplog, face_auth, code, WRONG_CODE)


async def test_english_and_a_card_that_cannot_be_checked(face_auth: Any) -> None:
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        await _to_fallback(pilot, Frames(pilot))
        await pilot.press("f2")
        await wait_for(pilot, lambda: "Collation number B: 10 tries left" in screen_text(app))
        assert "era YYMMDD" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await pilot.press("down", "enter")  # cannot be checked: recorded as not matching
        await wait_for(pilot, lambda: app.screen.id != "checklist" or app.screen.session  # type: ignore[attr-defined]
                       .recorded["applicant_id"]["card"].get("chip_face_match") is False)
    assert face_auth.pin_status("support_collation_b").remaining == 10


def test_era_dates_and_the_grouped_mask() -> None:
    assert era_date(dt.date(1985, 4, 1)) == "昭和60年4月1日"
    assert era_date(dt.date(1989, 1, 8)) == "平成元年1月8日"
    assert era_date(dt.date(2019, 5, 1)) == "令和元年5月1日"
    assert era_date(dt.date(2019, 4, 30)) == "平成31年4月30日"
    assert code_mask(0) == "○ ○ ○ ○ ○ ○  ○ ○ ○ ○  ○ ○ ○ ○"
    assert code_mask(7) == "● ● ● ● ● ●  ● ○ ○ ○  ○ ○ ○ ○"


async def test_the_last_try_of_the_collation_number_needs_the_clerks_confirmation(
    face_auth: Any,
) -> None:
    for _ in range(9):  # nine wrong codes through the real card path leave one try
        face_auth.identity_check(bytearray(WRONG_CODE.encode()), confirm_last_try=frozenset())
    assert face_auth.pin_status("support_collation_b").remaining == 1
    code = _facts(face_auth).verification_code_b
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        frames = Frames(pilot)
        await _to_fallback(pilot, frames)
        await wait_for(pilot, lambda: "入力補助AP 1 回 ／ 券面AP 10 回" in screen_text(app))
        await paste(pilot, code)
        await frames.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        # Only the counter at its last try is named (the 券面AP's has 10 left).
        assert "券面事項入力補助APの照合番号Bの残り照合回数は1回です" in screen_text(app)
        assert "券面APの照合番号B" not in screen_text(app)
        await pilot.press("enter")  # the focused button cancels: nothing sent
        await wait_for(pilot, lambda: app.screen.id == "fallback")
        assert code_mask(0) in screen_text(app)
        assert face_auth.pin_status("support_collation_b").remaining == 1
        await paste(pilot, code)
        await frames.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await pilot.press("tab", "enter")  # 最後の1回を実行
        await wait_for(pilot, lambda: getattr(app.screen, "phase", "") == "compare")
    assert face_auth.pin_status("support_collation_b").remaining == 10
    actions = [e["action"] for e in face_auth.operators.events("demo")]
    assert "collation_b_last_try_declined" in actions
    assert "collation_b_last_try_confirmed" in actions


# -- snapshots at both sizes -------------------------------------------------------------

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((100, 30), id="100x30")]


@pytest.fixture
def snap_face_auth(tmp_path: Path, sim_pki: Path) -> Iterator[Any]:
    svc = make_services(tmp_path, clock=StepClock(), pki_dir=sim_pki, profile="face-auth")
    yield svc
    svc.close()


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_entry(snap_compare: Any, snap_face_auth: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _to_fallback(pilot, Frames(pilot))
        await pilot.press("6", "0", "0", "4", "0", "1", "2")  # seven masks, no digit shown
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "typed", 0) == 7)

    assert snap_compare(CounterApp(services=snap_face_auth), terminal_size=size,
                        run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_compare(snap_compare: Any, snap_face_auth: Any, size: tuple[int, int]) -> None:
    code = _facts(snap_face_auth).verification_code_b

    async def run_before(pilot: Pilot[None]) -> None:
        await _to_fallback(pilot, Frames(pilot))
        await paste(pilot, code)
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "phase", "") == "compare")
        await wait_for(pilot, lambda: bool(pilot.app.screen.query("#fallback-photo-image")))
        await pilot.press("space", "down")  # 氏名 ticked
        await pilot.pause(0.1)

    assert snap_compare(CounterApp(services=snap_face_auth), terminal_size=size,
                        run_before=run_before)
