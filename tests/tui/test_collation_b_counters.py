"""Issue 13.6: one 照合番号B entry spends two counters; its last try names and confirms each.

The typed 照合番号B is verified against the 券面事項入力補助 AP's key and then the
券面 AP's, each with its own try counter. The fallback screen reads both, shows
both when they differ, and asks the last-try question naming exactly the counters
at their last try; the confirmation covers only those (the card layer refuses the
last try of a counter the clerk was not asked about). Through the real sim card.
"""

from __future__ import annotations

from typing import Any

import pytest

from device.card.errors import WrongPinError
from device.card.layout import PinKind
from device.card.session import CardSession
from tui.app import CounterApp

from .helpers import paste, screen_text, wait_for
from .test_fallback import SIZE, WRONG_CODE, Frames, _facts, _to_fallback, face_auth

__all__ = ["face_auth"]  # the fixture, shared with test_fallback


def spend(services: Any, kind: PinKind, times: int) -> None:
    """Spend ``times`` tries of one 照合番号B key only, straight on the card."""
    with services.reader.connect() as transport:
        session = CardSession(transport)
        for _ in range(times):
            with pytest.raises(WrongPinError):
                session.verify(kind, bytearray(WRONG_CODE.encode()))


async def test_the_card_face_counter_alone_at_its_last_try_is_named_and_confirmed(
    face_auth: Any,
) -> None:
    # Before the fix only the 入力補助 counter (10 left) was read: no question was asked
    # and the 券面 AP's last try was refused mid-check.
    spend(face_auth, PinKind.CARD_FACE_COLLATION_B, 9)
    assert face_auth.pin_status("card_face_collation_b").remaining == 1
    assert face_auth.pin_status("support_collation_b").remaining == 10
    code = _facts(face_auth).verification_code_b
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        frames = Frames(pilot)
        await _to_fallback(pilot, frames)
        await wait_for(pilot, lambda: "入力補助AP 10 回 ／ 券面AP 1 回" in screen_text(app))
        await paste(pilot, code)
        await frames.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        text = screen_text(app)
        assert "券面APの照合番号Bの残り照合回数は1回です" in text
        assert "入力補助APの照合番号B" not in text
        await pilot.press("tab", "enter")  # 最後の1回を実行
        await wait_for(pilot, lambda: getattr(app.screen, "phase", "") == "compare")
    assert face_auth.pin_status("card_face_collation_b").remaining == 10
    confirmed = [e["detail"] for e in face_auth.operators.events("demo")
                 if e["action"] == "collation_b_last_try_confirmed"]
    assert confirmed == ["card_face_collation_b"]


async def test_both_counters_at_their_last_try_are_both_named(face_auth: Any) -> None:
    spend(face_auth, PinKind.CARD_FACE_COLLATION_B, 9)
    spend(face_auth, PinKind.SUPPORT_COLLATION_B, 9)
    code = _facts(face_auth).verification_code_b
    app = CounterApp(services=face_auth)
    async with app.run_test(size=SIZE) as pilot:
        frames = Frames(pilot)
        await _to_fallback(pilot, frames)
        await wait_for(pilot, lambda: "照合番号Bの残り照合回数 1 回" in screen_text(app))
        await paste(pilot, code)
        await frames.press("enter")
        await wait_for(pilot, lambda: app.screen.id == "last-try")
        assert ("券面事項入力補助APの照合番号Bと券面APの照合番号Bの残り照合回数は1回です"
                in screen_text(app).replace("\n", "").replace(" ", "").replace("│", ""))
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "phase", "") == "compare")
    for pin in ("support_collation_b", "card_face_collation_b"):
        assert face_auth.pin_status(pin).remaining == 10


def test_a_confirmation_covers_only_the_counters_it_names(face_auth: Any) -> None:
    # The service and the card layer: the 入力補助 counter's confirmation does not
    # spend the 券面 AP's last try.
    spend(face_auth, PinKind.CARD_FACE_COLLATION_B, 9)
    code = _facts(face_auth).verification_code_b
    view = face_auth.identity_check(
        bytearray(code.encode()), confirm_last_try=frozenset({"support_collation_b"}))
    assert view.outcome != "read"
    assert face_auth.pin_status("card_face_collation_b").remaining == 1  # nothing spent
    view = face_auth.identity_check(
        bytearray(code.encode()), confirm_last_try=frozenset({"card_face_collation_b"}))
    assert view.outcome == "read"
