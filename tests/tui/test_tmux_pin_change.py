"""暗証番号の変更 through a real terminal: ``madoguchi demo`` in tmux at 80x24 (the Pilot
tests in ``test_pin_change.py`` run 100x30 too).

The clerk opens the change from the procedure picker, the applicant types the current
PIN and the new one twice (the keyboard pad), a mismatch first. Every screen captured
after each key, the demo's log and the operator events are scanned for both PINs by
the rule of ``tests/pin_scan.py``; the events say what happened, PIN-free.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from madoguchi.bench.tui import TmuxSession
from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing
from tui.screens.pin_prompt import mask_rows

from .test_tmux_e2e import demo_in_tmux, sign_in_as_a_clerk_would

OLD = "1234"  # the virtual card's 利用者証明用 PIN (docs/virtual-card.md)
NEW = "5738"


def _type(session: TmuxSession, pin: str, frames: list[tuple[int, str]]) -> None:
    """Type ``pin`` as the applicant would, one key per mask, then Enter."""
    for typed, digit in enumerate(pin, start=1):
        session.send_literal(digit)
        session.wait_for(mask_rows(typed, 4)[1])
        frames.append((typed, session.capture()))
    session.send("Enter")


def _events(state_dir: Path) -> list[str]:
    db = sqlite3.connect(f"file:{state_dir / 'operators.sqlite3'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT action, detail FROM operator_events ORDER BY id").fetchall()
    finally:
        db.close()
    return [f"{action} {detail}" for action, detail in rows]


def _wait_for_event(state_dir: Path, event: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while event not in _events(state_dir):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no operator event {event!r}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_pin_change_in_the_terminal_shows_masks_only(state_dir: Path) -> None:
    old_frames: list[tuple[int, str]] = []
    new_frames: list[tuple[int, str]] = []
    with demo_in_tmux(state_dir) as demo:
        sign_in_as_a_clerk_would(demo)
        demo.wait_for("カードあり")
        demo.wait_for("住基用暗証番号  残り 3 回")
        demo.send("p")
        demo.wait_for("暗証番号の変更（本人が")
        demo.send("End")
        demo.send("Enter")
        demo.wait_for("変更する暗証番号を選び")
        demo.send("Down")
        demo.send("Enter")
        demo.wait_for("現在の利用者証明用")
        old_frames.append((0, demo.capture()))
        _type(demo, OLD, old_frames)
        demo.wait_for("新しい利用者証明用")
        _type(demo, NEW, new_frames)
        demo.wait_for("確認のため")
        _type(demo, "5739", [])  # a slip: both new entries again, nothing sent
        demo.wait_for("一致しませんでした")
        _type(demo, NEW, new_frames)
        demo.wait_for("確認のため")
        _type(demo, NEW, new_frames)
        demo.wait_for("手続の選択", timeout=20.0)  # back where the clerk opened it
        _wait_for_event(state_dir, "pin_change jpki_auth:changed")
        after = demo.capture()
        demo.send("Escape")
        demo.wait_for("端末の状態")
        time.sleep(0.5)  # the card read after the change
        home = demo.capture()
        from rich.cells import cell_len

        assert all(cell_len(line) <= 80 for line in (after + home).splitlines())
        demo.send("o")
        demo.wait_for("サインアウトしました。")
    events = _events(state_dir)
    assert "pin_change jpki_auth:changed" in events
    log = (state_dir / "demo.log").read_text("utf-8")
    assert "changed the 利用者証明用電子証明書の暗証番号" in log
    assert_no_pin_while_typing(OLD, old_frames)
    assert_no_pin_while_typing(NEW, new_frames)
    for pin in (OLD, NEW):
        assert_no_pin(pin, [after, home, *log.splitlines(), *events])
