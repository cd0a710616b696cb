"""What every counter screen shares: the title bar, the key-help line, the strings."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input

from tui.i18n import Strings
from tui.local_time import date_time

if TYPE_CHECKING:
    from tui.app import CounterApp


ResultT = TypeVar("ResultT")
#: How long a language switch waits for the fields to take the keys typed before it.
INPUTS_SETTLE_S = 1.0


class CounterScreen(Screen[ResultT], Generic[ResultT]):
    """A screen of :class:`~tui.app.CounterApp`; composes from the app's current strings.

    Switching the language recomposes the screens on the stack (by default: a screen
    may override :meth:`recompose` to relabel in place, as the fallback screen does
    so a burst of keys across F2 keeps its input), so ``compose`` must build
    everything from ``self.t`` and the app's state, never cache text.
    """

    @property
    def counter(self) -> CounterApp:
        """The app, typed."""
        return cast("CounterApp", self.app)

    @property
    def t(self) -> Strings:
        """The app's strings in the current language."""
        return self.counter.strings

    async def recompose(self) -> None:
        """Rebuild the widgets (language switch), then fill them again.

        What the clerk had typed into an input, and where the focus was, stay: without
        this a sign-in half typed was emptied, and the keys after F2 reached no field.
        """
        await self._inputs_settled()
        focused = self.focused.id if self.focused is not None else None
        typed = {field.id: field.value for field in self.query(Input) if field.id}
        await super().recompose()
        self.populate()
        for field in self.query(Input):
            if field.id in typed:
                field.value = typed[field.id]
        if focused is not None:
            # A widget gone from the new layout leaves populate's focus standing.
            with contextlib.suppress(NoMatches):
                self.set_focus(self.query_one(f"#{focused}"))

    async def _inputs_settled(self) -> None:
        """Until every input has handled the keys already handed to it.

        F2 is a priority binding, run as the app reads it; the keys of a burst before it
        may still wait in a field's queue, and would go with the field. A callback queued
        behind them says when they are in (at most a second: a field that is closing
        runs nothing).
        """
        waits = []
        for field in self.query(Input):
            done = asyncio.Event()
            if field.call_later(done.set):
                waits.append(done.wait())
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), INPUTS_SETTLE_S)

    def populate(self) -> None:
        """Fill freshly composed widgets from the app's state (after mount and recompose)."""

    def when(self, iso: str | None) -> str:
        """A stored UTC time as the clerk reads it, in the counter's time zone."""
        app = self.counter
        return date_time(self.t, iso, app.zone, now=app.services.clock.now())

    def card_removed(self) -> bool:
        """The card left the reader (or the reader went away); True if this screen left.

        A screen whose step needs the card abandons that step here, wipes what it
        held for it and tells the clerk; the app then asks the screen below, so
        every card-dependent screen on the stack reacts the same way.
        """
        return False

    def title_right(self) -> str:
        """The title bar's right-hand text: who is signed in."""
        session = self.counter.session
        return session.display_name if session is not None else ""
