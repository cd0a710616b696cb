"""A selection list whose Space ticks the item highlighted when Space was pressed,
and whose Enter confirms the ticks (never un-ticks)."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import SelectionList


class TickList(SelectionList[str]):
    """:class:`~textual.widgets.SelectionList` that toggles at once, on the key itself.

    Textual's list posts a message on Space and toggles whatever is highlighted
    when that message is handled. Bindings run as the app takes each key, so in a
    fast burst (Space, Down, Space, ...) every Down moves the highlight before
    the earlier Spaces are handled: the ticks pile onto the last item and the
    clerk's answer changes. Here Space toggles the highlighted item right away.

    Enter does what the footer says (「決定 Enter」): it posts :class:`Confirmed`
    and leaves the ticks as they are; Textual's list would toggle on Enter too.
    """

    BINDINGS = [Binding("enter", "confirm", show=False)]  # noqa: RUF012

    class Confirmed(Message):
        """Enter on the list: the ticks are the answer."""

        def __init__(self, tick_list: TickList) -> None:
            super().__init__()
            self.tick_list = tick_list

        @property
        def control(self) -> TickList:
            """The list whose ticks were confirmed (for ``@on`` selectors)."""
            return self.tick_list

    def action_select(self) -> None:
        """Toggle the highlighted item now (Space, or a click, which selects through here)."""
        if self.highlighted is not None:
            self.toggle(self.get_option_at_index(self.highlighted))

    def action_confirm(self) -> None:
        """Enter: confirm the ticks as they stand."""
        self.post_message(self.Confirmed(self))
