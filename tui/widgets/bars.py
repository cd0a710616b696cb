"""The title bar and the key-help bar every screen shows."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static


class TitleBar(Horizontal):
    """The screen's title on the left, the operator and the demo badge on the right."""

    def __init__(self, title: str, right: str = "", *, demo_badge: str = "") -> None:
        super().__init__(id="title-bar")
        self._title = title
        self._right = right
        self._badge = demo_badge

    def compose(self) -> ComposeResult:
        yield Static(self._title, id="title-text")
        if self._badge:
            yield Static(self._badge, id="demo-badge")
        yield Static(self._right, id="title-right")

    def set_right(self, text: str) -> None:
        """Change the right-hand text (the operator and the idle countdown)."""
        self._right = text
        self.query_one("#title-right", Static).update(text)


class KeyHelp(Static):
    """One line listing the keys that work on this screen, in the UI language."""

    def __init__(self, text: str) -> None:
        super().__init__(text, id="key-help", markup=False)
