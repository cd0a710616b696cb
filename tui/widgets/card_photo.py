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
import re
import threading
from collections.abc import Callable
from typing import Any

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

                _define_colours_first()
                self.chosen = (widget, renderable.__module__.rsplit(".", 1)[-1])
            return self.chosen

    def answered(self) -> tuple[WidgetMaker, str]:
        if self.probe is not None:
            self.probe.join()
        return self.load()


_TERMINAL = _Terminal()

#: A colour register's definition in sixel data (``#N;2;R;G;B``: RGB in percent).
_DEFINITION = re.compile(r"#(\d+);2;\d+;\d+;\d+")
_DEFINITIONS = re.compile(r"(?:#\d+;2;\d+;\d+;\d+)*")
#: Raster attributes right after the sixel introducer (``"Pan;Pad;Ph;Pv``).
_RASTER = re.compile(r'"\d+;\d+;\d+;\d+')


def registers_first(sixel: str) -> str:
    """``sixel`` with every colour register defined before the first pixel.

    textual-image defines each register where a colour is first used. foot 1.13 (the
    kiosk's terminal, Debian 12) paints pixels drawn in a band with a register defined
    in that band in the wrong colour (reproduced in foot alone: a white box's first six
    rows came out black; with the definitions first they are right). Each register is
    defined once, so moving the definitions to the front and leaving their selections
    in place draws the same picture on any terminal.
    """
    start = sixel.find("q")  # the end of the introducer ESC P 0;0;0 q
    if start < 0:
        return sixel
    raster = _RASTER.match(sixel, start + 1)
    body = raster.end() if raster else start + 1
    leading = _DEFINITIONS.match(sixel, body)
    if not _DEFINITION.search(sixel, leading.end() if leading else body):
        return sixel  # every definition is in front already
    definitions = "".join(match.group(0) for match in _DEFINITION.finditer(sixel, body))
    return sixel[:body] + definitions + _DEFINITION.sub(r"#\1", sixel[body:])


def _define_colours_first() -> None:
    """Make textual-image's sixel widget emit :func:`registers_first` data (once)."""
    from textual_image.widget import sixel as sixel_widget

    encode = vars(sixel_widget)["image_to_sixels"]  # the name the widget calls
    if getattr(encode, "registers_first", False):
        return

    def encoded(*args: Any, **kwargs: Any) -> str:
        return registers_first(encode(*args, **kwargs))

    encoded.registers_first = True  # type: ignore[attr-defined]
    setattr(sixel_widget, "image_to_sixels", encoded)  # noqa: B010


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
