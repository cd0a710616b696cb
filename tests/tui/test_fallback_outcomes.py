"""The fallback's "no" answers end in records: no declaration (なし／申告拒否) is 受付不可
under 改正後 with section B's citation, and a suspected counterfeit is its own reason,
flagged in the stored (and synced) record. Real stack: sim reader, device/card, engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import OptionList

from tui.app import CounterApp

from .conftest import StepClock, make_services
from .helpers import screen_text, wait_for
from .test_fallback import (
    SIZE,
    Frames,
    _facts,
    _stored,
    _tick_all_and_record,
    _to_fallback,
    _type_code,
)


@pytest.fixture(params=["face-auth", "counterfeit"])
def card(request: pytest.FixtureRequest, tmp_path: Path, clock: StepClock,
         sim_pki: Path) -> Iterator[Any]:
    """Appliance services with a virtual card of the profile the test names."""
    svc = make_services(tmp_path, clock=clock, pki_dir=sim_pki, profile=request.param)
    yield svc
    svc.close()


async def _compared(pilot: Any, card: Any) -> Any:
    """From sign-in to the chip comparison recorded with every item ticked."""
    frames = Frames(pilot)
    await _to_fallback(pilot, frames)
    await _type_code(frames, _facts(card).verification_code_b)
    screen = pilot.app.screen
    await _tick_all_and_record(frames)
    return screen


@pytest.mark.parametrize("card", ["face-auth"], indirect=True)
async def test_a_refused_declaration_is_recorded_as_not_accepted(card: Any) -> None:
    face_auth = card
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _compared(pilot, face_auth)
        await wait_for(pilot, lambda: screen.phase == "declare")
        declare = screen.query_one("#fallback-declare", OptionList)
        labels = [str(declare.get_option_at_index(i).prompt)
                  for i in range(declare.option_count)]
        assert labels[-2:] == ["なし", "申告拒否"]
        declare.highlighted = declare.option_count - 1
        await pilot.press("enter")  # 申告拒否
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        text = screen_text(app)
        assert "受付不可" in text
        assert "申告を拒否" in text
        assert "第2-1-(1)-ア-(イ)-B" in text
        await pilot.press("enter")  # 記録して終了
        await wait_for(pilot, lambda: app.screen.id == "home")
    [record] = _stored(face_auth)
    assert record["decision"] == "reject"
    assert record["reasons"][-1]["citation"] == "第2-1-(1)-ア-(イ)-B"
    assert "申告を拒否" in record["reasons"][-1]["text"]
    assert "suspected_counterfeit" not in record  # the flag travels only when raised


@pytest.mark.parametrize("card", ["counterfeit"], indirect=True)
async def test_a_suspected_counterfeit_is_its_own_reason_and_flagged(card: Any) -> None:
    counterfeit = card
    app = CounterApp(services=counterfeit)
    async with app.run_test(size=SIZE) as pilot:
        await _compared(pilot, counterfeit)
        await wait_for(pilot, lambda: app.screen.id == "outcome")
        shown = "".join(line.strip(" │") for line in screen_text(app).splitlines())
        assert "偽造カードの疑いがあるため受付不可" in shown  # wrapped at 80 columns
        await pilot.press("enter")  # 記録して終了
        await wait_for(pilot, lambda: app.screen.id == "home")
    [record] = _stored(counterfeit)
    assert record["decision"] == "reject"
    assert "偽造カードの疑い" in record["reasons"][-1]["text"]
    assert record["suspected_counterfeit"] is True

