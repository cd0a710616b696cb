"""Sixel data with every colour register defined before the first pixel (foot 1.13's bug).

textual-image defines each register where a colour is first used; foot 1.13 paints a
band's pixels of a register defined in that band in the wrong colour (docs/kiosk.md).
"""

from __future__ import annotations

import re

from PIL import Image, ImageDraw
from textual_image._sixel import image_to_sixels

from tui.widgets import card_photo
from tui.widgets.card_photo import registers_first

DEFINITION = re.compile(r"#(\d+);2;(\d+);(\d+);(\d+)")


def _picture() -> Image.Image:
    picture = Image.new("L", (160, 48), 255)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 79, 47), fill=0)
    draw.rectangle((100, 2, 150, 20), fill=80)
    return picture


def test_the_definitions_come_first_and_the_pixels_are_unchanged() -> None:
    original = image_to_sixels(_picture())
    assert re.search(r"[?-~]#\d+;2;", original)  # textual-image defines after pixels
    hoisted = registers_first(original)
    start = hoisted.index("q") + 1
    raster = re.match(r'"\d+;\d+;\d+;\d+', hoisted[start:])
    assert raster is not None
    body = hoisted[start + raster.end():]
    definitions = DEFINITION.findall(original)
    head = "".join(f"#{n};2;{r};{g};{b}" for n, r, g, b in definitions)
    assert body.startswith(head)  # every register, once, before any pixel
    assert not DEFINITION.search(body[len(head):])
    # Selections where the definitions were: the pixel data is the same.
    assert body[len(head):] == DEFINITION.sub(r"#\1", original[start + raster.end():])
    assert registers_first(hoisted) == hoisted  # idempotent
    assert registers_first("no sixel here") == "no sixel here"


def test_the_sixel_widget_is_given_the_hoisted_data() -> None:
    card_photo.terminal_image_class()  # loads textual-image (and wraps its encoder)
    from textual_image.widget import sixel as sixel_widget

    encode = vars(sixel_widget)["image_to_sixels"]
    assert getattr(encode, "registers_first", False)
    data = encode(_picture())
    assert data == registers_first(image_to_sixels(_picture()))
