"""Snapshots of every screen at 80x24 and at 100x30 (the 7-inch panel), in Japanese.

The SVGs are committed under ``__snapshots__``; regenerate them deliberately with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and review the diff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tui.app import CounterApp

from .conftest import StepClock, make_services
from .helpers import card_settled, sign_in, wait_for
from .test_history import store_history

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((100, 30), id="100x30")]
PROCEDURES = (
    ("2-1-1", "電子証明書の新規発行／更新（本人）"),
    ("2-1-2", "電子証明書の新規発行／更新（代理人）"),
    ("4-3", "電子証明書の一時的保留解除等（紛失カードの発見）"),
)
RunBefore = Callable[[Pilot[None]], Awaitable[None]]


@pytest.fixture
def snap_services(tmp_path: Path, sim_pki: Path) -> Any:
    svc = make_services(tmp_path, clock=StepClock(), pki_dir=sim_pki, procedures=PROCEDURES)
    yield svc
    svc.close()


async def _home(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, CounterApp)
    await sign_in(pilot)
    await card_settled(pilot)
    await wait_for(pilot, lambda: bool(app.health))
    await pilot.pause(0.1)


def _then(*keys: str, screen: str, ready: Callable[[Any], bool] | None = None) -> RunBefore:
    """From the home screen press ``keys``, then wait for ``screen`` (and ``ready``)."""

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        await _home(pilot)
        await pilot.press(*keys)
        await wait_for(pilot, lambda: app.screen.id == screen)
        if ready is not None:
            await wait_for(pilot, lambda: ready(app))
        await pilot.pause(0.1)

    return run_before


def _snap(snap_compare: Any, app: CounterApp, size: tuple[int, int], run: RunBefore | None) -> bool:
    result: bool = snap_compare(app, terminal_size=size, run_before=run)
    return result


@pytest.mark.parametrize("size", SIZES)
def test_login(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    assert _snap(snap_compare, CounterApp(services=snap_services), size, None)


@pytest.mark.parametrize("size", SIZES)
def test_home(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    assert _snap(snap_compare, CounterApp(services=snap_services), size, _home)


@pytest.mark.parametrize("size", SIZES)
def test_procedures(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    run = _then("p", screen="procedures")
    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)


@pytest.mark.parametrize("size", SIZES)
def test_diagnostics(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    run = _then("d", "5", screen="diagnostics",
                ready=lambda app: app.screen.last_key == "5")
    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)


@pytest.mark.parametrize("size", SIZES)
def test_demo_menu(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    run = _then("m", screen="demo-menu")
    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)


@pytest.mark.parametrize("size", SIZES)
def test_home_card_absent_in_english(
    snap_compare: Any, snap_services: Any, size: tuple[int, int]
) -> None:
    snap_services.reader.remove()
    app = CounterApp(services=snap_services, language="en")
    assert _snap(snap_compare, app, size, _home)


@pytest.mark.parametrize("size", SIZES)
def test_pin_prompt(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    # Two masks; the digits never show.
    run = _then("v", screen="pin-prompt")

    async def with_two_keys(pilot: Pilot[None]) -> None:
        await run(pilot)
        await pilot.press("5", "5")
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "length", 0) == 2)

    assert _snap(snap_compare, CounterApp(services=snap_services), size, with_two_keys)


@pytest.mark.parametrize("size", SIZES)
def test_last_try(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    for _ in range(2):  # two wrong PINs through the real card path leave one try
        snap_services.verify_pin("juki", bytearray(b"9999"), confirm_last_try=False)
    run = _then("v", screen="last-try")
    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)


@pytest.mark.parametrize("size", SIZES)
def test_checklist(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    # 2-1-1, then 申請書等を受理した: the second step is on screen.
    run = _then("p", "enter", "enter", screen="checklist",
                ready=lambda app: getattr(app.screen, "_shown", 0) == 2)
    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)


@pytest.mark.parametrize("size", SIZES)
def test_outcome(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    # 2-1-1, 申請書等を受理していない: 受付不可.
    run = _then("p", "enter", "down", "enter", screen="outcome")
    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)


@pytest.mark.parametrize("size", SIZES)
def test_actor(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    # 2-1-2: 代理人 or 法定代理人.
    run = _then("p", "down", "enter", screen="actor")
    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)


@pytest.mark.parametrize("size", SIZES)
def test_today_empty(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    run = _then("t", screen="today", ready=lambda app: app.screen.records is not None)
    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)


@pytest.mark.parametrize("size", SIZES)
def test_history(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    store_history(snap_services, 15)  # two pages over six days, every outbox state
    run = _then("h", screen="history", ready=lambda app: app.screen.page is not None)
    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)


@pytest.mark.parametrize("size", SIZES)
def test_abandon(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    # 2-1-1, 申請書等を受理した, then Esc: 中止 asked, with the step and the six reasons.
    run = _then("p", "enter", "enter", "escape", screen="abandon")
    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)


@pytest.mark.parametrize("size", SIZES)
def test_pin_retry(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    # 2-1-1 with the card to the PIN step, a wrong PIN: 再入力 / 照合番号B / 中止.
    async def run(pilot: Pilot[None]) -> None:
        from .helpers import answer_until, step_ready

        app = pilot.app
        await _home(pilot)
        await answer_until(pilot, "card.pin_result")
        await wait_for(pilot, lambda: step_ready(app))  # type: ignore[arg-type]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        await pilot.press(*"9876", "enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-retry")
        await pilot.pause(0.1)

    assert _snap(snap_compare, CounterApp(services=snap_services), size, run)
