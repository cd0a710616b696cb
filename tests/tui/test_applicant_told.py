"""The applicant is told: the pad's LEDs and buzzer and the prompt's status line agree.

The real stack (keyboard pad -> PinEntry -> card session -> virtual card) with the
indicators on gpiozero's MockFactory: each applicant state of docs/pinpad.md is
checked on the pins' histories and as the Japanese line on the PIN prompt, at
80x24 and 100x30. The keyboard pad has no lamps of its own: the line is its cue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory
from textual.pilot import Pilot

from drivers.indicators import DEFAULT_PATTERNS, GpioIndicators
from tests.pin_scan import assert_no_pin
from tui.app import CounterApp
from tui.screens.pin_prompt import PinPromptScreen, applicant_state
from tui.services import PinVerifyResult

from .conftest import StepClock, make_services
from .helpers import card_settled, screen_text, sign_in, wait_for

OK, ERROR, BUZZER = 17, 27, 22
RIGHT_PIN, WRONG_PIN = "1234", "9876"  # the virtual card's 住基 PIN (docs/virtual-card.md)


@pytest.fixture
def told(
    _private_state: Path, clock: StepClock, sim_pki: Path, mock_factory: MockFactory
) -> Iterator[Any]:
    """Services whose pad has a green and a red LED and a buzzer on mock pins."""
    indicators = GpioIndicators(
        ok_led_pin=OK, error_led_pin=ERROR, buzzer_pin=BUZZER, pin_factory=mock_factory
    )
    svc = make_services(_private_state, clock=clock, pki_dir=sim_pki, indicators=indicators)
    yield svc
    svc.close()


def _highs(factory: MockFactory, pin: int) -> int:
    """How many times ``pin`` went high since its history was cleared."""
    return sum(1 for s in factory.pin(pin).states if s.state)


async def _until(pilot: Pilot[None], factory: MockFactory, pin: int, highs: int) -> None:
    """Wait until ``pin`` went high ``highs`` times (the patterns run in gpiozero's threads)."""
    deadline = time.monotonic() + 10
    while _highs(factory, pin) < highs and time.monotonic() < deadline:
        await pilot.pause(0.02)
    assert _highs(factory, pin) == highs


async def _prompt_for(pilot: Pilot[None], pin: str, *, last_try: bool = False) -> list[str]:
    """Open the prompt (confirming the last try if asked), type ``pin``, press Enter;
    returns the frames seen while the prompt was up."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    await card_settled(pilot)
    await pilot.press("v")
    if last_try:
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await pilot.click("#last-try-confirm")
    await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
    frames = [screen_text(app)]
    for digit in pin:
        await pilot.press(digit)
        await pilot.pause()
        frames.append(screen_text(app))
    await pilot.press("enter")
    return frames


async def _result_line(pilot: Pilot[None], line: str) -> str:
    """The prompt's frame once it shows ``line`` (it stays a moment before closing)."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, PinPromptScreen)
                   and line in screen_text(app))  # type: ignore[arg-type]
    frame = screen_text(app)  # type: ignore[arg-type]
    await wait_for(pilot, lambda: app.screen.id == "home")
    return frame


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_every_state_lights_the_pad_and_reads_on_the_prompt(
    told: Any, mock_factory: MockFactory, size: tuple[int, int]
) -> None:
    app = CounterApp(services=told)
    frames: list[str] = []
    async with app.run_test(size=size) as pilot:
        await sign_in(pilot)
        for pin in (OK, ERROR, BUZZER):
            mock_factory.pin(pin).clear_states()
        # Wrong PIN: a click per key, "wait" while the card answers, then "refused".
        frames += await _prompt_for(pilot, WRONG_PIN)
        frames.append(await _result_line(pilot, "暗証番号が違います（残り2回）"))
        await _until(pilot, mock_factory, BUZZER, 4 + DEFAULT_PATTERNS["refused"].beep_count)
        await _until(pilot, mock_factory, ERROR, 1)
        assert _highs(mock_factory, OK) >= 1  # the "wait" blink while the card was asked
        # Right PIN: "accepted", the green LED and one beep.
        for pin in (OK, ERROR, BUZZER):
            mock_factory.pin(pin).clear_states()
        frames += await _prompt_for(pilot, RIGHT_PIN)
        frames.append(await _result_line(pilot, "確認しました"))
        await _until(pilot, mock_factory, BUZZER, 4 + DEFAULT_PATTERNS["accepted"].beep_count)
        assert mock_factory.pin(ERROR).states[-1].state is False
        # Two wrong PINs, then the confirmed last try: its warning blinks on the prompt.
        for _ in range(2):
            await _prompt_for(pilot, WRONG_PIN)
            await wait_for(pilot, lambda: app.screen.id == "home")
        for pin in (OK, ERROR, BUZZER):
            mock_factory.pin(pin).clear_states()
        await card_settled(pilot)
        await pilot.press("v")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await pilot.click("#last-try-confirm")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        frames.append(screen_text(app))
        assert "残り1回です。間違えるとロックされます" in frames[-1]
        await _until(pilot, mock_factory, ERROR, DEFAULT_PATTERNS["last_try"].led_count)
        await _until(pilot, mock_factory, BUZZER, DEFAULT_PATTERNS["last_try"].beep_count)
        # A wrong last try blocks the PIN: the applicant is asked to take the card back.
        for digit in WRONG_PIN:
            await pilot.press(digit)
            await pilot.pause()
        await pilot.press("enter")
        frames.append(await _result_line(pilot, "カードを取り外してください"))
        last_try, remove = DEFAULT_PATTERNS["last_try"], DEFAULT_PATTERNS["remove_card"]
        await _until(pilot, mock_factory, BUZZER, last_try.beep_count + 4 + remove.beep_count)
        # The slow "take your card" blinks (the first may run on from the "wait" blink
        # the answer cut short: then the pin never went low between them).
        deadline = time.monotonic() + 10
        while _highs(mock_factory, OK) < remove.led_count and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert remove.led_count <= _highs(mock_factory, OK) <= 1 + remove.led_count
        assert mock_factory.pin(ERROR).states[-1].state is False
    assert_no_pin(RIGHT_PIN, frames)
    assert_no_pin(WRONG_PIN, frames)


