"""The fallback comparison under a fast typist: every key of a burst counts.

The keys are posted to the driver back to back (as a terminal delivers a fast
typist's keys in one read), the first of them right as the chip's data comes
on screen and again right after a language switch: the clerk's ticks, and so
the comparison recorded, are exactly what was typed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot

from tui.app import CounterApp

from .helpers import wait_for
from .test_fallback import SIZE, Frames, _facts, _to_fallback, face_auth  # noqa: F401

TICK_ALL = ("space", *(k for _ in range(4) for k in ("down", "space")))


def _burst(app: CounterApp, *keys: str) -> None:
    """Post ``keys`` to the driver in one go, no wait between them."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        event = events.Key(key, " " if key == "space" else key if len(key) == 1 else None)
        event.set_sender(app)
        driver.send_message(event)


async def _soon(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Yield to the loop only until ``condition`` holds (no frame waited for)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0)


async def _to_compare_with_burst(pilot: Pilot[None], app: CounterApp, *keys: str) -> Any:
    """Type 照合番号B, then send ``keys`` the moment the comparison phase begins."""
    await _to_fallback(pilot, Frames(pilot))
    screen = app.screen
    _burst(app, *_facts(app.services).verification_code_b, "enter")
    await _soon(lambda: getattr(screen, "phase", "") == "compare")
    _burst(app, *keys)
    return screen


@pytest.mark.parametrize(("keys", "match"), [
    (TICK_ALL, True),
    (TICK_ALL[:-1], False),  # the last item left unticked: a mismatch, as typed
])
async def test_a_burst_right_as_the_chip_shows_records_what_was_typed(
    face_auth: Any, keys: tuple[str, ...], match: bool  # noqa: F811
) -> None:
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _to_compare_with_burst(pilot, app, *keys, "tab", "enter")
        await wait_for(pilot, lambda: screen.phase == "declare" or app.screen is not screen)
        card = screen.session.recorded["applicant_id"]["card"]
        assert card["chip_face_match"] is match


async def test_a_burst_across_a_language_switch_keeps_every_tick(
    face_auth: Any,  # noqa: F811
) -> None:
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        # Two ticks, F2, then the other three and the record, all in one burst.
        screen = await _to_compare_with_burst(
            pilot, app, *TICK_ALL[:3], "f2", *TICK_ALL[3:], "tab", "enter")
        await wait_for(pilot, lambda: screen.phase == "declare")
        assert app.strings.language == "en"
        assert len(screen.query_one("#fallback-items").selected) == 5
        assert screen.session.recorded["applicant_id"]["card"]["chip_face_match"] is True
