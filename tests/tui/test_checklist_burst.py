"""The checklist under a fast typist: keys typed ahead of a question never answer it.

The keys are posted to the driver back to back (as a terminal delivers a fast
typist's keys in one read). The key that answers the question on screen counts;
every key of the burst after it was typed before the next question appeared, so
it is dropped whole: no question is answered, no option moved, no character
typed by keys the clerk sent before seeing it. Nothing is recorded that the
clerk did not type for the question it answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from tui.app import CounterApp

from .helpers import card_settled, pick_procedure, sign_in, step_ready, wait_for
from .test_fallback_burst import _burst

SIZE = (80, 24)

#: 第2-1-(1) 本人 from the first question to the PIN step, as a clerk would type it.
TO_PIN = ("enter", "enter", "enter", "enter", "enter", "enter")


@asynccontextmanager
async def _checklist(services: Any) -> AsyncIterator[tuple[Pilot[None], CounterApp, Any]]:
    """Signed in, the card read, 第2-1-(1) open with its first question ready for keys."""
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)  # the chip's proposals need the card read
        await pick_procedure(pilot, "2-1-1")
        await wait_for(pilot, lambda: app.screen.id == "checklist" and step_ready(app))
        yield pilot, app, app.screen


async def _settled(pilot: Pilot[None]) -> None:
    """Let every key of a burst and what it set off be handled."""
    for _ in range(5):
        await pilot.pause(0.05)


async def test_a_burst_to_the_pin_step_answers_only_the_question_on_screen(
    services: Any,
) -> None:
    async with _checklist(services) as (pilot, app, screen):
        session = screen.session
        _burst(app, *TO_PIN)
        await _settled(pilot)
        # The first Enter answered 申請書等を受理したか; the rest were typed before
        # 本人確認書類の種類 appeared and answered nothing: not なし (the Down lost,
        # the Enter kept), not 個人番号カード either.
        assert session.recorded == {"application": {"received": True}}
        assert session.next_step().key == "applicant_id.kind"
        choice = screen.query_one("#step-choice", OptionList)
        assert choice.has_focus
        assert choice.highlighted == 1  # the default 個人番号カード: no Down of the burst moved it
        # The clerk is told why the keys did nothing (a dropped Enter looks dead otherwise).
        notice = str(screen.query_one("#step-error", Static).render())
        assert "質問が表示される前に押されたキー" in notice
        # Fresh keys, typed with the question on screen: the Down counts; the first
        # Enter after a dropped burst is dropped too, the next one answers.
        await pilot.press("down", "enter")
        await _settled(pilot)
        assert session.next_step().key == "applicant_id.kind"
        assert choice.highlighted == 2
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: session.next_step().key != "applicant_id.kind")
        assert session.recorded["applicant_id"]["kind"] == "my_number_card"


async def test_a_down_typed_ahead_never_leaves_its_enter_to_pick_the_default(
    services: Any,
) -> None:
    async with _checklist(services) as (pilot, app, screen):
        session = screen.session
        # Enter answers the first question; the Down meant for the second is read
        # before the second is shown, its Enter after.
        _burst(app, "enter", "down")
        await wait_for(pilot, lambda: session.next_step().key == "applicant_id.kind")
        await _settled(pilot)
        await pilot.press("enter")
        await _settled(pilot)
        assert "kind" not in session.recorded.get("applicant_id", {})  # not 住基カード
        assert screen.query_one("#step-choice", OptionList).highlighted == 1  # the default


async def test_characters_typed_ahead_of_a_date_question_are_not_half_typed(
    services: Any,
) -> None:
    async with _checklist(services) as (pilot, app, screen):
        session = screen.session
        await pilot.press("enter")  # 申請書等を受理した
        await wait_for(pilot, lambda: session.next_step().key == "applicant_id.kind")
        await wait_for(pilot, lambda: step_ready(app))
        # 個人番号カード, then a different expiry date than the chip's, in one burst.
        _burst(app, "enter", *"2030-01-01", "enter")
        await _settled(pilot)
        assert session.recorded["applicant_id"]["kind"] == "my_number_card"
        assert "expiry" not in session.recorded["applicant_id"].get("card", {})
        field = screen.query_one("#step-text", Input)
        assert field.has_focus
        assert field.value == "2034-04-01"  # the chip's proposal, not a half-typed date
