"""The 券面AP's images: name and address as 1-bit PNGs, a synthetic greyscale JPEG 2000 portrait.

A real card renders the name, address, security code and number as 1-bit PNGs and stores
the photograph as greyscale JPEG 2000 (reference §5). The virtual card draws them with
Pillow: the text in Noto Sans CJK JP (``fonts-noto-cjk``, which ``scripts/demo`` and
``scripts/test`` install) and a portrait *generated* from a seed — ellipses and noise,
never a real person's photo — encoded by Pillow's OpenJPEG codec. The same seed gives
the same bytes, so a card's DF28 signature is stable across runs.

Image sizes are an **ASSUMPTION** (no public source gives them; ``docs/virtual-card.md``).
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import random
import struct
from collections.abc import Callable
from pathlib import Path

from PIL import (
    Image,
    ImageDraw,
    ImageFilter,
    ImageFont,
    Jpeg2KImagePlugin,  # noqa: F401 - registers JP2, so Pillow does not import every plugin
)

log = logging.getLogger(__name__)

#: Where Debian's fonts-noto-cjk puts the Japanese-capable faces (Sans first).
NOTO_CJK_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
)
#: Sizes of the rendered images (ASSUMPTION): name, address, security code, My Number.
NAME_SIZE = (256, 32)
ADDRESS_SIZE = (512, 64)
SECURITY_CODE_SIZE = (24, 12)
NUMBER_SIZE = (72, 12)
#: The portrait: 4:5 like the printed photo, greyscale (ASSUMPTION on the pixel size).
PHOTO_SIZE = (192, 240)
#: JPEG 2000 compression ratio of the portrait: about 3 KB, near the old placeholder.
PHOTO_RATE = 15

FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont
#: Bumped whenever the drawing changes, so that cached renderings are not reused.
RENDER_VERSION = "1"


def _font_identity() -> str:
    """Which font a rendering used, without loading it (file and size, or the built-in)."""
    for path in NOTO_CJK_FILES:
        if path.is_file():
            return f"{path}:{path.stat().st_size}"
    return "pillow-builtin"


def rendered(cache: Path | None, kind: str, inputs: str, render: Callable[[], bytes]) -> bytes:
    """``render()``, kept in ``cache/card-face`` (the sim PKI directory) by its inputs.

    Drawing and encoding the card face costs about 0.1 s per process start; the demo
    starts often. The file name is a digest of the inputs, the font and
    :data:`RENDER_VERSION`, so a change of any of them renders anew.
    """
    if cache is None:
        return render()
    key = hashlib.sha256(
        "\0".join((RENDER_VERSION, kind, inputs, _font_identity())).encode()).hexdigest()[:32]
    path = cache / "card-face" / f"{kind}-{key}.bin"
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = render()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a concurrent start reads a whole file or none
    except OSError as exc:
        log.warning("could not cache the virtual card's %s image: %s", kind, exc)
    return data


@functools.cache
def _cjk_font_file() -> tuple[Path, int] | None:
    """The Noto CJK file and the index of its JP face, or None when not installed."""
    for path in NOTO_CJK_FILES:
        if not path.is_file():
            continue
        for index in range(10):
            try:
                face = ImageFont.truetype(str(path), 12, index=index)
            except OSError:
                break
            family, _style = face.getname()
            if family is not None and family.endswith(" JP"):
                return path, index
        return path, 0
    log.warning("fonts-noto-cjk is not installed: the virtual card's name and address "
                "images are drawn with Pillow's built-in font (kanji show as boxes)")
    return None


@functools.cache
def cjk_font(size: int) -> FontType:
    """Noto Sans CJK JP at ``size`` px, or Pillow's built-in font when it is missing."""
    found = _cjk_font_file()
    if found is None:
        return ImageFont.load_default(size)
    path, index = found
    return ImageFont.truetype(str(path), size, index=index)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _wrap(text: str, font: FontType, width: int) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` (Japanese breaks anywhere)."""
    lines: list[str] = []
    line = ""
    for char in text:
        if line and font.getlength(line + char) > width:
            lines.append(line)
            line = char
        else:
            line += char
    return [*lines, line] if line else lines


def text_png(text: str, size: tuple[int, int], *, lines: int = 1) -> bytes:
    """``text`` in black on white as a 1-bit PNG of ``size``, in up to ``lines`` lines.

    The font shrinks until the text fits; what still does not fit is cut, as a
    printed card face would abbreviate it.
    """
    width, height = size
    image = Image.new("1", size, 1)
    draw = ImageDraw.Draw(image)
    font_px = max(8, int(height / lines * 0.8))
    while True:
        font = cjk_font(font_px)
        wrapped = _wrap(text, font, width - 4)
        if len(wrapped) <= lines or font_px <= 8:
            break
        font_px -= 1
    line_height = height // lines
    for row, line in enumerate(wrapped[:lines]):
        draw.text((2, row * line_height + line_height // 2), line, font=font, fill=0,
                  anchor="lm")
    return _png(image)


def blank_png(width: int, height: int) -> bytes:
    """A white 1-bit PNG of the given size (the My Number image, never rendered here)."""
    return _png(Image.new("1", (width, height), 1))


def portrait(seed: str) -> Image.Image:
    """A synthetic greyscale head-and-shoulders picture, the same for the same seed.

    Drawn from ellipses, a gradient and noise: it is meant to look like an ID photo
    from a distance and to be nobody.
    """
    rng = random.Random(seed)
    width, height = PHOTO_SIZE
    background = Image.linear_gradient("L").resize(PHOTO_SIZE).point(
        lambda v: 150 + v * 70 // 255)
    draw = ImageDraw.Draw(background)
    skin = rng.randint(150, 205)
    hair = rng.randint(20, 80)
    cloth = rng.randint(40, 110)
    cx = width // 2 + rng.randint(-8, 8)
    head_w, head_h = rng.randint(70, 86), rng.randint(92, 108)
    top = rng.randint(38, 52)
    # Shoulders and neck first, the head over them.
    draw.ellipse((cx - 100, top + head_h + 20, cx + 100, height + 120), fill=cloth)
    draw.rectangle((cx - 16, top + head_h - 20, cx + 16, top + head_h + 36), fill=skin - 15)
    draw.ellipse((cx - head_w // 2 - 6, top - 10, cx + head_w // 2 + 6, top + head_h // 2 + 16),
                 fill=hair)
    draw.ellipse((cx - head_w // 2, top, cx + head_w // 2, top + head_h), fill=skin)
    fringe = rng.randint(14, 30)
    draw.chord((cx - head_w // 2, top - 4, cx + head_w // 2, top + 2 * fringe + 8), 180, 360,
               fill=hair)
    eye_y = top + head_h * 45 // 100
    eye_dx = head_w // 5
    for side in (-1, 1):
        ex = cx + side * eye_dx
        draw.ellipse((ex - 7, eye_y - 3, ex + 7, eye_y + 3), fill=235)
        draw.ellipse((ex - 3, eye_y - 3, ex + 3, eye_y + 3), fill=30)
        draw.line((ex - 9, eye_y - 10, ex + 9, eye_y - 11), fill=hair, width=3)
    nose_y = top + head_h * 66 // 100
    draw.line((cx, eye_y + 6, cx - 3, nose_y), fill=skin - 45, width=2)
    mouth_y = top + head_h * 80 // 100
    mouth_w = rng.randint(12, 20)
    draw.arc((cx - mouth_w, mouth_y - 6, cx + mouth_w, mouth_y + 4), 20, 160,
             fill=skin - 70, width=2)
    # Seeded noise (Image.effect_noise is not reproducible): film grain, the same each time.
    noise = Image.frombytes("L", PHOTO_SIZE, rng.randbytes(width * height))
    picture = Image.blend(background, noise, 0.06).filter(ImageFilter.GaussianBlur(1.2))
    return picture.convert("L")


def portrait_jp2(seed: str) -> bytes:
    """:func:`portrait` as a greyscale JP2 file (irreversible wavelet, one quality layer)."""
    buffer = io.BytesIO()
    portrait(seed).save(buffer, "JPEG2000", irreversible=True, quality_mode="rates",
                        quality_layers=[PHOTO_RATE], no_jp2=False)
    return buffer.getvalue()


def undecodable_jp2(size: int = 3000, seed: bytes = b"madoguchi-sim photo") -> bytes:
    """JP2 signature box + ``ftyp`` box + ``size`` bytes of filler: JP2 by its magic, not
    decodable (the ``photo-undecodable`` defect; the virtual card's photo before issue 14)."""
    signature = bytes.fromhex("0000000c6a5020200d0a870a")
    ftyp = struct.pack(">I", 20) + b"ftyp" + b"jp2 " + b"\x00\x00\x00\x00" + b"jp2 "
    filler = bytearray()
    block = seed
    while len(filler) < size:
        block = hashlib.sha256(block).digest()
        filler += block
    return signature + ftyp + bytes(filler[:size])
