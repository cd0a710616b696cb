"""The diagnostics screen says which gpiozero pin factory drives the PIN pad, so IT checking
a new Raspberry Pi sees "lgpio" there (docs/raspberry-pi.md); the keyboard stand-in has none,
the virtual pad is labelled as the demo's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers import open_keypad
from tui.app import CounterApp

from .conftest import StepClock, make_services
from .helpers import screen_text, sign_in, wait_for


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_the_keyboard_pad_has_no_pin_factory(services: Any, size: tuple[int, int]) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=size) as pilot:
        await sign_in(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: app.screen.id == "diagnostics")
        assert "ピンファクトリ  なし（キーボード）" in screen_text(app)


async def test_the_virtual_matrix_pad_shows_the_mock_factory_as_the_demos(
    tmp_path: Path, clock: StepClock, sim_pki: Path,
) -> None:
    pad = open_keypad("virtual-matrix", rows=(5, 6, 13, 19), cols=(12, 16, 20),
                      control_socket=tmp_path / "keypad.sock")
    services = make_services(tmp_path / "state", clock=clock, pki_dir=sim_pki, pin_pad=pad)
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=(80, 24)) as pilot:
            await sign_in(pilot)
            await pilot.press("d")
            await wait_for(pilot, lambda: app.screen.id == "diagnostics")
            assert "ピンファクトリ  mock（デモ用）" in screen_text(app)
    finally:
        services.close()
