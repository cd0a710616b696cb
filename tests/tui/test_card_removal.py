"""Taking the card away (or losing the reader) on every screen that needs the card.

Each card-dependent screen (the checklist's card steps, the PIN prompt, the
last-try question, the fallback path's 照合番号B entry, its last try and the
chip comparison) must abandon its step the same way: the clerk is told,
nothing is recorded as if the card had answered, no try is spent and what the
screen held for the card is wiped. The card leaves through the sim reader's own
``remove`` from another thread, so the real reader-watch thread reports it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tui.app import CounterApp
from tui.messages import ReaderChanged
from tui.services import Presence, ReaderState

from .conftest import StepClock, make_services
from .helpers import (
    answer_until,
    card_settled,
    paste,
    screen_text,
    sign_in,
    step_ready,
    wait_for,
)

SIZE = (80, 24)
REMOVED = "カードが取り外されました"
WRONG_CODE = "11111111111111"


@pytest.fixture
def face_auth(tmp_path: Path, clock: StepClock, sim_pki: Path) -> Any:
    svc = make_services(tmp_path / "face", clock=clock, pki_dir=sim_pki, profile="face-auth")
    yield svc
    svc.close()


async def _take_card(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, CounterApp)
    reader = app.services.reader  # type: ignore[attr-defined]
    threading.Thread(target=reader.remove).start()  # as the reader's own thread would
    await wait_for(pilot, lambda: app.reader_state.presence is Presence.ABSENT)


async def _put_card_back(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, CounterApp)
    reader = app.services.reader  # type: ignore[attr-defined]
    threading.Thread(target=reader.insert).start()
    await wait_for(pilot, lambda: app.reader_state.presence is Presence.PRESENT)
    await card_settled(pilot)


def _card_facts(app: CounterApp) -> dict[str, Any]:
    recorded = app.screen.session.recorded  # type: ignore[attr-defined]
    return recorded["applicant_id"].get("card", {})  # type: ignore[no-any-return]


async def test_checklist_card_steps_pin_prompt_and_last_try_abandon_on_removal(
    services: Any,
) -> None:
    for _ in range(2):  # two wrong PINs through the real card path leave the last try
        services.verify_pin("juki", bytearray(b"9999"), confirm_last_try=False)
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        # The expiry step: the chip's date is proposed; it goes with the card.
        await answer_until(pilot, "card.expiry")
        await wait_for(pilot, lambda: step_ready(app))
        assert app.screen.query_one(".step-text", Input).value == "2034-04-01"
        await _take_card(pilot)
        await wait_for(pilot, lambda: REMOVED in screen_text(app))
        await wait_for(pilot, lambda: step_ready(app))
        assert app.screen.query_one(".step-text", Input).value == ""
        assert "ICチップから読み取った日付" not in screen_text(app)
        assert "expiry" not in _card_facts(app)
        # The card back on the reader: its date is proposed again, the clerk confirms it.
        await _put_card_back(pilot)
        await wait_for(pilot, lambda: "ICチップから読み取った日付" in screen_text(app))
        await wait_for(pilot, lambda: step_ready(app))
        assert app.screen.query_one(".step-text", Input).value == "2034-04-01"
        await pilot.press("enter")
        await answer_until_pin(pilot)

        # The last-try question: the card leaves while the clerk is asked.
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await _take_card(pilot)
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await wait_for(pilot, lambda: REMOVED in screen_text(app))
        assert "pin_result" not in _card_facts(app)

        # The PIN prompt after the confirmed last try: two digits typed, then the card goes.
        await _put_card_back(pilot)
        assert services.pin_status("juki").remaining == 1
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await pilot.click("#last-try-confirm")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        prompt = app.screen
        await pilot.press("1", "2")
        await wait_for(pilot, lambda: prompt.length == 2)  # type: ignore[attr-defined]
        await _take_card(pilot)
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await wait_for(pilot, lambda: REMOVED in screen_text(app))
        assert not any(prompt.entry.buffer_bytes())  # type: ignore[attr-defined]
        assert services.pin_pad.prompt_active is False
        assert "pin_result" not in _card_facts(app)
    services.reader.insert()
    assert services.pin_status("juki").remaining == 1  # no VERIFY reached the card
    details = [e["detail"] for e in services.operators.events("demo")
               if e["action"] == "pin_verify"]
    assert details == ["juki:card_removed", "juki:card_removed"]


async def answer_until_pin(pilot: Pilot[None]) -> None:
    """From the checklist's contents step on, up to the PIN step."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    session = app.screen.session  # type: ignore[attr-defined]
    while not session.next_step().key.endswith("card.pin_result"):
        key = session.next_step().key
        await wait_for(pilot, lambda: step_ready(app))
        await pilot.press("enter")  # はい / 運用中 / the chip's いいえ
        await wait_for(pilot, lambda k=key: session.next_step().key != k)  # type: ignore[misc]
    await wait_for(pilot, lambda: step_ready(app))


