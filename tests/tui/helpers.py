"""Pilot helpers: wait for state that worker threads deliver, sign in, read the screen."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

from madoguchi.commands.demo import DEMO_OPERATOR_ID, DEMO_PASSWORD
from tui.app import CounterApp


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10.0
) -> None:
    """Pause until ``condition()`` holds (worker results arrive as messages).

    The timeout only stops a hung test; how fast things show is measured by
    ``madoguchi bench tui``, never asserted here.
    """
    waited = 0.0
    while not condition():
        if waited >= timeout:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)
        waited += 0.05
    await pilot.pause()  # let the screen render what the condition saw


async def sign_in(
    pilot: Pilot[None], operator_id: str = DEMO_OPERATOR_ID, password: str = DEMO_PASSWORD
) -> None:
    """Type the credentials on the login screen and wait for the home screen."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    await pilot.press(*operator_id, "enter", *password, "enter")
    await wait_for(pilot, lambda: app.screen.id == "home")


async def card_settled(pilot: Pilot[None]) -> None:
    """Wait until the reader state is known and any card read has finished."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    await wait_for(
        pilot,
        lambda: app.reader_state.reader != ""
        and not app.card_reading
        and (app.reader_state.presence.value != "present" or app.card_status is not None),
    )
    await pilot.pause(0.05)


def screen_text(app: CounterApp) -> str:
    """Everything the screen shows now, as plain text (what a camera would see)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
