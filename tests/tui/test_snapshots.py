"""Snapshots of every screen at 80x24 and at 100x30 (the 7-inch panel), in Japanese.

The SVGs are committed under ``__snapshots__``; regenerate them deliberately with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tui.app import CounterApp

from .conftest import StepClock, make_services
from .helpers import card_settled, sign_in, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((100, 30), id="100x30")]
PROCEDURES = (
    ("2-1-1", "電子証明書の新規発行／更新（本人）"),
    ("2-1-2", "電子証明書の新規発行／更新（代理人）"),
    ("4-3", "電子証明書の一時的保留解除等（紛失カードの発見）"),
)


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


@pytest.mark.parametrize("size", SIZES)
def test_login(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    assert snap_compare(CounterApp(services=snap_services), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_home(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    assert snap_compare(CounterApp(services=snap_services), terminal_size=size, run_before=_home)


@pytest.mark.parametrize("size", SIZES)
def test_procedures(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _home(pilot)
        await pilot.press("p")
        await pilot.pause()

    assert snap_compare(
        CounterApp(services=snap_services), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES)
def test_diagnostics(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _home(pilot)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("5")
        await pilot.pause()

    assert snap_compare(
        CounterApp(services=snap_services), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES)
def test_demo_menu(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _home(pilot)
        await pilot.press("m")
        await pilot.pause()

    assert snap_compare(
        CounterApp(services=snap_services), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES)
def test_home_card_absent_in_english(
    snap_compare: Any, snap_services: Any, size: tuple[int, int]
) -> None:
    snap_services.reader.remove()
    assert snap_compare(
        CounterApp(services=snap_services, language="en"), terminal_size=size, run_before=_home
    )


@pytest.mark.parametrize("size", SIZES)
def test_pin_prompt(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        await _home(pilot)
        await pilot.press("v")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        await pilot.press("5", "5")  # two masks; the digits never show
        await wait_for(pilot, lambda: getattr(app.screen, "length", 0) == 2)

    assert snap_compare(
        CounterApp(services=snap_services), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES)
def test_last_try(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    for _ in range(2):  # two wrong PINs through the real card path leave one try
        snap_services.verify_pin("juki", bytearray(b"9999"), confirm_last_try=False)

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        await _home(pilot)
        await pilot.press("v")
        await wait_for(pilot, lambda: app.screen.id == "last-try")

    assert snap_compare(
        CounterApp(services=snap_services), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES)
def test_checklist(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        await _home(pilot)
        await pilot.press("p")
        await pilot.press("enter")  # 2-1-1
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await pilot.press("enter")  # 申請書等を受理した
        await wait_for(pilot, lambda: bool(app.screen.query("#step-choice-2")))
        await pilot.pause(0.1)

    assert snap_compare(
        CounterApp(services=snap_services), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES)
def test_outcome(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        await _home(pilot)
        await pilot.press("p")
        await pilot.press("enter")  # 2-1-1
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        await pilot.press("down", "enter")  # 申請書等を受理していない: 受付不可
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        await pilot.pause(0.1)

    assert snap_compare(
        CounterApp(services=snap_services), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES)
def test_actor(snap_compare: Any, snap_services: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        await _home(pilot)
        await pilot.press("p", "down", "enter")  # 2-1-2: 代理人 or 法定代理人
        await wait_for(pilot, lambda: app.screen.id == "actor")

    assert snap_compare(
        CounterApp(services=snap_services), terminal_size=size, run_before=run_before
    )
