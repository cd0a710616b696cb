"""Pilot helpers: wait for state that worker threads deliver, sign in, read the screen."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from madoguchi.commands.demo import DEMO_OPERATOR_ID, DEMO_PASSWORD
from tui.app import CounterApp

#: How often :func:`wait_for` looks again (a worker's message lands within a frame).
POLL_S = 0.02


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10.0
) -> None:
    """Pause until ``condition()`` holds (worker results arrive as messages).

    The timeout only stops a hung test; how fast things show is measured by
    ``madoguchi bench tui``, never asserted here.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(POLL_S)
    await pilot.pause()  # let the screen render what the condition saw


async def sign_in(
    pilot: Pilot[None],
    operator_id: str = DEMO_OPERATOR_ID,
    password: str = DEMO_PASSWORD,
    *,
    typed: bool = False,
) -> None:
    """Sign in on the login screen and wait for the home screen.

    By default the two fields are filled as a paste would and Enter submits them
    (the real submit path: the password is cleared, the hash runs in a worker);
    ``typed`` types every character, as the login tests do. A Pilot key costs at
    least 40 ms, and most tests sign in only to reach another screen.
    """
    app = pilot.app
    assert isinstance(app, CounterApp)
    if typed:
        await pilot.press(*operator_id, "enter", *password, "enter")
    else:
        await wait_for(pilot, lambda: bool(app.screen.query("#password")))
        app.screen.query_one("#operator-id", Input).value = operator_id
        field = app.screen.query_one("#password", Input)
        field.value = password
        field.focus()
        await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen.id == "home")


async def card_settled(pilot: Pilot[None]) -> None:
    """Wait until the reader state is known and any card read has finished."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    await wait_for(
        pilot,
        lambda: app.reader_state.reader != ""
        and not app.card_reading
        and (app.reader_state.presence.value != "present" or app.card_status is not None),
    )
    await pilot.pause(0.05)


def screen_text(app: CounterApp) -> str:
    """Everything the screen shows now, as plain text (what a camera would see)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def pick_procedure(pilot: Pilot[None], procedure_id: str) -> None:
    """From the home screen, open the picker and choose ``procedure_id``."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    await pilot.press("p")
    await wait_for(pilot, lambda: app.screen.id == "procedures")
    option_list = app.screen.query_one("#procedure-list", OptionList)
    option_list.highlighted = option_list.get_option_index(procedure_id)
    await pilot.press("enter")


#: 第2-1-(1) with the applicant's My Number card on the reader: the keys that answer
#: each step before the card's own checks. The expiry and the 顔認証 answer are the
#: ones the chip proposes, so Enter confirms them for any card profile.
CARD_PROCEDURE_KEYS: dict[str, tuple[str, ...]] = {
    "application.received": ("enter",),  # はい
    "applicant_id.kind": ("enter",),  # 個人番号カード (the default)
    "applicant_id.card.expiry": ("enter",),  # proposed from the chip
    "applicant_id.contents_match": ("enter",),  # はい
    "applicant_id.card.operation_status": ("enter",),  # 運用中
    "applicant_id.card.face_auth": ("enter",),  # proposed from the card kind
}


async def answer_until(
    pilot: Pilot[None],
    ending: str,
    press: Callable[..., Awaitable[None]] | None = None,
    answers: dict[str, tuple[str, ...]] | None = None,
) -> None:
    """Sign-in done: open 2-1-1 and answer with the card until the step ending in ``ending``.

    ``press`` (default ``pilot.press``) lets a caller see every frame on the way;
    ``answers`` replaces the keys of some steps (``("home", "enter")`` is はい).
    """
    plan = {**CARD_PROCEDURE_KEYS, **(answers or {})}
    app = pilot.app
    assert isinstance(app, CounterApp)
    keys = press if press is not None else pilot.press
    await card_settled(pilot)  # the chip's proposals need the card read
    await pick_procedure(pilot, "2-1-1")
    await wait_for(pilot, lambda: app.screen.id == "checklist")
    session = app.screen.session  # type: ignore[attr-defined]
    for _ in range(len(CARD_PROCEDURE_KEYS) + 1):
        key = session.next_step().key
        if key.endswith(ending):
            return
        await wait_for(pilot, lambda: step_ready(app))
        await keys(*plan[key])
        await wait_for(pilot, lambda k=key: session.next_step().key != k)  # type: ignore[misc]
    assert session.next_step().key.endswith(ending)


def step_ready(app: CounterApp) -> bool:
    """The checklist's current step has its input shown and focused (and the proposal set).

    The checklist fills and focuses the input in the same handler that records the
    previous answer, so this holds as soon as the step has changed.
    """
    focused = app.focused
    return (
        focused is not None and focused.display and focused.parent is not None
        and focused.parent.id == "step-input"
    )


async def paste(pilot: Pilot[None], text: str) -> None:
    """Send ``text``'s keys as one burst (a fast typist), then wait once for the app.

    The same path as :meth:`Pilot.press` (key events through the driver to the
    focused screen) without Pilot's two idle waits per key; for tests that do not
    look at the frame after every key.
    """
    app = pilot.app
    driver = app._driver
    assert driver is not None
    for character in text:
        key = events.Key(character, character)
        key.set_sender(app)
        driver.send_message(key)
    await pilot.pause()


def notices(app: CounterApp) -> list[str]:
    """The notifications shown so far, as one line each (toasts break their lines as
    Japanese is set: ``CounterApp.notify``)."""
    return [str(n.message).replace("\n", "") for n in app._notifications]
