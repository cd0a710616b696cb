"""Every question the checklist screen shows reads as the clerk knows it (ja and en).

The real app and the real checklist screen walk the proxy, legal-representative,
overseas and found-card procedures on the default answers (a passport as the
identity evidence, so no card step is needed) and stop on the reply-form
questions too. What the screen renders in the question box — the question, the
options, the ticks and any message — must hold no raw identifier or JSON path,
and no English word on a Japanese screen.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from textual.geometry import Region
from textual.widgets import Input, OptionList, Static

from tui.app import CounterApp
from tui.widgets.tick_list import TickList

from .helpers import sign_in, step_ready, wait_for

SIZE = (80, 24)
RAW = re.compile(r"[a-z]+_[a-z_]+|\$\.|[a-z]\.[a-z]")
ENGLISH = re.compile(r"[A-Za-z]{2,}")
#: Procedures and actors walked, with the reply form asked (proxies) on the way.
WALKS = [("2-1-2", "proxy"), ("2-1-2", "legal_representative"), ("3-1-2", "proxy"),
         ("2-3-2", "proxy"), ("3-3-1", "self"), ("4-3", "proxy"), ("2-2-2", "proxy")]


def _shown(screen: Any) -> list[str]:
    """The texts of the question box that are on screen now."""
    texts = [_drawn(screen.query_one(f"#{name}", Static))
             for name in ("step-question", "step-error")]
    choice = screen.query_one("#step-choice", OptionList)
    if choice.display:
        texts += [str(choice.get_option_at_index(i).prompt) for i in range(choice.option_count)]
    ticks = screen.query_one("#step-multi", TickList)
    if ticks.display:
        texts += [str(ticks.get_option_at_index(i).prompt) for i in range(ticks.option_count)]
    return [t for t in texts if t.strip()]


def _drawn(widget: Static) -> str:
    """What ``widget`` draws now, its lines joined (the question may wrap)."""
    width, height = widget.size
    return "".join(strip.text.strip() for strip in widget.render_lines(Region(0, 0, width, height)))


def _check(texts: list[str], language: str, where: str) -> None:
    for text in texts:
        assert not RAW.search(text), f"{where}: raw identifier on screen: {text!r}"
        if language == "ja":
            assert not ENGLISH.search(text), f"{where}: English on a Japanese screen: {text!r}"


async def _walk(pilot: Any, app: CounterApp, pid: str, actor: str, language: str) -> set[str]:
    app._start_procedure(pid, actor)
    await wait_for(pilot, lambda: app.screen.id == "checklist")
    screen: Any = app.screen
    session = screen.session
    asked: set[str] = set()
    while (step := session.next_step()) is not None and "pin_result" not in step.key:
        await wait_for(pilot, lambda: step_ready(app))
        _check(_shown(screen), language, f"{pid}/{actor} {step.key}")
        asked.add(step.key)
        if step.key.endswith(".kind"):
            choice = screen.query_one("#step-choice", OptionList)
            choice.highlighted = choice.get_option_index("passport")
            await pilot.press("enter")
        elif screen.query_one("#step-text", Input).display:
            await pilot.press(*"2030/1/31", "enter")
        elif screen.query_one("#step-multi", TickList).display:
            screen.query_one("#step-next").press()
        else:
            await pilot.press("enter")  # the highlighted, safe default
        await wait_for(pilot, lambda k=step.key: session.next_step() is None
                       or session.next_step().key != k)
    return asked


@pytest.mark.parametrize("language", ["ja", "en"])
async def test_every_question_on_the_walks_renders_without_raw_identifiers(
    services: Any, language: str
) -> None:
    app = CounterApp(services=services, language=language)
    asked: set[str] = set()
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        for pid, actor in WALKS:
            asked |= await _walk(pilot, app, pid, actor, language)
            while app.screen.id != "home":
                app.pop_screen()
                await pilot.pause()
    # the reply form is asked as choices, not as tick boxes of raw field names
    assert {"proxy.reply_form.present", "proxy.reply_form.pin_concealment",
            "proxy.power_of_attorney.signed_or_sealed", "proxy.legal_rep_proof"} <= asked


async def test_the_reply_form_concealment_is_a_japanese_choice(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        app._start_procedure("2-1-2", "proxy")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        screen: Any = app.screen
        session = screen.session
        while session.next_step().key != "proxy.reply_form.pin_concealment":
            await wait_for(pilot, lambda: step_ready(app))
            key = session.next_step().key
            await pilot.press("enter")
            await wait_for(pilot, lambda k=key: session.next_step().key != k)
        await wait_for(pilot, lambda: step_ready(app))
        shown = _shown(screen)
        assert "回答書の暗証番号の隠蔽" in shown[0]
        assert shown[1:] == ["目隠しシール", "封入封かん", "なし"]
        await pilot.press("down", "down", "enter")  # なし: 受付不可, with its citation
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        assert session.evaluation.decision.value == "reject"
        assert session.evaluation.reasons()[-1].citation == "第2-1-(2)-ア-(ア)-C-(B)"
