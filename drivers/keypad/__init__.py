"""The applicant's PIN pad: a GPIO matrix keypad or the keyboard standing in for one.

Both backends emit :class:`~drivers.keypad.events.KeyEvent` objects (key labels,
never PINs) to listeners, and only while a PIN prompt is active. Heavy imports
(gpiozero) happen only when the GPIO backend is opened.
"""

from __future__ import annotations

from drivers.keypad.events import KeyDispatcher, KeyEvent, KeyListener, KeySource
from drivers.keypad.layouts import LAYOUTS, resolve_keymap

__all__ = [
    "LAYOUTS",
    "KeyDispatcher",
    "KeyEvent",
    "KeyListener",
    "KeySource",
    "resolve_keymap",
]
