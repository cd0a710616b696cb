"""A selection list whose Space ticks the item highlighted when Space was pressed."""

from __future__ import annotations

from textual.widgets import SelectionList


class TickList(SelectionList[str]):
    """:class:`~textual.widgets.SelectionList` that toggles at once, on the key itself.

    Textual's list posts a message on Space and toggles whatever is highlighted
    when that message is handled. Bindings run as the app takes each key, so in a
    fast burst (Space, Down, Space, ...) every Down moves the highlight before
    the earlier Spaces are handled: the ticks pile onto the last item and the
    clerk's answer changes. Here Space toggles the highlighted item right away.
    """

    def action_select(self) -> None:
        """Toggle the highlighted item now (Space, or a click, which selects through here)."""
        if self.highlighted is not None:
            self.toggle(self.get_option_at_index(self.highlighted))
