"""Issue 12.12: sign-in typed at machine speed (ID, Tab, password, Enter in one burst).

A badge reader or a fast typist sends the whole sign-in before the app has handled
its first key. The keys are sent as one burst through the driver (no idle wait
between them, unlike ``Pilot.press``), so every key is read by the app before the
Tab or Enter before it has been handled: each must still land in the field it was
typed for, and the password must never show in clear.
"""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.widgets import Input

from madoguchi.commands.demo import DEMO_OPERATOR_ID, DEMO_PASSWORD
from tui.app import CounterApp
from tui.screens.login import LoginScreen

from .conftest import StepClock, make_services
from .helpers import screen_text, wait_for

SIZE = (80, 24)
#: Textual's key names and characters for the separators a badge reader sends.
SEPARATORS = {"\t": ("tab", "\t"), "\r": ("enter", "\r"), "\x1b[Z": ("shift+tab", None),
              "\x1bOQ": ("f2", None)}
F2 = "\x1bOQ"


def burst(app: CounterApp, *parts: str) -> None:
    """Post every key of ``parts`` to the driver at once (one string = its characters)."""
    driver = app._driver
    assert driver is not None
    for part in parts:
        if part in SEPARATORS:
            name, character = SEPARATORS[part]
            keys = [events.Key(name, character)]
        else:
            keys = [events.Key(c, c) for c in part]
        for key in keys:
            key.set_sender(app)
            driver.send_message(key)


async def test_id_tab_password_enter_in_one_burst_signs_in(services: object) -> None:
    app = CounterApp(services=services)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.id == "login")
        burst(app, DEMO_OPERATOR_ID, "\t", DEMO_PASSWORD, "\r")
        await wait_for(pilot, lambda: app.screen.id == "home")
        assert app.session is not None
        assert app.session.operator_id == DEMO_OPERATOR_ID


async def test_a_burst_never_shows_the_password_and_fills_each_field(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    # A real counter (no demo hint on screen), so the password on screen would be a leak.
    svc = make_services(tmp_path, clock=clock, pki_dir=sim_pki, demo=False)
    secret = "counter-pass-01"
    try:
        app = CounterApp(services=svc)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen.id == "login")
            burst(app, "clerk01", "\t", secret)  # no Enter: look at the fields
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, LoginScreen)
            assert screen.query_one("#operator-id", Input).value == "clerk01"
            assert screen.query_one("#password", Input).value == secret
            assert secret not in screen_text(app)
            assert "●" * 3 in screen_text(app) or "•" * 3 in screen_text(app)
            # Back with Shift+Tab and forward with Enter, still one burst.
            burst(app, "\x1b[Z", "2", "\r", "\r")
            await wait_for(pilot, lambda: not screen.busy and screen.query_one(
                "#password", Input).value == "")
            assert screen.query_one("#operator-id", Input).value == "clerk012"
            assert "サインインできません" in screen_text(app)
            # Enter in the id field moves to the password, in a burst too.
            screen.query_one("#operator-id", Input).value = ""
            screen.query_one("#operator-id", Input).focus()
            await pilot.pause()
            burst(app, "clerk01", "\r", secret, "\r")
            await wait_for(pilot, lambda: app.screen.id == "home")
    finally:
        svc.close()


async def test_keys_typed_while_the_password_is_checked_are_dropped(
    services: object,
) -> None:
    app = CounterApp(services=services)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.id == "login")
        screen = app.screen
        assert isinstance(screen, LoginScreen)
        # A wrong sign-in, then at once a second burst while the first is checked.
        burst(app, DEMO_OPERATOR_ID, "\t", "Wrong-pass-1", "\r",
              "x", "\t", DEMO_PASSWORD, "\r")
        await wait_for(pilot, lambda: screen.query_one("#password", Input).value == ""
                       and not screen.busy)
        await pilot.pause()
        # Nothing of the second burst was applied: no second attempt, nothing in a field.
        assert app.screen.id == "login"
        assert screen.query_one("#operator-id", Input).value == DEMO_OPERATOR_ID
        attempts = [e for e in services.operators.events()  # type: ignore[attr-defined]
                    if e["action"] in ("sign_in_refused", "sign_in")]
        assert len(attempts) == 1
        # The password field is focused again and the clerk can type it now. As in the
        # checklist, the first Enter after dropped keys is dropped too, and said so.
        burst(app, DEMO_PASSWORD, "\r")
        await wait_for(pilot, lambda: "見送りました" in screen_text(app))
        assert app.screen.id == "login"
        assert screen.query_one("#password", Input).value == DEMO_PASSWORD
        burst(app, "\r")
        await wait_for(pilot, lambda: app.screen.id == "home")


async def test_a_burst_across_two_language_switches_signs_in(services: object) -> None:
    """F2 in the middle of each field: the keys before it were still waiting in the
    field when the screen was rebuilt, and went with it."""
    app = CounterApp(services=services)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.id == "login")
        burst(app, DEMO_OPERATOR_ID[:2], F2, DEMO_OPERATOR_ID[2:], "\t",
              DEMO_PASSWORD[:5], F2, DEMO_PASSWORD[5:], "\r")
        await wait_for(pilot, lambda: app.screen.id == "home")
        assert app.session is not None
        assert app.session.operator_id == DEMO_OPERATOR_ID
        assert app.strings.language == "ja"  # twice switched


async def test_enter_then_f2_in_one_burst_still_signs_in(services: object) -> None:
    """The Enter's sign-in waits behind the fields' keys; an F2 right after it rebuilt
    the fields with that sign-in still on its way, and every Enter after was refused."""
    app = CounterApp(services=services)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.id == "login")
        burst(app, DEMO_OPERATOR_ID, "\t", DEMO_PASSWORD, "\r", F2)
        await wait_for(pilot, lambda: app.screen.id == "home")
        assert app.session is not None
        assert app.strings.language == "en"
