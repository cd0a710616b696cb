"""The home panel on a 顔認証 card whose unset PINs answer 6A88 instead of 6984 (issue 14).

Real stack: the sim reader with ``unset_pin_answer="6A88"``, device/card's tap-to-ready
and classification, the home screen. The card is shown as a 顔認証 card with its PINs
「使用不可（未設定またはロック）」, never as a standard card with locked PINs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.app import CounterApp

from .conftest import StepClock, make_services
from .helpers import card_settled, screen_text, sign_in, wait_for


@pytest.mark.parametrize("answer", ["6984", "6A88"])
async def test_home_shows_a_face_auth_card_either_way(
    answer: str, tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    services = make_services(tmp_path, clock=clock, pki_dir=sim_pki, profile="face-auth",
                             unset_pin_answer=answer)
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=(100, 30)) as pilot:
            await sign_in(pilot)
            await card_settled(pilot)
            await wait_for(pilot, lambda: "個人番号カード（顔認証）" in screen_text(app))
            text = screen_text(app)
            assert text.count("使用不可（未設定またはロック）") >= 3
            assert "暗証番号がロックされています" not in text
            assert "6A88" not in text
            assert "6984" not in text
    finally:
        services.close()
