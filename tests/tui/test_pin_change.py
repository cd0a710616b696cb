"""暗証番号の変更 in the TUI on the real stack: keyboard pad -> NewPinEntry -> CardPinWriter ->
the virtual card. Every frame during the entries, every log line, notice and operator event
is scanned for both PINs; the card's counter and a VERIFY afterwards prove what changed.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing
from tui.app import CounterApp
from tui.screens.pin_prompt import mask_rows

from .helpers import card_settled, notices, screen_text, sign_in, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((100, 30), id="100x30")]
OLD = "1234"  # the virtual card's 利用者証明用 PIN (docs/virtual-card.md)
NEW = "5738"


async def _open(pilot: Pilot[None], pin_index: int = 1) -> None:
    """Procedure picker -> its last option -> the PIN at ``pin_index`` (1 = 利用者証明用)."""
    app = pilot.app
    await pilot.press("p")
    await wait_for(pilot, lambda: app.screen.id == "procedures")
    await pilot.press("end", "enter")
    await wait_for(pilot, lambda: app.screen.id == "pin-change-choice")
    for _ in range(pin_index):
        await pilot.press("down")
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen.id == "pin-change")


async def _type(pilot: Pilot[None], pin: str, frames: list[tuple[int, str]]) -> None:
    app = pilot.app
    assert isinstance(app, CounterApp)
    for typed, digit in enumerate(pin, start=1):
        await pilot.press(digit)
        await pilot.pause()
        frames.append((typed, screen_text(app)))
    await pilot.press("enter")
    await pilot.pause()


def _events(services: Any) -> list[str]:
    return [f"{e['action']} {e['detail']}" for e in services.operators.events("demo")]


@pytest.mark.parametrize("size", SIZES)
async def test_the_holder_changes_a_pin_and_no_frame_or_record_holds_it(
    services: Any, caplog: pytest.LogCaptureFixture, size: tuple[int, int]
) -> None:
    caplog.set_level(logging.DEBUG)
    app = CounterApp(services=services)
    old_frames: list[tuple[int, str]] = []
    new_frames: list[tuple[int, str]] = []
    async with app.run_test(size=size) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await _open(pilot)
        text = screen_text(app)
        assert "現在の利用者証明用電子証明書の暗証番号" in text
        assert "残り 3 回" in text
        assert mask_rows(0, 4)[1] in text
        await _type(pilot, OLD, old_frames)
        await wait_for(pilot, lambda: "新しい利用者証明用" in screen_text(app))
        await _type(pilot, NEW, new_frames)
        await wait_for(pilot, lambda: "確認のため" in screen_text(app))
        await _type(pilot, NEW, new_frames)
        await wait_for(pilot, lambda: app.screen.id == "procedures")  # where it was opened
        after = screen_text(app)
        told = notices(app)
    assert any("変更しました" in n for n in told)
    assert services.pin_status("jpki_auth").remaining == 3
    # the new PIN verifies, the old one does not
    assert services.verify_pin("jpki_auth", bytearray(NEW.encode()),
                               confirm_last_try=False).outcome == "verified"
    refused = services.verify_pin("jpki_auth", bytearray(OLD.encode()), confirm_last_try=False)
    assert (refused.outcome, refused.remaining) == ("wrong", 2)
    events = _events(services)
    assert "pin_change jpki_auth:changed" in events
    logs = [r.getMessage() for r in caplog.records]
    assert_no_pin_while_typing(OLD, old_frames)
    assert_no_pin_while_typing(NEW, new_frames)
    frames = [f for _, f in old_frames + new_frames]
    for pin in (OLD, NEW):
        assert_no_pin(pin, [*frames, after, *told, *logs, *events])


async def test_a_mismatch_asks_for_both_again_and_sends_nothing(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await _open(pilot)
        await _type(pilot, OLD, [])
        await _type(pilot, NEW, [])
        await _type(pilot, "5739", [])
        await wait_for(pilot, lambda: "一致しませんでした" in screen_text(app))
        assert "新しい利用者証明用" in screen_text(app)
        assert services.pin_status("jpki_auth").remaining == 3  # nothing went to the card
        await _type(pilot, NEW, [])
        await _type(pilot, NEW, [])
        await wait_for(pilot, lambda: app.screen.id == "procedures")
    assert services.verify_pin("jpki_auth", bytearray(NEW.encode()),
                               confirm_last_try=False).outcome == "verified"


async def test_easy_choice_advice_then_keep_it(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await _open(pilot, pin_index=3)  # 住民基本台帳用
        await _type(pilot, OLD, [])
        await _type(pilot, "1111", [])
        await wait_for(pilot, lambda: "推測されやすい" in screen_text(app))
        await pilot.press("backspace")  # choose another
        await wait_for(pilot, lambda: "新しい住民基本台帳用" in screen_text(app))
        await _type(pilot, "2222", [])
        await wait_for(pilot, lambda: "推測されやすい" in screen_text(app))
        await pilot.press("enter")  # keep it
        await wait_for(pilot, lambda: "確認のため" in screen_text(app))
        await _type(pilot, "2222", [])
        await wait_for(pilot, lambda: app.screen.id == "procedures")
    assert services.verify_pin("juki", bytearray(b"2222"),
                               confirm_last_try=False).outcome == "verified"


async def test_esc_abandons_records_it_and_changes_nothing(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await _open(pilot)
        await _type(pilot, OLD, [])
        await pilot.press("5", "7")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "pin-change-choice")
        assert "中止しました" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "procedures")
    assert "pin_change jpki_auth:abandoned" in _events(services)
    assert services.pin_status("jpki_auth").remaining == 3
    assert services.verify_pin("jpki_auth", bytearray(OLD.encode()),
                               confirm_last_try=False).outcome == "verified"


async def test_a_wrong_current_pin_spends_one_try_and_the_last_needs_confirmation(
    services: Any,
) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        for left in (2, 1):
            await _open(pilot)
            await _type(pilot, "9876", [])
            await _type(pilot, NEW, [])
            await _type(pilot, NEW, [])
            await wait_for(pilot, lambda: app.screen.id == "pin-change-choice")
            assert f"残り {left} 回" in screen_text(app)
            assert services.pin_status("jpki_auth").remaining == left
            # the choice itself follows the card once it is read again
            label = f"利用者証明用電子証明書の暗証番号（残り {left} 回）"
            await wait_for(pilot, lambda label=label: label in screen_text(app))
            await pilot.press("escape", "escape")
            await wait_for(pilot, lambda: app.screen.id == "home")
            await card_settled(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.screen.id == "procedures")
        await pilot.press("end", "enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-change-choice")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        await pilot.press("enter")  # the focused button cancels
        await wait_for(pilot, lambda: app.screen.id == "pin-change-choice")
        assert services.pin_status("jpki_auth").remaining == 1
    events = _events(services)
    assert "pin_change jpki_auth:wrong" in events
    assert "pin_last_try_declined jpki_auth" in events