async def _open_fallback(pilot: Pilot[None]) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: step_ready(app))  # type: ignore[arg-type]
    await pilot.press("enter")  # 照合番号BでICチップの券面事項を確認する
    await wait_for(pilot, lambda: app.screen.id == "fallback")
    await wait_for(pilot, lambda: "残り照合回数" in screen_text(app))  # type: ignore[arg-type]


async def test_fallback_entry_last_try_and_comparison_abandon_on_removal(
    face_auth: Any,
) -> None:
    for _ in range(9):  # nine wrong codes through the real card path leave the last try
        face_auth.identity_check(bytearray(WRONG_CODE.encode()), confirm_last_try=frozenset())
    code = face_auth.reader.card.facts.verification_code_b
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await answer_until(pilot, "chip_face_match")

        # 照合番号B half typed: the digits are wiped, the checklist asks the step again.
        await _open_fallback(pilot)
        fallback = app.screen
        await paste(pilot, code[:7])
        await _take_card(pilot)
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await wait_for(pilot, lambda: REMOVED in screen_text(app))
        assert fallback.typed == 0  # type: ignore[attr-defined]
        assert "chip_face_match" not in _card_facts(app)
        await pilot.press("enter")  # no card: the fallback does not open
        assert app.screen.id == "checklist"

        # The last try of 照合番号B: both the question and the fallback go.
        await _put_card_back(pilot)
        await _open_fallback(pilot)
        fallback = app.screen
        await paste(pilot, code)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await _take_card(pilot)
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await wait_for(pilot, lambda: REMOVED in screen_text(app))
        assert fallback.typed == 0  # type: ignore[attr-defined]

        # The comparison: the chip's data leaves the screen with the card, no match recorded.
        await _put_card_back(pilot)
        assert face_auth.pin_status("support_collation_b").remaining == 1
        await _open_fallback(pilot)
        await paste(pilot, code)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await pilot.click("#last-try-confirm")
        await wait_for(pilot, lambda: getattr(app.screen, "phase", "") == "compare")
        assert "番号　花子" in screen_text(app)
        await pilot.press("space")  # one item ticked, then the card goes
        await _take_card(pilot)
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await wait_for(pilot, lambda: REMOVED in screen_text(app))
        assert "番号　花子" not in screen_text(app)
        assert "chip_face_match" not in _card_facts(app)
    face_auth.reader.insert()
    assert face_auth.pin_status("support_collation_b").remaining == 10  # the read reset it
    outcomes = [e["detail"] for e in face_auth.operators.events("demo")
                if e["action"] == "collation_b_check"]
    assert outcomes == ["card_removed", "card_removed", "read", "card_removed"]


async def test_an_unplugged_reader_abandons_the_fallback_like_a_removed_card(
    face_auth: Any,
) -> None:
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await answer_until(pilot, "chip_face_match")
        await _open_fallback(pilot)
        await pilot.press("6", "0")
        # What the reader-watch thread posts when the reader itself is gone.
        app.post_message(ReaderChanged(ReaderState("", Presence.READER_GONE)))
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await wait_for(pilot, lambda: REMOVED in screen_text(app))
        assert "chip_face_match" not in _card_facts(app)
