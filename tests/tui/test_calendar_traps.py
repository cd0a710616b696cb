"""The clerk's screens at the instants where a date or a time looks like the PIN (issue 18).

The real composition on the injected clock (``StepClock``, the one every UI test uses)
set to 2026-12-12 12:34 and 2026-12-31 23:59 in Tokyo: the home screen's last send, the
PIN prompt, the outcome, the today screen and the history all show those times, and the
shared PIN scan (``tests/pin_scan.py``) passes every frame while the old scan (any two
of the PIN's digits) trips on them. The demo in tmux runs at the same instants under
libfaketime (``test_tmux_e2e.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.calendar_runs import CALENDAR_TRAPS, JST
from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing, old_rule_trips
from tui.app import CounterApp
from tui.screens.pin_prompt import mask_rows

from .conftest import StepClock, make_services
from .helpers import answer_until, screen_text, sign_in, wait_for

SIZE = (80, 24)
PIN = "1234"  # the virtual card's 住基 PIN (docs/virtual-card.md)


@pytest.fixture(params=list(CALENDAR_TRAPS.values()), ids=list(CALENDAR_TRAPS))
def at(request: pytest.FixtureRequest) -> datetime:
    instant: datetime = request.param
    return instant


@pytest.fixture
def trap_clock(at: datetime) -> StepClock:
    clock = StepClock()
    clock.start = at.astimezone(UTC)
    return clock


@pytest.fixture
def trap_services(tmp_path: Path, trap_clock: StepClock, sim_pki: Path) -> Iterator[Any]:
    svc = make_services(tmp_path / "state", clock=trap_clock, pki_dir=sim_pki)
    yield svc
    svc.close()


async def test_every_screen_with_a_time_at_the_calendar_traps(
    trap_services: Any, trap_clock: StepClock, at: datetime
) -> None:
    services, clock = trap_services, trap_clock
    day = f"{at.month}月{at.day}日"
    hhmm = at.strftime("%H:%M")
    app = CounterApp(services=services)
    frames: list[tuple[int, str]] = []
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        # What the uploader writes after reaching the server, on this clock.
        services.store.set_uploader_status(
            last_attempt=clock.now().isoformat(), last_success=clock.now().isoformat(),
            server_reachable=True,
        )
        await wait_for(pilot, lambda: f"{day} {hhmm}" in screen_text(app))
        home = screen_text(app)

        await answer_until(pilot, "card.pin_result")
        await pilot.pause(0.1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
        frames.append((0, screen_text(app)))
        for typed, digit in enumerate(PIN, start=1):
            await pilot.press(digit)
            await wait_for(pilot, lambda n=typed: mask_rows(n, 4)[1] in screen_text(app))  # type: ignore[misc]
            frames.append((typed, screen_text(app)))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        outcome = screen_text(app)
        assert "手続を継続" in outcome
        await pilot.press("enter")  # 記録して終了
        await wait_for(pilot, lambda: app.screen.id == "home")

        await pilot.press("t")
        await wait_for(pilot, lambda: f"{hhmm}  第2-1-(1)" in screen_text(app))
        today = screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "home")
        await pilot.press("h")
        await wait_for(pilot, lambda: f"{at.year}年{day}  {hhmm}" in screen_text(app))
        history = screen_text(app)

    [(payload,)] = services.store.db.execute("SELECT payload FROM transactions").fetchall()
    assert f'"completed_at": "{clock.now().isoformat()}"' in payload  # the injected instant
    assert datetime.fromisoformat(clock.now().isoformat()).astimezone(JST) == at
    assert_no_pin_while_typing(PIN, frames)
    assert_no_pin(PIN, [home, outcome, today, history, payload])
    # ... where the old scan would have failed the run.
    for screen in (home, today, history):
        assert old_rule_trips(PIN, screen), screen
