"""Demo menu: put a virtual card of another profile on the reader (demo only)."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.screens.base import CounterScreen
from tui.widgets.bars import KeyHelp, TitleBar


def profile_label(t: Any, profile: str) -> str:
    """A virtual-card profile as the clerk reads it (the catalogue's label, else its name)."""
    key = f"demo.profiles.{profile}"
    return str(t(key)) if t.has(key) else profile


class DemoMenuScreen(CounterScreen[None]):
    """The virtual-card profiles; Enter switches the card on the reader."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__(id="demo-menu")

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t("demo.title"), self.title_right(), demo_badge=t("app.demo_badge"))
        with Vertical(id="demo-box", classes="panel"):
            yield Static(t("demo.lead"))
            yield OptionList(
                *(Option(profile_label(t, name), id=name)
                  for name in self.counter.services.demo_profiles),
                id="profile-list",
            )
            yield Static("", id="demo-message", markup=False)
        yield KeyHelp(t("keys.sub"))

    @on(OptionList.OptionSelected, "#profile-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        profile = event.option.id or ""
        self.query_one("#demo-message", Static).update(self.t("demo.switching"))
        self.counter.switch_profile(profile)
