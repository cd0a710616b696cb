"""TickList (the checklist's and the fallback's selection lists) under a burst of keys."""

from __future__ import annotations

from textual import events
from textual.app import App, ComposeResult

from tui.widgets.tick_list import TickList

ITEMS = ("name", "address", "birth_date", "sex", "expiry")


class _OneList(App[None]):
    def compose(self) -> ComposeResult:
        yield TickList(*((item, item) for item in ITEMS))


async def test_space_ticks_the_item_highlighted_when_it_was_pressed() -> None:
    app = _OneList()
    async with app.run_test() as pilot:
        ticks = app.query_one(TickList)
        ticks.focus()
        await pilot.pause()
        ticks.highlighted = 0
        driver = app._driver
        assert driver is not None
        # Space on the 1st, 3rd, 4th and 5th item; nothing awaited between the keys.
        for key in ("space", "down", "down", "space", "down", "space", "up", "down",
                    "down", "space"):
            event = events.Key(key, " " if key == "space" else None)
            event.set_sender(app)
            driver.send_message(event)
        await pilot.pause()
        assert set(ticks.selected) == {"name", "birth_date", "sex", "expiry"}
