"""The virtual card's real-looking face, and decoding it with Pillow (issue 14).

The name and address images are rendered from the profile's text in Noto Sans CJK JP as
1-bit PNGs, the photo is a generated greyscale portrait in JPEG 2000, all covered by the
issuer's DF28 signature; :func:`decode_card_face` opens each as its one format only.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from device.card.chip import TrustAnchors
from device.card.data import CardFace, Sex
from device.card.face_images import decode_card_face, decode_image
from device.card.reading import identity_check
from device.card.session import CardSession
from drivers.simcard import images
from drivers.transport.sim import SimReader

SimFactory = Callable[..., tuple[SimReader, CardSession]]


def _face(sim_session: SimFactory, anchors: TrustAnchors, profile: str = "standard",
          **options: str) -> tuple[CardFace, bool | None]:
    reader, session = sim_session(profile, **options)
    assert reader.card is not None
    report = identity_check(session, bytearray(reader.card.facts.verification_code_b.encode()),
                            anchors, basic4=False)
    assert report.card_face is not None
    return report.card_face, report.genuine


def test_the_font_is_noto_cjk_jp() -> None:
    family, _ = images.cjk_font(20).getname()  # type: ignore[union-attr]
    assert family == "Noto Sans CJK JP"  # fonts-noto-cjk, installed by the scripts


def test_the_card_face_decodes_and_shows_the_profile_text(
    sim_session: SimFactory, anchors: TrustAnchors
) -> None:
    face, genuine = _face(sim_session, anchors)
    assert genuine is True  # the real images are what DF28 covers
    decoded = decode_card_face(face)
    assert decoded.problems == {}
    assert decoded.photo is not None
    assert (decoded.photo.mode, decoded.photo.size) == ("L", images.PHOTO_SIZE)
    assert 2000 < len(face.photo or b"") < 8000  # a few KB, like a card's photo
    # A portrait, not a blank: light background, dark hair and clothes, some spread.
    levels = decoded.photo.histogram()
    darkest = next(value for value, count in enumerate(levels) if count)
    lightest = max(value for value, count in enumerate(levels) if count)
    assert darkest < 60 < 180 < lightest
    for piece, size in (("name_image", images.NAME_SIZE),
                        ("address_image", images.ADDRESS_SIZE)):
        picture = getattr(decoded, piece)
        assert (picture.mode, picture.size) == ("1", size)
        inked = picture.histogram()[0]
        assert 0.02 * size[0] * size[1] < inked < 0.5 * size[0] * size[1], piece
    # Rendered from the profile's own text: the same text renders the same picture.
    assert face.name_image == images.text_png("番号　花子", images.NAME_SIZE)
    assert face.address_image == images.text_png("東京都千代田区永田町１－２－３",
                                                 images.ADDRESS_SIZE, lines=2)
    assert "番号" not in repr(decoded)


def test_a_swapped_photo_is_caught_by_the_signature(
    sim_session: SimFactory, anchors: TrustAnchors
) -> None:
    genuine_face, _ = _face(sim_session, anchors)
    forged, genuine = _face(sim_session, anchors, "defective", defect="photo-swapped")
    assert genuine is False
    assert forged.photo != genuine_face.photo
    assert forged.name_image == genuine_face.name_image
    swapped = decode_card_face(forged).photo
    assert swapped is not None  # a perfectly good picture, of someone else
    assert swapped.size == images.PHOTO_SIZE


def test_a_photo_that_does_not_decode_is_a_problem_not_an_error(
    sim_session: SimFactory, anchors: TrustAnchors
) -> None:
    face, genuine = _face(sim_session, anchors, "defective", defect="photo-undecodable")
    assert genuine is True
    decoded = decode_card_face(face)
    assert set(decoded.problems) == {"photo"}
    assert "JPEG2000" in decoded.problems["photo"]
    assert decoded.name_image is not None


def _encoded(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def test_each_piece_opens_as_its_own_format_only() -> None:
    png = images.text_png("番号", images.NAME_SIZE)
    with pytest.raises(ValueError, match="JPEG2000"):
        decode_image(png, "JPEG2000")  # a PNG where the photo should be
    huge = _encoded(Image.new("1", (2000, 1000), 1), "PNG")
    with pytest.raises(ValueError, match="more than a card face holds"):
        decode_image(huge, "PNG")
    with pytest.raises(ValueError, match="not a decodable PNG"):
        decode_image(png[:40], "PNG")  # truncated


def test_a_colour_photo_is_not_the_issuers() -> None:
    colour = _encoded(Image.new("RGB", images.PHOTO_SIZE, (200, 30, 30)), "JPEG2000")
    face = CardFace(birth_date=dt.date(1985, 4, 1), sex=Sex("2"), expiry=None,
                    name_image=None, address_image=None, photo=colour,
                    public_key=None, signature=None, signed_fields={})
    assert "not greyscale" in decode_card_face(face).problems["photo"]


def test_rendering_is_reproducible() -> None:
    assert images.portrait_jp2("a") == images.portrait_jp2("a")
    assert images.portrait_jp2("a") != images.portrait_jp2("b")


def test_renderings_are_cached_by_their_inputs(tmp_path: Path) -> None:
    drawn: list[str] = []

    def draw(text: str) -> Callable[[], bytes]:
        def render() -> bytes:
            drawn.append(text)
            return text.encode()
        return render

    assert images.rendered(tmp_path, "name", "a", draw("a")) == b"a"
    assert images.rendered(tmp_path, "name", "a", draw("a")) == b"a"  # read back, not drawn
    assert images.rendered(tmp_path, "name", "b", draw("b")) == b"b"
    assert images.rendered(None, "name", "a", draw("a")) == b"a"  # no cache: always drawn
    assert drawn == ["a", "b", "a"]
    assert len(list((tmp_path / "card-face").glob("name-*.bin"))) == 2
