"""Decode the card face's images: the photo (greyscale JPEG 2000) and the name and address PNGs.

Decoding uses Pillow (its JPEG 2000 codec is OpenJPEG); nothing here is a hand-written
codec. The bytes come from a card, so each image is opened only as the format the
card face defines (reference §5), under a pixel budget, and a file that does not
decode is reported as that piece being unreadable — the text beside it is still shown
(issue 14: piece by piece). Decoded pictures live in memory only, in the object
returned, for as long as its holder keeps it; ``repr`` shows sizes only.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

from PIL import (
    Image,
    Jpeg2KImagePlugin,  # noqa: F401 - registers JP2, so Pillow does not import every plugin
    PngImagePlugin,  # noqa: F401
)

from device.card.data import CardFace

#: Pieces of the card face decoded here, with the one format each may be.
FORMATS = {"photo": "JPEG2000", "name_image": "PNG", "address_image": "PNG"}
#: No card-face image comes near this many pixels; more is refused before decoding.
MAX_PIXELS = 1_000_000


@dataclass(frozen=True)
class DecodedFace:
    """The card face's pictures, decoded; a piece that would not decode is in ``problems``."""

    photo: Image.Image | None = field(default=None, repr=False)
    name_image: Image.Image | None = field(default=None, repr=False)
    address_image: Image.Image | None = field(default=None, repr=False)
    #: piece -> why it could not be decoded (absent pieces are not listed: see CardFace.missing).
    problems: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        sizes = {name: image.size for name in FORMATS
                 if (image := getattr(self, name)) is not None}
        return f"DecodedFace({sizes}, problems={sorted(self.problems)})"


def decode_image(data: bytes, image_format: str) -> Image.Image:
    """Decode ``data`` as ``image_format`` only; raise ``ValueError`` when it does not decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[image_format])
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"{width}x{height} pixels is more than a card face holds")
            image.load()
    except (OSError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise ValueError(f"not a decodable {image_format} image ({exc})") from None
    return image


def decode_card_face(face: CardFace) -> DecodedFace:
    """Decode the photo and the name and address images that the card face holds."""
    decoded: dict[str, Image.Image | None] = {}
    problems: dict[str, str] = {}
    for piece, image_format in FORMATS.items():
        data: bytes | None = getattr(face, piece)
        if data is None:
            decoded[piece] = None
            continue
        try:
            decoded[piece] = decode_image(data, image_format)
        except ValueError as exc:
            decoded[piece] = None
            problems[piece] = str(exc)
    photo = decoded["photo"]
    if photo is not None and photo.mode not in ("L", "1", "I;16"):
        # The card's photo is greyscale; a colour picture is not what the issuer writes.
        problems["photo"] = f"not greyscale (mode {photo.mode})"
        photo = None
    return DecodedFace(photo=photo, name_image=decoded["name_image"],
                       address_image=decoded["address_image"], problems=problems)
