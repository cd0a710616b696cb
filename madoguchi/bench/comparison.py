"""The comparison step's photo: from the card read being done to the photo on screen.

``comparison_render_ms_p50`` / ``_p95`` (issue 14; target ≤ 300 ms): the real
``CounterApp`` on the demo's composition (virtual card ``face-auth``, SQLite store,
operator accounts), headless at the bench's terminal size, walked by key presses to
第2-1-(1)'s chip match; 照合番号B is typed and each run measures

- from: the screen taking the card worker's :class:`~tui.screens.fallback.IdentityChecked`
  (the card read, the chip checks and the decode are done), to
- the photo widget's first ``Show`` event: Textual sends it when the compositor has
  placed the widget on the screen it is about to write, i.e. the frame with the photo.

Both instants come from Textual's message hook (every message as it is dispatched), so
no poll adds to the figure. The photo is drawn with textual-image's half blocks, what it
picks in tmux or over ssh (a headless app has no terminal to ask). Esc leaves the
comparison (wiping the photo) and the chip match is opened again for the next run.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Keys that answer 第2-1-(1) up to the chip match for a 顔認証 card (step key -> keys).
ANSWERS: dict[str, tuple[str, ...]] = {
    "application.received": ("home", "enter"),
    "applicant_id.kind": ("home", "down", "enter"),  # 個人番号カード
    "applicant_id.card.expiry": ("enter",),  # the date the chip proposes
    "applicant_id.contents_match": ("home", "enter"),
    "applicant_id.card.operation_status": ("home", "enter"),
    "applicant_id.card.face_auth": ("home", "enter"),  # はい
}
PHOTO_ID = "fallback-photo-image"


def measure(runs: int, size: tuple[int, int]) -> list[float]:
    """``runs`` comparison renders in milliseconds (see the module docstring)."""
    state = Path(tempfile.mkdtemp(prefix="madoguchi-bench-comparison-"))
    try:
        return asyncio.run(_measure(runs, size, state))
    finally:
        shutil.rmtree(state, ignore_errors=True)


async def _measure(runs: int, size: tuple[int, int], state: Path) -> list[float]:
    from textual._context import active_message_pump  # whose message the hook sees
    from textual.events import Show
    from textual.message import Message
    from textual.pilot import Pilot
    from textual_image.widget import HalfcellImage

    from drivers.simcard import make_card
    from madoguchi.commands.demo import DEMO_OPERATOR_ID, DEMO_PASSWORD, build_services
    from madoguchi.config import Config
    from tui.app import CounterApp
    from tui.screens.fallback import IdentityChecked
    from tui.widgets import card_photo

    # What textual-image picks in tmux (no sixel, no Kitty graphics): half blocks; put
    # back afterwards (the bench may run inside another program, its tests).
    chosen = card_photo.terminal_image_class
    setattr(card_photo, "terminal_image_class", lambda: HalfcellImage)  # noqa: B010
    services = build_services(Config(), state_dir=state, profile="face-auth", demo=True)
    code = make_card("face-auth", pki_dir=state / "sim-pki").facts.verification_code_b
    read_at: list[float] = []
    shown_at: list[float] = []

    def hook(message: Message) -> None:
        if isinstance(message, IdentityChecked):
            read_at.append(time.perf_counter())
        elif isinstance(message, Show) and getattr(active_message_pump.get(), "id", None) \
                == PHOTO_ID:  # the hook runs in the pump the message is dispatched to
            shown_at.append(time.perf_counter())

    async def until(pilot: Pilot[None], done: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.perf_counter() + timeout
        while not done():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"bench comparison: stuck on {pilot.app.screen.id}")
            await pilot.pause(0.01)

    app = CounterApp(services=services)
    timings: list[float] = []
    try:
        async with app.run_test(size=size, message_hook=hook) as pilot:
            await _to_chip_match(pilot, until, DEMO_OPERATOR_ID, DEMO_PASSWORD)
            for _ in range(runs):
                await pilot.press("home", "enter")  # 照合番号BでICチップの券面事項を確認する
                await until(pilot, lambda: app.screen.id == "fallback")
                await until(pilot, lambda: _attr(app.screen, "tries_left") is not None)
                before = len(shown_at)
                await pilot.press(*code, "enter")
                await until(pilot, lambda n=before: len(shown_at) > n)  # type: ignore[misc]
                timings.append((shown_at[-1] - read_at[-1]) * 1000.0)
                await pilot.press("escape")  # the photo leaves, wiped
                await until(pilot, lambda: app.screen.id == "checklist")
    finally:
        services.close()
        setattr(card_photo, "terminal_image_class", chosen)  # noqa: B010
    return timings


def _attr(screen: Any, name: str) -> Any:
    return getattr(screen, name, None)


async def _to_chip_match(pilot: Any, until: Any, operator_id: str, password: str) -> None:
    """Sign in, open 第2-1-(1) and answer it up to the chip match (the fallback's question)."""
    app = pilot.app
    await until(pilot, lambda: app.screen.id == "login")
    await pilot.press(*operator_id, "enter", *password, "enter")
    await until(pilot, lambda: app.screen.id == "home")
    await pilot.press("p")
    await until(pilot, lambda: app.screen.id == "procedures")
    await pilot.press("enter")  # 第2-1-(1), 本人
    await until(pilot, lambda: app.screen.id == "checklist")
    while True:
        session = _attr(app.screen, "session")
        step = session.next_step() if session is not None else None
        if step is None or step.key not in ANSWERS:
            return
        await pilot.pause(0.15)  # the chip's proposal is set after the first refresh
        await pilot.press(*ANSWERS[step.key])
        await until(pilot, lambda k=step.key: (s := _attr(app.screen, "session")) is None
                    or s.next_step() is None or s.next_step().key != k)


def figures(timings: list[float]) -> dict[str, Any]:
    """The bench's keys for ``timings`` (milliseconds)."""
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "comparison_render_ms_p50": round(statistics.median(ordered), 1),
        "comparison_render_ms_p95": round(p95, 1),
        "comparison_runs": len(ordered),
    }
