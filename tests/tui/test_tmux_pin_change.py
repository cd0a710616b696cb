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


def type_pin(
    screen: TmuxSession, pin: str, frames: list[tuple[int, str]],
    *, pad: TmuxSession | None = None, pad_frames: list[tuple[int, str]] | None = None,
) -> None:
    """Type ``pin`` and Enter, one key per mask: on the clerk's terminal (the keyboard pad)
    or on ``pad`` (``madoguchi sim pad``); each frame after a key goes to ``frames``."""
    keys = pad if pad is not None else screen
    for typed, digit in enumerate(pin, start=1):
        keys.send_literal(digit)
        screen.wait_for(mask_rows(typed, 4)[1])
        frames.append((typed, screen.capture()))
        if pad is not None and pad_frames is not None:
            pad_frames.append((typed, pad.capture()))
    if pad is not None:
        pad.send_literal("#")
    else:
        screen.send("Enter")


def open_pin_change(demo: TmuxSession) -> None:
    """Procedure picker, its last entry (暗証番号の変更), the 利用者証明用 PIN."""
    demo.send("p")
    demo.wait_for("暗証番号の変更（本人が")
    demo.send("End")
    demo.send("Enter")
    demo.wait_for("変更する暗証番号を選び")
    demo.send("Down")
    demo.send("Enter")
    demo.wait_for("現在の利用者証明用")


def operator_events(state_dir: Path) -> list[str]:
    """``action detail`` of every operator event the demo stored (read-only)."""
    db = sqlite3.connect(f"file:{state_dir / 'operators.sqlite3'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT action, detail FROM operator_events ORDER BY id").fetchall()
    finally:
        db.close()
    return [f"{action} {detail}" for action, detail in rows]


def wait_for_event(state_dir: Path, event: str, timeout: float = 20.0) -> list[str]:
    """Wait until ``event`` is stored; returns every event then."""
    deadline = time.monotonic() + timeout
    while event not in (events := operator_events(state_dir)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no operator event {event!r} in {events}")
        time.sleep(0.05)
    return events


@pytest.mark.slow
def test_a_pin_change_in_the_terminal_shows_masks_only(state_dir: Path) -> None:
    old_frames: list[tuple[int, str]] = []
    new_frames: list[tuple[int, str]] = []
    with demo_in_tmux(state_dir) as demo:
        sign_in_as_a_clerk_would(demo)
        demo.wait_for("カードあり")
        demo.wait_for("住基用暗証番号  残り 3 回")
        open_pin_change(demo)
        old_frames.append((0, demo.capture()))
        type_pin(demo, OLD, old_frames)
        demo.wait_for("新しい利用者証明用")
        type_pin(demo, NEW, new_frames)
        demo.wait_for("確認のため")
        type_pin(demo, "5739", [])  # a slip: both new entries again, nothing sent
        demo.wait_for("一致しませんでした")
        type_pin(demo, NEW, new_frames)
        demo.wait_for("確認のため")
        type_pin(demo, NEW, new_frames)
        demo.wait_for("手続の選択", timeout=20.0)  # back where the clerk opened it
        wait_for_event(state_dir, "pin_change jpki_auth:changed")
        after = demo.capture()
        demo.send("Escape")
        demo.wait_for("端末の状態")
        time.sleep(0.5)  # the card read after the change
        home = demo.capture()
        from rich.cells import cell_len

        assert all(cell_len(line) <= 80 for line in (after + home).splitlines())
        demo.send("o")
        demo.wait_for("サインアウトしました。")
    events = operator_events(state_dir)
    assert "pin_change jpki_auth:changed" in events
    log = (state_dir / "demo.log").read_text("utf-8")
    assert "changed the 利用者証明用電子証明書の暗証番号" in log
    assert_no_pin_while_typing(OLD, old_frames)
    assert_no_pin_while_typing(NEW, new_frames)
    for pin in (OLD, NEW):
        assert_no_pin(pin, [after, home, *log.splitlines(), *events])
