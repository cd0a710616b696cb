"""The chip's face photo on the comparison screen (issue 14), on the real stack.

The virtual card's synthetic portrait is read through 照合番号B, decoded by Pillow and
drawn by textual-image beside the chip's text: as block characters here (no terminal
answers), as half blocks where a terminal reports no graphics (the snapshots put that
class in, as textual-image would have chosen it in tmux). The pixels are overwritten
when the screen lets go of them: comparison recorded, Esc, card removed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from textual.pilot import Pilot
from textual_image.widget import HalfcellImage

from drivers.simcard.images import PHOTO_SIZE
from tui.app import CounterApp
from tui.widgets import card_photo

from .conftest import StepClock, make_services
from .helpers import paste, screen_text, wait_for
from .test_card_removal import _take_card
from .test_fallback import SIZE, Frames, _facts, _tick_all_and_record, _to_fallback, _type_code


@pytest.fixture
def face_auth(tmp_path: Path, clock: StepClock, sim_pki: Path) -> Iterator[Any]:
    svc = make_services(tmp_path / "face", clock=clock, pki_dir=sim_pki, profile="face-auth")
    yield svc
    svc.close()


def _closed(picture: Image.Image) -> bool:
    try:
        picture.getpixel((0, 0))
    except ValueError:
        return True
    return False


async def _compare(pilot: Pilot[None], services: Any) -> Image.Image:
    """To the comparison; returns the decoded photo the screen holds."""
    frames = Frames(pilot)
    await _to_fallback(pilot, frames)
    await _type_code(frames, _facts(services).verification_code_b)
    app = pilot.app
    await wait_for(pilot, lambda: bool(app.screen.query("#fallback-photo-image")))
    photo = app.screen.view.photo  # type: ignore[attr-defined]
    assert isinstance(photo, Image.Image)
    return photo


async def test_the_photo_is_drawn_and_wiped_when_the_comparison_is_recorded(
    face_auth: Any,
) -> None:
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        photo = await _compare(pilot, face_auth)
        assert (photo.mode, photo.size) == ("L", PHOTO_SIZE)
        drawn = app.screen.query_one("#fallback-photo-image")
        assert isinstance(drawn, card_photo.terminal_image_class())  # type: ignore[arg-type]
        if not (sys.__stdout__ and sys.__stdout__.isatty()):  # pytest -s in a terminal asks it
            assert card_photo.drawing() == "unicode"  # textual-image's choice, no terminal
        assert drawn.size.width >= 4
        assert drawn.size.height >= 3
        text = screen_text(app)
        photo_rows = [line for line in text.splitlines() if "顔写真" in line]
        assert photo_rows
        assert any(ch in photo_rows[0] for ch in "░▒▓█▀▄")  # an image, not text
        assert not _closed(photo)
        await _tick_all_and_record(frames=Frames(pilot))
        await wait_for(pilot, lambda: app.screen.id != "fallback"
                       or app.screen.phase == "declare")  # type: ignore[attr-defined]
        while app.screen.id == "fallback":
            await pilot.press("enter")
            await pilot.pause(0.1)
        assert _closed(photo)  # overwritten and released with the screen


async def test_the_photo_leaves_with_the_card(face_auth: Any) -> None:
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        photo = await _compare(pilot, face_auth)
        await _take_card(pilot)
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        assert _closed(photo)


async def test_esc_wipes_the_photo(face_auth: Any) -> None:
    app = CounterApp(services=face_auth)
    async with app.run_test(size=(100, 30)) as pilot:
        photo = await _compare(pilot, face_auth)
        view = app.screen.view  # type: ignore[attr-defined]
        texts = [view.name_image, view.address_image]
        assert all(isinstance(image, Image.Image) for image in texts)
        # Not drawn without pixels (half blocks, block characters): illegible there.
        assert not app.screen.query("#fallback-face-images")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        assert _closed(photo)
        assert all(_closed(image) for image in texts)  # wiped with the photo


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((100, 30), id="100x30")]


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_half_blocks(
    snap_compare: Any, tmp_path: Path, sim_pki: Path, size: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What textual-image picks in tmux or over ssh (a terminal without sixel or TGP).
    monkeypatch.setattr(card_photo, "terminal_image_class", lambda: HalfcellImage)
    services = make_services(tmp_path, clock=StepClock(), pki_dir=sim_pki, profile="face-auth")
    code = _facts(services).verification_code_b

    async def run_before(pilot: Pilot[None]) -> None:
        await _to_fallback(pilot, Frames(pilot))
        await paste(pilot, code)
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(pilot.app.screen.query("#fallback-photo-image")))
        await pilot.pause(0.1)

    try:
        assert snap_compare(CounterApp(services=services), terminal_size=size,
                            run_before=run_before)
    finally:
        services.close()
