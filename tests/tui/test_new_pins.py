"""New PINs set during issuance/renewal (``[ui] new_pins_at_issuance = true``), in the TUI on
the real stack (Pilot, the sim reader, the keyboard pad, the store).

Once the engine continues an issuance, the new certificates' PINs are set before the
outcome: the 利用者証明用 PIN (4 digits) and the 署名用 password (6–16 upper-case letters
and digits, by multi-tap), each typed twice, written on the virtual card by its test
terminal — or, on a counter, set on the J-LIS terminal and confirmed by the clerk. By
proxy the clerk types them from the concealed reply form after the proxy steps away;
the record says only that the form was used. Every frame while typing, notice, log line,
event and record is scanned for both secrets; the card takes them afterwards.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing
from tui.app import CounterApp
from tui.screens.pin_prompt import mask_rows

from .conftest import StepClock, make_services
from .helpers import card_settled, notices, pick_procedure, screen_text, sign_in, wait_for

JUKI = "1234"  # the virtual card's 住基 PIN (docs/virtual-card.md)
NEW_AUTH = "5738"
#: 「A1D0G1」 by multi-tap on the pad: 2 (A), 1, 3 (D), 0, 4 (G), 1 — each key fixes the last
NEW_SIGN, SIGN_KEYS = "A1D0G1", "213041"


def _stored(services: Any) -> list[dict[str, Any]]:
    with sqlite3.connect(services.store.path) as db:
        rows = db.execute("SELECT payload FROM transactions ORDER BY seq").fetchall()
    return [json.loads(row[0]) for row in rows]


def _events(services: Any) -> list[str]:
    return [f"{e['action']} {e['detail']}" for e in services.operators.events("demo")]


async def _to_new_pins(pilot: Pilot[None], procedure: str, actor_keys: tuple[str, ...]) -> None:
    """Open ``procedure`` and answer every question as the Enter habit does (the safe
    defaults), the card's PIN on the pad, until the new-PIN screen opens."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    await card_settled(pilot)
    await pick_procedure(pilot, procedure)
    if actor_keys:
        await wait_for(pilot, lambda: app.screen.id == "actor")
        await pilot.press(*actor_keys)
    await wait_for(pilot, lambda: app.screen.id == "checklist")
    for _ in range(60):
        await wait_for(pilot, lambda: app.screen.id in ("checklist", "new-pins"))
        if app.screen.id == "new-pins":
            return
        step = app.screen.session.next_step()  # type: ignore[attr-defined]
        await pilot.pause(0.05)
        await pilot.press("enter")
        if step is not None and step.key.endswith(".card.pin_result"):
            await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
            await pilot.press(*JUKI, "enter")
        await wait_for(pilot, lambda s=step: app.screen.id != "checklist"  # type: ignore[misc]
                       or app.screen.session.next_step() != s)  # type: ignore[attr-defined]
    raise AssertionError(f"the new-PIN screen never opened:\n{screen_text(app)}")


async def _type(pilot: Pilot[None], keys: str, length: int,
                frames: list[tuple[int, str]]) -> None:
    app = pilot.app
    assert isinstance(app, CounterApp)
    for typed, key in enumerate(keys, start=1):
        await pilot.press(key)
        await wait_for(pilot, lambda n=typed: mask_rows(n, length)[-1]  # type: ignore[misc]
                       in screen_text(app))
        frames.append((typed, screen_text(app)))
    await pilot.press("enter")
    await pilot.pause()


