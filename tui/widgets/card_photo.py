"""The chip's face photo drawn in the terminal, the way the terminal says it can.

textual-image picks the drawing when this module is imported — before the app takes
the terminal — from what the terminal answers: sixel where it reports sixel (foot, the
kiosk terminal), the Terminal Graphics Protocol where it reports that, coloured half
blocks on any other terminal (tmux, ssh), plain block characters when there is no
terminal at all (tests). Nothing here guesses from a name.

The picture lives only in the widget and the screen's :class:`IdentityView`; the
screen calls :func:`wipe_picture` when it lets go of it (comparison recorded, Esc,
card removed).
"""

from __future__ import annotations

import logging

from PIL import Image
from textual.widget import Widget

# The cell-size probe logs a warning when a terminal (tmux) does not answer it; before
# the app starts that would land on the clerk's screen. The fallback it uses is fine.
logging.getLogger("textual_image").setLevel(logging.ERROR)

from textual_image.renderable import Image as chosen_renderable  # noqa: E402 - log level first
from textual_image.widget import Image as TerminalImage  # noqa: E402

#: How the terminal's answers say to draw: ``sixel``, ``tgp``, ``halfcell`` or ``unicode``.
DRAWING = chosen_renderable.__module__.rsplit(".", 1)[-1]


__all__ = ["DRAWING", "TerminalImage", "photo_widget", "wipe_picture"]


def photo_widget(picture: Image.Image, *, widget_id: str) -> Widget:
    """A widget drawing ``picture`` with the terminal's best method, sized by its CSS."""
    widget: Widget = TerminalImage(picture, id=widget_id)  # the class the terminal chose
    return widget


def wipe_picture(picture: Image.Image | None) -> None:
    """Overwrite the decoded pixels and release them (the photo is personal data)."""
    if picture is None:
        return
    try:
        picture.paste(0, (0, 0, picture.width, picture.height))
    except ValueError:  # already closed
        return
    picture.close()
