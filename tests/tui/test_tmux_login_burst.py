"""Issue 12.12 through a real terminal: ID, Tab, password and Enter in one ``send-keys``.

``madoguchi demo`` (sim reader) in a private tmux server; a second account with a
password that is not on screen is made first with ``madoguchi operator add``. The
whole sign-in goes in one literal ``send-keys`` (one read for the app, as a badge
reader's keys arrive): the id must land in the id field, the password in the
password field (masked, never in clear), and Enter must sign in.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from madoguchi.bench.tui import LOGIN_TITLE, TmuxSession
from madoguchi.cli import main

from .test_tmux_e2e import demo_in_tmux

PASSWORD = "Badge-Burst-7731"


@pytest.fixture
def demo_with_clerk(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TmuxSession]:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["operator", "add", "clerk07", "--name", "窓口 七子", "--password-stdin"]) == 0
    with demo_in_tmux(state_dir) as session:
        yield session


@pytest.mark.slow
def test_a_badge_burst_fills_each_field_and_never_shows_the_password(
    demo_with_clerk: TmuxSession,
) -> None:
    demo = demo_with_clerk
    demo.wait_for(LOGIN_TITLE, timeout=30.0)
    demo.send_literal(f"clerk07\t{PASSWORD}")  # one write: no repaint in between
    demo.wait_for("•" * len(PASSWORD))
    screen = demo.capture()
    assert PASSWORD not in screen
    assert "Burst" not in screen
    assert re.search(r"clerk07\s", screen), screen
    demo.send_literal("\r")
    demo.wait_for("窓口 七子")
    # The whole of it in one burst, Enter included, after signing out.
    demo.send("o")  # サインアウト on the home screen
    demo.wait_for(LOGIN_TITLE)
    demo.send_literal(f"clerk07\t{PASSWORD}\r")
    demo.wait_for("窓口 七子")
    assert PASSWORD not in demo.capture()