async def _set_both(pilot: Pilot[None], frames: dict[str, list[tuple[int, str]]]) -> None:
    """On the new-PIN screen: each PIN on the pad, twice (the password by multi-tap)."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    for pin, keys, length in (("auth", NEW_AUTH, 4), ("sign", SIGN_KEYS, 16)):
        await wait_for(pilot, lambda: app.screen.id == "new-pins")
        await pilot.press("enter")  # to the pad (by proxy: the proxy has stepped away)
        await wait_for(pilot, lambda: app.screen.id == "pin-change")
        assert "新しい暗証番号の設定" in screen_text(app)  # the prompt's title says what
        await _type(pilot, keys, length, frames[pin])
        await wait_for(pilot, lambda: "確認のため" in screen_text(app).replace("\n", ""))
        await _type(pilot, keys, length, frames[pin])


async def _record(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, CounterApp)
    await wait_for(pilot, lambda: app.screen.id == "outcome")
    assert "手続を継続" in screen_text(app)
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen.id == "home", timeout=15.0)


def _card_takes_both(services: Any) -> None:
    for pin, value in (("jpki_auth", NEW_AUTH), ("jpki_sign", NEW_SIGN)):
        status = services.pin_status(pin)
        assert status.remaining == (3 if pin == "jpki_auth" else 5)
        assert services.verify_pin(pin, bytearray(value.encode()),
                                   confirm_last_try=False).outcome == "verified"


def _nothing_leaked(services: Any, frames: dict[str, list[tuple[int, str]]],
                    told: list[str], caplog: pytest.LogCaptureFixture) -> None:
    logs = [r.getMessage() for r in caplog.records]
    records = [json.dumps(r, ensure_ascii=False) for r in _stored(services)]
    assert_no_pin_while_typing(NEW_AUTH, frames["auth"])
    for secret, typed in ((NEW_AUTH, frames["auth"]), (NEW_SIGN, frames["sign"])):
        assert_no_pin(secret, [f for _, f in typed] + told + logs + _events(services) + records)
    assert all(NEW_SIGN not in f for _, f in frames["sign"])


@pytest.mark.parametrize(
    ("procedure", "actor_keys", "size", "lead"),
    [
        pytest.param("2-1-1", (), (80, 24), "申請者がテンキーで新しい", id="in-person-80x24"),
        # 代理人 (任意代理人): the proxy steps away, the clerk types from the concealed form
        pytest.param("2-1-2", ("enter",), (100, 30), "代理人に窓口から離れてもらって",
                     id="proxy-100x30"),
    ],
)
async def test_a_renewal_sets_both_new_pins_and_the_card_takes_them(
    tmp_path: Path, clock: StepClock, sim_pki: Path, caplog: pytest.LogCaptureFixture,
    procedure: str, actor_keys: tuple[str, ...], size: tuple[int, int], lead: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    services = make_services(tmp_path / "state", clock=clock, pki_dir=sim_pki,
                             new_pins_at_issuance=True)
    by_proxy = procedure == "2-1-2"
    try:
        app = CounterApp(services=services)
        frames: dict[str, list[tuple[int, str]]] = {"auth": [], "sign": []}
        async with app.run_test(size=size) as pilot:
            await sign_in(pilot)
            await _to_new_pins(pilot, procedure, actor_keys)
            assert "新しい暗証番号の設定" in screen_text(app)
            assert lead in screen_text(app).replace("\n", "")
            await _set_both(pilot, frames)
            await _record(pilot)
            told = notices(app)
        _card_takes_both(services)
        [record] = _stored(services)
        assert (record["procedure"], record["decision"]) == (procedure, "continue")
        assert record["actor"] == ("proxy" if by_proxy else "self")
        assert record["extra"]["new_pins"] == {"by": "written",
                                               "pins": ["jpki_auth", "jpki_sign"]}
        # by proxy: that the concealed form was used, and nothing of what it said
        assert record["extra"].get("concealed_form_used") is (True if by_proxy else None)
        events = _events(services)
        for pin in ("jpki_auth", "jpki_sign"):
            assert f"new_pins {pin}:written" in events
            assert f"new_pins_pad {pin}:{'form' if by_proxy else 'pad'}" in events
        _nothing_leaked(services, frames, told, caplog)
    finally:
        services.close()


async def test_on_a_counter_the_jlis_terminal_sets_them_and_esc_records_not_set(
    tmp_path: Path, clock: StepClock, sim_pki: Path,
) -> None:
    services = make_services(tmp_path / "state", clock=clock, pki_dir=sim_pki,
                             new_pins_at_issuance=True, test_terminal=False)
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=(80, 24)) as pilot:
            await sign_in(pilot)
            await _to_new_pins(pilot, "2-1-1", ())
            assert "統合端末で申請者に新しい" in screen_text(app).replace("\n", "")
            await pilot.press("enter")  # 利用者証明用: 統合端末で完了した
            await wait_for(pilot, lambda: "署名用" in screen_text(app))
            await pilot.press("escape")  # the password was not set
            await wait_for(pilot, lambda: app.screen.id == "outcome")
            assert any("設定は完了していません" in n for n in notices(app))
            await _record(pilot)
            # F3 on a second issuance's outcome never asks for the PINs again
            await _to_new_pins(pilot, "2-1-1", ())
            await pilot.press("enter", "enter")
            await wait_for(pilot, lambda: app.screen.id == "outcome")
            await pilot.press("f3")
            await wait_for(pilot, lambda: app.screen.id == "checklist")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id in ("outcome", "new-pins", "pin-prompt"))
            assert app.screen.id != "new-pins"
        first = _stored(services)[0]
        assert first["extra"]["new_pins"] == {"by": "not_done", "pins": ["jpki_auth"]}
        events = _events(services)
        assert "new_pins jpki_auth:handed_to_jlis" in events
        assert "new_pins jpki_sign:abandoned" in events
        # nothing was sent from here: the card keeps its PINs
        assert services.verify_pin("jpki_auth", bytearray(b"1234"),
                                   confirm_last_try=False).outcome == "verified"
    finally:
        services.close()


async def test_without_the_setting_the_outcome_follows_at_once(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await card_settled(pilot)
        await pick_procedure(pilot, "2-1-1")
        await wait_for(pilot, lambda: app.screen.id == "checklist")
        session = app.screen.session  # type: ignore[attr-defined]
        while (step := session.next_step()) is not None:
            await pilot.pause(0.05)
            await pilot.press("enter")
            if step.key.endswith(".card.pin_result"):
                await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
                await pilot.press(*JUKI, "enter")
                await wait_for(pilot, lambda: app.screen.id != "pin-prompt")
            await wait_for(pilot, lambda s=step: session.next_step() != s)  # type: ignore[misc]
        await wait_for(pilot, lambda: app.screen.id == "outcome")
    assert services.verify_pin("jpki_auth", bytearray(b"1234"),
                               confirm_last_try=False).outcome == "verified"
