"""The diagnostics keypad test on the pad itself, whatever its backend.

The ``virtual-matrix`` pad is the real matrix driver (scan thread, debounce) on
gpiozero mock pins, pressed through its control socket as ``madoguchi sim pad``
does; the keyboard pad's keys come through the terminal. A key pressed while
neither a PIN prompt nor this test is open reaches nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers import open_keypad
from drivers.keypad.control import PadControl
from drivers.keypad.virtual import VirtualMatrixKeypad
from tui.app import CounterApp

from .conftest import StepClock, make_services
from .helpers import screen_text, sign_in, wait_for

SIZE = (80, 24)


@pytest.fixture
def matrix(tmp_path: Path, clock: StepClock, sim_pki: Path) -> Iterator[tuple[Any, Path]]:
    sock = tmp_path / "keypad.sock"
    pad = open_keypad("virtual-matrix", rows=(5, 6, 13, 19), cols=(12, 16, 20),
                      control_socket=sock)
    assert isinstance(pad, VirtualMatrixKeypad)
    svc = make_services(tmp_path / "state", clock=clock, pki_dir=sim_pki, pin_pad=pad)
    yield svc, sock  # the services close the pad
    svc.close()


async def _tap(sock: Path, key: str) -> None:
    def tap() -> None:
        with PadControl(sock) as control:
            control.tap(key)

    await asyncio.to_thread(tap)


async def test_the_matrix_pad_shows_where_its_key_sits_only_in_the_test(
    matrix: tuple[Any, Path],
) -> None:
    services, sock = matrix
    pad = services._pin_pad
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        # Home: no prompt, no test; the pad's key goes nowhere.
        assert not pad.prompt_active
        assert not pad.key_test_active
        dropped = pad._dispatcher.dropped
        await _tap(sock, "5")
        await wait_for(pilot, lambda: pad._dispatcher.dropped > dropped)
        assert "押されたキー" not in screen_text(app)

        await pilot.press("d")
        await wait_for(pilot, lambda: pad.key_test_active)
        await _tap(sock, "7")
        await wait_for(pilot, lambda: "7（3 行 1 列）" in screen_text(app))
        assert app.screen.query_one("#key-3-1").has_class("lit")
        await _tap(sock, "#")
        await wait_for(pilot, lambda: "#（4 行 3 列）" in screen_text(app))

        # Back home: the test closes with the screen, keys are dropped again.
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "home" and not pad.key_test_active)
        dropped = pad._dispatcher.dropped
        await _tap(sock, "9")
        await wait_for(pilot, lambda: pad._dispatcher.dropped > dropped)
        assert "押されたキー" not in screen_text(app)


def test_the_test_never_listens_during_a_pin_prompt(matrix: tuple[Any, Path]) -> None:
    services, sock = matrix
    pad = services._pin_pad
    pad.set_prompt_active(True)  # a PIN prompt is up
    with PadControl(sock) as control:
        control.tap("3")  # the prompt has the pad: the test hears nothing
    assert services.wait_keypad_key(0.1) is None
    assert not pad.key_test_active
    pad.set_prompt_active(False)


async def test_the_keyboard_pad_test_comes_from_the_terminal(services: Any) -> None:
    pad = services._pin_pad
    assert services.wait_keypad_key(0.01) is None  # the keyboard has no pad to listen to
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("d")
        await pilot.press("7")
        assert "7（3 行 1 列）" in screen_text(app)
        assert not pad.prompt_active
        assert pad.feed("7") is False  # the keyboard pad itself still takes nothing
