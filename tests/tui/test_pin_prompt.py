"""The PIN prompt on the real stack: keyboard pad -> PinEntry -> card session -> sim card.

The secrecy test scans every frame rendered during PIN entry (after each key)
and every log record of the whole run for the PIN, by the shared rule of
``tests/pin_scan.py`` (the digits typed so far and the whole PIN, dates and times
masked); the card's own try counter proves each VERIFY happened exactly when it should.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing
from tui.app import CounterApp
from tui.screens.pin_prompt import mask_rows

from .conftest import StepClock, make_services
from .helpers import card_settled, notices, screen_text, sign_in, wait_for

SIZE = (80, 24)
RIGHT_PIN = "1234"  # the virtual card's 住基 PIN (docs/virtual-card.md)
WRONG_PIN = "9876"


def _mask(typed: int, of: int = 4) -> str:
    """The middle row of the boxed mask with ``typed`` boxes filled."""
    return mask_rows(typed, of)[1]


async def _type_pin(pilot: Pilot[None], pin: str, frames: list[tuple[int, str]]) -> None:
    """Type ``pin``; after each key, ``(digits typed so far, frame)`` goes to ``frames``."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    for typed, digit in enumerate(pin, start=1):
        await pilot.press(digit)
        await pilot.pause()
        frames.append((typed, screen_text(app)))


async def _open_prompt(pilot: Pilot[None]) -> None:
    app = pilot.app
    await pilot.press("v")
    await wait_for(pilot, lambda: app.screen.id == "pin-prompt")


def _juki_tries(services: Any) -> int | None:
    return services.pin_status("juki").remaining


async def test_no_frame_and_no_log_line_ever_holds_the_pin(
    services: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = CounterApp(services=services)
    wrong_frames: list[tuple[int, str]] = []  # every frame while a PIN prompt is up
    right_frames: list[tuple[int, str]] = []
    after: list[str] = []  # the home screen after each VERIFY
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await _open_prompt(pilot)
        wrong_frames.append((0, screen_text(app)))
        assert _mask(2) not in wrong_frames[-1][1]
        assert _mask(0) in wrong_frames[-1][1]
        assert "残り 3 回" in wrong_frames[-1][1]
        await _type_pin(pilot, WRONG_PIN, wrong_frames)
        assert _mask(4) in wrong_frames[-1][1]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "home")
        after.append(screen_text(app))
        assert _juki_tries(services) == 2  # exactly one VERIFY was sent
        await card_settled(pilot)
        await _open_prompt(pilot)
        assert "残り 2 回" in screen_text(app)
        await _type_pin(pilot, RIGHT_PIN, right_frames)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "home")
        after.append(screen_text(app))
        told = notices(app)
    assert _juki_tries(services) == 3  # verified: the counter is back to full
    # Each PIN's typed digits on its own prompt's frames; both PINs whole everywhere.
    assert_no_pin_while_typing(WRONG_PIN, wrong_frames)
    assert_no_pin_while_typing(RIGHT_PIN, right_frames)
    log_lines = [r.getMessage() for r in caplog.records]
    assert "PIN entry complete" in "\n".join(log_lines)  # the log did see the entry...
    details = [e["detail"] for e in services.operators.events("demo")]
    assert "juki:wrong" in details
    assert "juki:verified" in details
    everything = [frame for _, frame in wrong_frames + right_frames]
    for pin in (WRONG_PIN, RIGHT_PIN):  # ...but never the PIN
        assert_no_pin(pin, [*everything, *after, *told, *log_lines, *details])


async def test_the_hold_after_a_refused_pin_shows_the_tries_the_card_reported(
    services: Any,
) -> None:
    # The result is held on screen for a second; 「残り 3 回」 read before the VERIFY
    # stayed there beside 「暗証番号が違います」 (issue 14).
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await _open_prompt(pilot)
        assert "残り 3 回" in screen_text(app)
        await _type_pin(pilot, WRONG_PIN, [])
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "finished", False))
        await pilot.pause()
        held = screen_text(app)
        assert app.screen.id == "pin-prompt"  # still the hold
        assert "残り 2 回" in held
        assert "残り 3 回" not in held
        await wait_for(pilot, lambda: app.screen.id == "home")
    assert _juki_tries(services) == 2


