"""A fast clerk on the fallback comparison through a real terminal.

``madoguchi demo --profile face-auth`` (sim reader) in a private tmux server: once
the chip's data shows, the five ticks, Tab and Enter go in one ``send-keys`` (one
read for the app, as a fast typist's keys arrive), and the match is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.simcard import make_card
from madoguchi.bench.tui import TmuxSession, sign_in_demo
from tui.screens.fallback import code_mask

from .test_tmux_e2e import demo_in_tmux
from .test_tmux_vpcd import CHOOSE_FIRST, ISSUANCE_OPENING, open_issuance, walk_checklist


@pytest.fixture
def face_auth_demo(state_dir: Path) -> Iterator[TmuxSession]:
    with demo_in_tmux(state_dir, "--profile", "face-auth") as session:
        yield session


@pytest.mark.slow
def test_ticks_typed_in_one_burst_record_the_match(
    face_auth_demo: TmuxSession, tmp_path: Path
) -> None:
    demo = face_auth_demo
    code = make_card("face-auth", pki_dir=tmp_path / "pki").facts.verification_code_b
    sign_in_demo(demo)
    demo.wait_for("カードあり")
    open_issuance(demo)
    walk_checklist(
        demo,
        [
            *ISSUANCE_OPENING,
            ("顔認証カードか", CHOOSE_FIRST),
            ("照合番号BでICチップの券面事項を確認する", CHOOSE_FIRST),
        ],
        until="照合番号Bの残り照合回数 10 回",
    )
    demo.send_literal(code)
    demo.wait_for(code_mask(len(code)))
    demo.send("Enter")
    demo.wait_for("カード実在確認 正常", timeout=20.0)
    # Every tick, the move to 比較結果を記録 and Enter: one burst, no waiting for a repaint.
    demo.send("Space", *(key for _ in range(4) for key in ("Down", "Space")), "Tab", "Enter")
    demo.wait_for("住民票の記載事項")
    demo.press("Enter")  # 住民票の記載事項
    demo.wait_for("誰に係る")
    demo.press("Enter")  # 申請者／利用者
    demo.wait_for("手続を継続")
    assert "券面事項確認情報と券面記載事項の一致を確認し" in demo.capture()
