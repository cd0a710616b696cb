"""End to end through a real terminal: ``madoguchi demo`` in a private tmux server.

The whole appliance starts in one process on embedded defaults (sim card,
keyboard pad, SQLite in the state dir); the test reads the screen as the clerk
sees it, logs in with the demo account and walks the screens built so far.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from madoguchi.bench.tui import LOGIN_TITLE, TmuxSession, demo_command, sign_in_demo
from tui.screens.pin_prompt import mask_rows

_SESSIONS = itertools.count()


@contextlib.contextmanager
def demo_in_tmux(state_dir: Path, *options: str) -> Iterator[TmuxSession]:
    """``madoguchi demo [options]`` in a private tmux server: madoguchi-test-<pid>-<n>."""
    name = f"madoguchi-test-{os.getpid()}-{next(_SESSIONS)}"
    session = TmuxSession(name, width=80, height=24)
    session.start(
        " ".join((demo_command(), *options)),
        {"MADOGUCHI_STATE_DIR": str(state_dir), "TERM": "xterm-256color", "LANG": "C.UTF-8"},
    )
    try:
        yield session
    finally:
        session.kill()


@pytest.fixture
def demo_session(state_dir: Path) -> Iterator[TmuxSession]:
    with demo_in_tmux(state_dir) as session:
        yield session


@pytest.mark.slow
def test_demo_starts_with_the_sim_card_and_a_clerk_can_log_in(
    demo_session: TmuxSession, state_dir: Path
) -> None:
    demo_session.wait_for(LOGIN_TITLE, timeout=30.0)
    screen = demo_session.capture()
    assert "デモ用アカウント  ID demo / madoguchi-demo" in screen
    sign_in_demo(demo_session)
    # The card's status, read through the real driver path (sim reader backend).
    demo_session.wait_for("カードあり")
    demo_session.wait_for("個人番号カード")
    demo_session.wait_for("住基用暗証番号  残り 3 回")
    screen = demo_session.capture()
    assert "デモ職員 (demo)" in screen
    assert "送信待ち" in screen
    # Wide characters line up: every line of the screen is exactly 80 cells.
    from rich.cells import cell_len

    assert all(cell_len(line) <= 80 for line in screen.splitlines())
    assert "╮╭─ 操作者" in screen  # the two columns meet where they should

    demo_session.send("d")
    demo_session.wait_for("テンキー試験")
    demo_session.send_literal("7")
    demo_session.wait_for("押されたキー  7（3 行 1 列）")
    demo_session.send("Escape")
    demo_session.wait_for("端末の状態")
    time.sleep(0.1)

    # The PIN through the real terminal: every screen after each key shows masks only.
    demo_session.send("v")
    demo_session.wait_for(mask_rows(0, 4)[1])
    frames = []
    for typed, digit in enumerate("1234", start=1):
        demo_session.send_literal(digit)
        demo_session.wait_for(mask_rows(typed, 4)[1])
        frames.append(demo_session.capture())
    demo_session.send("Enter")
    demo_session.wait_for("暗証番号を照合しました。")
    frames.append(demo_session.capture())
    for frame in frames:
        # Dates and times (the card's expiry, the uploader's last send) are not the PIN;
        # any other run of the PIN's digits on screen is.
        without_times = re.sub(r"\d{4}-\d{2}-\d{2}(T[0-9:.+\-]+)?", "", frame)
        # the uploader's last send in local time, e.g. 「12月3日 08:42」
        without_times = re.sub(r"\d{1,2}月\d{1,2}日 \d{2}:\d{2}", "", without_times)
        for fragment in ("12", "23", "34", "123", "234", "1234"):
            assert fragment not in without_times, frame

    demo_session.send("o")
    demo_session.wait_for("サインアウトしました。")
    log = (state_dir / "demo.log").read_text("utf-8")
    assert "madoguchi-demo" not in log
    assert "1234" not in log
    assert "PIN entry complete" in log
    assert "operator demo signed in" in log


@pytest.mark.slow
def test_a_complete_issuance_through_the_terminal(demo_session: TmuxSession) -> None:
    sign_in_demo(demo_session)
    demo_session.wait_for("住基用暗証番号  残り 3 回")
    demo_session.send("p")
    demo_session.wait_for("第2-1-(1)")
    demo_session.send("Enter")  # 第2-1-(1), 本人 only: straight to the checklist
    steps = [
        ("申請書等を受理したか", ["Enter"]),
        ("本人確認書類の種類", ["Enter"]),  # 個人番号カード, the default
        ("有効期間満了日", ["Enter"]),  # the chip's expiry, proposed
        ("記載内容・写真が申請書等と一致", ["Enter"]),
        ("運用状況", ["Enter"]),
        ("顔認証カードか", ["Enter"]),  # いいえ, as the chip proposes
    ]
    for question, keys in steps:
        demo_session.wait_for(question)
        if question == "有効期間満了日":
            demo_session.wait_for("2034-04-01")
        if question == "顔認証カードか":
            demo_session.wait_for("顔認証カードではないと推定")
        time.sleep(0.05)
        for key in keys:
            if key in ("Enter", "Down"):
                demo_session.send(key)
            else:
                demo_session.send_literal(key)
    demo_session.wait_for("暗証番号を照合する")
    demo_session.send("Enter")
    demo_session.wait_for(mask_rows(0, 4)[1])
    demo_session.send_literal("1234")
    demo_session.wait_for(mask_rows(4, 4)[1])
    demo_session.send("Enter")
    demo_session.wait_for("手続を継続")
    screen = demo_session.capture()
    assert "第2-1-(1)" in screen
    demo_session.send("Enter")  # 記録して終了
    demo_session.wait_for("送信待ち    1 件")
