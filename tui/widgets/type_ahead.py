"""The type-ahead guard: a key typed for something the clerk had not seen yet is dropped.

The rule the checklist found for a fast clerk: a key whose time stamp is older than
the moment the input it reaches was ready, or that arrives while the last answer is
still being handled, was meant for something else and must never be applied here.
After such a drop the next *answering* key (Enter) is dropped too, so the tail of a
lost burst cannot confirm what the clerk did not type. The checklist
(:meth:`~tui.screens.checklist.ChecklistScreen.admit`) and the sign-in screen use
this one class; the caller says when its input is ready and when it is busy, and the
``on_drop`` callback tells the clerk.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual._time import get_time


class TypeAheadGuard:
    """Admits or drops key events by when they were typed (see the module docstring).

    Args:
        on_drop: called after a key was dropped (the screen says so to the clerk).
    """

    def __init__(self, on_drop: Callable[[], None]) -> None:
        self._on_drop = on_drop
        # Until the first ready(), every key counts: keys typed while the first screen
        # was still being drawn were typed for it.
        self._ready_at = float("-inf")
        self._busy = False
        self.dropped = False
        """A key was dropped and the answering key that would follow it not yet."""

    def ready(self) -> None:
        """The input on screen is the clerk's from now on; older keys were not for it."""
        self._ready_at = get_time()
        self._busy = False

    def busy(self) -> None:
        """An answer is being handled: every key until :meth:`ready` is dropped."""
        self._busy = True

    def admit(self, event: events.Key, answer_keys: frozenset[str]) -> bool:
        """Whether ``event`` counts; a refused one must be stopped whole by the caller."""
        return self.admit_key(event.key, event.time, answer_keys)

    def admit_key(self, key: str, typed_at: float, answer_keys: frozenset[str]) -> bool:
        """:meth:`admit` for a key known by name and time (a binding's action)."""
        if self._busy or typed_at < self._ready_at:
            self.dropped = True
            self._on_drop()
            return False
        if key in answer_keys and self.dropped:
            self.dropped = False
            self._on_drop()
            return False
        return True


__all__ = ["TypeAheadGuard"]