def test_only_results_with_something_to_tell_are_told() -> None:
    told = {
        outcome: applicant_state(PinVerifyResult("juki", outcome))
        for outcome in ("verified", "changed", "wrong", "blocked", "cancelled",
                        "timed_out", "card_removed", "error", "not_set")
    }
    assert told == {
        "verified": "accepted", "changed": "accepted", "wrong": "refused",
        "blocked": "remove_card", "cancelled": None, "timed_out": None,
        "card_removed": None, "error": None, "not_set": None,
    }


def test_a_procedure_that_used_the_card_ends_telling_the_applicant_to_take_it_back(
    told: Any, mock_factory: MockFactory
) -> None:
    # Recorded or abandoned alike (outcome.py, abandon.py), not only after a blocked PIN.
    import datetime as dt

    from device.procedures import Session
    from tui.screens.abandon import tell_card_back

    pattern = DEFAULT_PATTERNS["remove_card"]
    session = Session.start("2-1-1", "self", dt.date(2026, 12, 3))
    session.record("application.received", True)
    for pin in (OK, ERROR, BUZZER):
        mock_factory.pin(pin).clear_states()
    tell_card_back(told, session)  # no card fact yet: nothing to tell
    time.sleep(0.2)
    assert _highs(mock_factory, BUZZER) == 0
    assert _highs(mock_factory, OK) == 0
    session.record("applicant_id.kind", "my_number_card")
    step = session.next_step()
    assert step is not None
    assert step.key == "applicant_id.card.expiry"
    session.record(step.key, "2034-04-01")  # a fact read from the card
    tell_card_back(told, session)
    deadline = time.monotonic() + 10
    while _highs(mock_factory, BUZZER) < pattern.beep_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _highs(mock_factory, BUZZER) == pattern.beep_count
    assert _highs(mock_factory, OK) >= 1  # the green lamp blinks slowly