async def test_the_last_try_needs_the_clerks_explicit_confirmation(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        for _ in range(2):
            await _open_prompt(pilot)
            await _type_pin(pilot, WRONG_PIN, [])
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "home")
            await card_settled(pilot)
        assert _juki_tries(services) == 1
        await pilot.press("v")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        assert "残り照合回数は1回" in screen_text(app)
        # Enter on the focused button cancels: nothing is sent to the card.
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "home")
        assert _juki_tries(services) == 1
        await pilot.press("v")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "home")
        assert _juki_tries(services) == 1
        # Only the explicit confirm button opens the prompt for the last try.
        await pilot.press("v")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await pilot.click("#last-try-confirm")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        assert "職員が確認済み" in screen_text(app)
        await _type_pin(pilot, RIGHT_PIN, [])
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "home")
    assert _juki_tries(services) == 3
    actions = [e["action"] for e in services.operators.events("demo")]
    assert actions.count("pin_last_try_declined") == 2
    assert actions.count("pin_last_try_confirmed") == 1


async def test_short_pin_is_refused_and_nothing_is_lost(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await _open_prompt(pilot)
        await _type_pin(pilot, "12", [])
        await pilot.press("enter")
        await wait_for(pilot, lambda: "桁数が足りません" in screen_text(app))
        assert _mask(2) in screen_text(app)  # the two digits are kept
        await _type_pin(pilot, "34", [])
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "home")
    assert _juki_tries(services) == 3


async def test_escape_cancels_and_wipes_without_a_verify(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await _open_prompt(pilot)
        screen = app.screen
        await _type_pin(pilot, "12", [])
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "home")
        assert not any(screen.entry.buffer_bytes())  # type: ignore[attr-defined]
        assert services.pin_pad.prompt_active is False
    assert _juki_tries(services) == 3
    assert services.operators.events("demo")[-1]["detail"] == "juki:cancelled"


async def test_taking_the_card_away_ends_the_prompt(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await _open_prompt(pilot)
        screen = app.screen
        await _type_pin(pilot, "12", [])
        services.reader.remove()
        await wait_for(pilot, lambda: app.screen.id == "home")
        assert not any(screen.entry.buffer_bytes())  # type: ignore[attr-defined]
        assert services.operators.events("demo")[-1]["detail"] == "juki:card_removed"


@pytest.mark.parametrize(
    ("profile", "message"),
    [("pin-blocked", "ロック（初期化・再設定の手続が必要です）"), ("face-auth", "使用不可")],
)
async def test_no_prompt_when_the_pin_cannot_be_tried(
    tmp_path: Path, clock: StepClock, sim_pki: Path, profile: str, message: str
) -> None:
    options = {"blocked_pin": "juki"} if profile == "pin-blocked" else {}
    svc = make_services(tmp_path, clock=clock, pki_dir=sim_pki, profile=profile, **options)
    try:
        app = CounterApp(services=svc)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await card_settled(pilot)
            await pilot.press("v")
            await wait_for(pilot, lambda: any(message in n for n in notices(app)))
            assert app.screen.id == "home"
    finally:
        svc.close()


async def test_no_prompt_without_a_card(services: Any) -> None:
    services.reader.remove()
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("v")
        await pilot.pause()
        assert app.screen.id == "home"
        assert any("カードをリーダーに置いて" in n for n in notices(app))


async def test_pin_typed_on_the_gpio_pad_on_mock_pins(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    """The hardware path: gpiozero MockFactory, the matrix model, the real scan thread."""
    from gpiozero.pins.mock import MockFactory

    from drivers import open_keypad
    from drivers.keypad.matrix_model import KeypadMatrixModel

    rows, cols = (5, 6, 13, 19), (12, 16, 20)
    factory = MockFactory()
    model = KeypadMatrixModel(factory, rows, cols, layout="4x3")
    pad = open_keypad("gpio", rows=rows, cols=cols, layout="4x3", pin_factory=factory)
    svc = make_services(tmp_path, clock=clock, pki_dir=sim_pki, pin_pad=pad)
    frames: list[tuple[int, str]] = []
    try:
        app = CounterApp(services=svc)
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            await card_settled(pilot)
            await _open_prompt(pilot)
            assert "模擬PINパッド" not in screen_text(app)  # a real pad needs no label
            # Terminal keys do nothing during a hardware-pad prompt (only Esc cancels).
            await pilot.press("7")
            assert app.screen.length == 0  # type: ignore[attr-defined]
            for typed, key in enumerate(RIGHT_PIN, start=1):
                model.press(key)
                await wait_for(pilot, lambda n=typed: app.screen.length == n)  # type: ignore[attr-defined,misc]
                model.release(key)
                await pilot.pause(0.05)
                frames.append((typed, screen_text(app)))
            model.press("#")
            await wait_for(pilot, lambda: app.screen.id == "home")
            model.release("#")
        assert_no_pin_while_typing(RIGHT_PIN, frames)
        assert svc.pin_status("juki").remaining == 3  # verified
        assert svc.operators.events("demo")[-1]["detail"] == "juki:verified"
        assert model.shorts == 0
    finally:
        pad.close()
        factory.reset()
        svc.close()
