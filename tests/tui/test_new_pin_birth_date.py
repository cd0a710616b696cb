"""The card's birth date in the new-PIN advice (issue 17), on the real stack (Pilot, the sim
reader, the keyboard pad, the store).

A transaction that read the chip through 照合番号B (a face-auth card's fallback) advises
against a new PIN equal to a form of the birth date it read; nothing goes to the card
until the applicant chooses again or keeps it. A transaction that read no birth date
(the PIN check) gives no advice for it. The forms live only in memory for the
transaction (``CounterApp.birth_date_forms``) and are wiped when it ends. Frames,
log lines, notices, events and records are scanned for the PINs and the forms.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from device.pin_entry import NewPinStep
from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing
from tui.app import CounterApp
from tui.screens.pin_prompt import mask_rows

from . import test_fallback as fallback
from . import test_new_pins as new_pins
from .conftest import StepClock, make_services
from .helpers import notices, screen_text, wait_for

NEW_AUTH = new_pins.NEW_AUTH


def _stored(services: Any) -> list[str]:
    with sqlite3.connect(services.store.path) as db:
        rows = db.execute("SELECT payload FROM transactions ORDER BY seq").fetchall()
    return [row[0] for row in rows]


def _events(services: Any) -> list[str]:
    return [json.dumps(e, ensure_ascii=False) for e in services.operators.events("demo")]


def _mmdd(services: Any) -> str:
    return services.reader.card.facts.birth_date.strftime("%m%d")  # type: ignore[no-any-return]


async def _type(pilot: Pilot[None], pin: str, frames: list[tuple[int, str]]) -> None:
    app = pilot.app
    assert isinstance(app, CounterApp)
    for typed, key in enumerate(pin, start=1):
        await pilot.press(key)
        await wait_for(pilot, lambda n=typed: mask_rows(n, 4)[-1]  # type: ignore[misc]
                       in screen_text(app))
        frames.append((typed, screen_text(app)))
    await pilot.press("enter")
    await pilot.pause()


async def _auth_only_then_record(pilot: Pilot[None]) -> None:
    """The 利用者証明用 PIN was written: Esc leaves the password unset; record the outcome."""
    app = pilot.app
    assert isinstance(app, CounterApp)
    await wait_for(pilot, lambda: app.screen.id == "new-pins" and "署名用" in screen_text(app))
    await pilot.press("escape")
    await wait_for(pilot, lambda: app.screen.id == "outcome")
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen.id == "home", timeout=15.0)


def _nothing_leaked(services: Any, frames: list[tuple[int, str]], told: list[str],
                    caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    logs = [r.getMessage() for r in caplog.records]
    for secret in secrets:
        assert_no_pin(secret, [f for _, f in frames] + told + logs + _events(services)
                      + _stored(services))


async def test_after_a_collation_b_comparison_the_birth_date_gets_the_advice_and_is_wiped(
    tmp_path: Path, clock: StepClock, sim_pki: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    services = make_services(tmp_path / "face", clock=clock, pki_dir=sim_pki,
                             profile="face-auth", new_pins_at_issuance=True)
    birth = _mmdd(services)
    full = services.reader.card.facts.birth_date.strftime("%Y%m%d")
    code = services.reader.card.facts.verification_code_b
    try:
        app = CounterApp(services=services)
        typing: list[tuple[int, str]] = []
        async with app.run_test(size=(80, 24)) as pilot:
            steps = fallback.Frames(pilot)
            await fallback._to_fallback(pilot, steps)
            await fallback._type_code(steps, code)
            session = app.screen.session  # type: ignore[attr-defined]
            held = app.birth_date_forms.for_transaction(session)
            assert bytearray(birth.encode()) in held  # read with the chip, for this transaction
            await fallback._tick_all_and_record(steps)
            await wait_for(pilot, lambda: app.screen.phase == "declare")  # type: ignore[attr-defined]
            await steps.press("enter")  # 住民票の記載事項
            await wait_for(pilot, lambda: "誰に係る" in screen_text(app))
            await steps.press("enter")  # 申請者
            await wait_for(pilot, lambda: app.screen.id == "new-pins")
            await pilot.press("enter")  # to the pad
            await wait_for(pilot, lambda: app.screen.id == "pin-change")
            await _type(pilot, birth, typing)
            await wait_for(pilot, lambda: "推測されやすい" in screen_text(app))
            prompt = app.screen
            assert prompt.step is NewPinStep.ADVICE  # type: ignore[attr-defined]
            assert not any("jpki_auth:written" in e for e in _events(services))  # nothing sent
            await pilot.press("backspace")  # * on the pad: choose another
            await wait_for(pilot, lambda: prompt.step is NewPinStep.NEW)  # type: ignore[attr-defined]
            await _type(pilot, NEW_AUTH, typing)
            await wait_for(pilot, lambda: "確認のため" in screen_text(app).replace("\n", ""))
            await _type(pilot, NEW_AUTH, typing)
            await _auth_only_then_record(pilot)
            told = notices(app)
            # the transaction ended: the forms are gone, the very buffers wiped
            assert not app.birth_date_forms.held
            assert app.birth_date_forms.for_transaction(session) == ()
            assert held
            assert all(len(form) == 0 for form in held)
        assert services.verify_pin("jpki_auth", bytearray(NEW_AUTH.encode()),
                                   confirm_last_try=False).outcome == "verified"
        assert_no_pin_while_typing(birth, typing[:4])
        _nothing_leaked(services, typing, told, caplog, NEW_AUTH, birth, full)
    finally:
        services.close()


async def test_without_a_collation_b_comparison_the_birth_date_gets_no_advice(
    tmp_path: Path, clock: StepClock, sim_pki: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    services = make_services(tmp_path / "state", clock=clock, pki_dir=sim_pki,
                             new_pins_at_issuance=True)
    birth = _mmdd(services)
    try:
        app = CounterApp(services=services)
        typing: list[tuple[int, str]] = []
        async with app.run_test(size=(80, 24)) as pilot:
            await new_pins.sign_in(pilot)
            await new_pins._to_new_pins(pilot, "2-1-1", ())
            assert not app.birth_date_forms.held  # the PIN check reads no birth date
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen.id == "pin-change")
            await _type(pilot, birth, typing)
            await wait_for(pilot, lambda: "確認のため" in screen_text(app).replace("\n", ""))
            assert "推測されやすい" not in screen_text(app)
            await _type(pilot, birth, typing)
            await _auth_only_then_record(pilot)
            told = notices(app)
        assert services.verify_pin("jpki_auth", bytearray(birth.encode()),
                                   confirm_last_try=False).outcome == "verified"
        assert_no_pin_while_typing(birth, typing)
        _nothing_leaked(services, typing, told, caplog, birth)
    finally:
        services.close()


async def test_abandoning_the_transaction_wipes_the_forms_read_by_collation_b(
    tmp_path: Path, clock: StepClock, sim_pki: Path,
) -> None:
    services = make_services(tmp_path / "face", clock=clock, pki_dir=sim_pki,
                             profile="face-auth", new_pins_at_issuance=True)
    code = services.reader.card.facts.verification_code_b
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=(80, 24)) as pilot:
            steps = fallback.Frames(pilot)
            await fallback._to_fallback(pilot, steps)
            await fallback._type_code(steps, code)
            session = app.screen.session  # type: ignore[attr-defined]
            held = app.birth_date_forms.for_transaction(session)
            assert held
            await pilot.press("escape")  # leave the comparison unrecorded
            await wait_for(pilot, lambda: app.screen.id == "checklist")
            await pilot.press("escape")  # 中止, with a reason
            await wait_for(pilot, lambda: app.screen.id == "abandon")
            await pilot.press("down", "down", "enter")
            await wait_for(pilot, lambda: app.screen.id == "home")
            assert not app.birth_date_forms.held
            assert all(len(form) == 0 for form in held)
        [record] = _stored(services)
        assert json.loads(record)["decision"] == "abandoned"
    finally:
        services.close()
