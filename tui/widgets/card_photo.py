"""The chip's face photo drawn in the terminal, the way the terminal says it can.

textual-image picks the drawing when it is imported, from what the terminal answers:
sixel where it reports sixel (foot, the kiosk terminal), the Terminal Graphics Protocol
where it reports that, coloured half blocks on any other terminal (tmux, ssh), plain
block characters when there is no terminal at all (tests). Nothing here guesses from a
name. The questions must be asked before the app takes the terminal's input, and their
answers (or time-outs: tmux answers no TGP query) take 0.1–0.3 s, so ``madoguchi demo``
and ``counter`` start :func:`probe_terminal` in a thread while the devices open and wait
for it before the app starts; anything else imports textual-image on first use.

The picture lives only in the widget and the screen's :class:`IdentityView`; the
screen calls :func:`wipe_picture` when it lets go of it (comparison recorded, Esc,
card removed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PIL import Image
from textual.widget import Widget

#: Makes the widget that draws a picture: ``make(picture, id=...)``.
WidgetMaker = Callable[..., Widget]


class _Terminal:
    """What the terminal said it can draw, asked once per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.probe: threading.Thread | None = None
        self.chosen: tuple[WidgetMaker, str] | None = None

    def load(self) -> tuple[WidgetMaker, str]:
        """Import textual-image (which asks the terminal) once; its widget and method."""
        with self.lock:
            if self.chosen is None:
                # The cell-size probe logs a warning when a terminal (tmux) does not answer
                # it; before the app starts that would land on the clerk's screen, and the
                # fallback it then uses is fine.
                logging.getLogger("textual_image").setLevel(logging.ERROR)
                from textual_image.renderable import Image as renderable
                from textual_image.widget import Image as widget

                self.chosen = (widget, renderable.__module__.rsplit(".", 1)[-1])
            return self.chosen

    def answered(self) -> tuple[WidgetMaker, str]:
        if self.probe is not None:
            self.probe.join()
        return self.load()


_TERMINAL = _Terminal()


def probe_terminal() -> threading.Thread:
    """Start asking the terminal in a thread; join it before the app reads the terminal."""
    if _TERMINAL.probe is None:
        _TERMINAL.probe = threading.Thread(target=_TERMINAL.load, name="terminal-image-probe",
                                           daemon=True)
        _TERMINAL.probe.start()
    return _TERMINAL.probe


def terminal_image_class() -> WidgetMaker:
    """The textual-image widget class the terminal's answers chose."""
    return _TERMINAL.answered()[0]


def drawing() -> str:
    """How the photo is drawn here: ``sixel``, ``tgp``, ``halfcell`` or ``unicode``."""
    return _TERMINAL.answered()[1]


def photo_widget(picture: Image.Image, *, widget_id: str) -> Widget:
    """A widget drawing ``picture`` with the terminal's best method, sized by its CSS."""
    return terminal_image_class()(picture, id=widget_id)


def wipe_picture(picture: Image.Image | None) -> None:
    """Overwrite the decoded pixels and release them (the photo is personal data)."""
    if picture is None:
        return
    try:
        picture.paste(0, (0, 0, picture.width, picture.height))
    except ValueError:  # already closed
        return
    picture.close()
