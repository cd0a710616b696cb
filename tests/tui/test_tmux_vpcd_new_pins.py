"""New PINs set during a renewal, on the real card stack: ``madoguchi demo`` in tmux at 80x24
on pcscd/vpcd, the virtual matrix pad in a second terminal, the card a ``madoguchi sim
card`` process.

The configuration turns the step on (``[ui] new_pins_at_issuance = true``) and names the
virtual card's test terminal as the PIN writer. A renewal in person: the applicant's 住基
PIN verified, then the new 利用者証明用 PIN and the new 署名用 password (multi-tap) typed
twice each on the pad. A proxy renewal: the proxy steps away and the clerk types both
from the concealed reply form. Afterwards the card itself, through pyscard, takes both
new secrets with full counters. Every screen after each key, the pad's terminal, the log,
the operator events and the records are scanned.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from device.card.layout import PinKind
from device.card.pins import PinState
from device.card.session import CardSession
from drivers import open_reader
from drivers.simcard import make_card
from madoguchi.bench.tui import TmuxSession
from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing
from tui.screens.pin_prompt import mask_rows

from .test_tmux_pin_change import operator_events
from .test_tmux_vpcd import (  # noqa: F401 - fixtures
    CHOOSE_FIRST,
    CHOOSE_SECOND,
    ISSUANCE_OPENING,
    READER,
    Answer,
    Counter,
    card_slot,
    counter,
    open_issuance,
    walk_checklist,
)

pytestmark = pytest.mark.pcsc

NEW_AUTH = "5738"
#: 「A1D0G1」 by multi-tap: 2 (A), 1, 3 (D), 0, 4 (G), 1 — each key fixes the one before
NEW_SIGN, SIGN_KEYS = "A1D0G1", "213041"

Frames = list[tuple[int, str]]


def _configure(counter: Counter) -> None:  # noqa: F811
    """The fixture's configuration, with the new-PIN step on and the test terminal."""
    path = Path(counter.env["MADOGUCHI_CONFIG"])
    text = path.read_text(encoding="utf-8")
    text = text.replace("[reader]\n", '[reader]\npin_writer = "test-terminal"\n', 1)
    path.write_text(text + "\n[ui]\nnew_pins_at_issuance = true\n", encoding="utf-8")


def _type(demo: TmuxSession, pad: TmuxSession, keys: str, length: int,
          frames: Frames, pad_frames: Frames) -> None:
    """``keys`` on the pad's terminal, each waited for as a mask on the clerk's, then #."""
    for typed, key in enumerate(keys, start=1):
        pad.send_literal(key)
        demo.wait_for(mask_rows(typed, length)[-1])
        frames.append((typed, demo.capture()))
        pad_frames.append((typed, pad.capture()))
    pad.send_literal("#")


def _set_both(demo: TmuxSession, pad: TmuxSession, lead: str,
              frames: dict[str, Frames], pad_frames: Frames) -> None:
    for pin, keys, length in (("auth", NEW_AUTH, 4), ("sign", SIGN_KEYS, 16)):
        demo.wait_for(lead)
        demo.press("Enter")  # to the pad
        demo.wait_for(mask_rows(0, length)[-1])
        _type(demo, pad, keys, length, frames[pin], pad_frames)
        demo.wait_for("確認のため")
        _type(demo, pad, keys, length, frames[pin], pad_frames)


def _card_takes_both() -> None:
    reader = open_reader("pcsc", name=READER)
    try:
        for kind, secret, maximum in ((PinKind.JPKI_AUTH, NEW_AUTH, 3),
                                      (PinKind.JPKI_SIGN, NEW_SIGN, 5)):
            with reader.connect() as transport:
                session = CardSession(transport)
                assert session.pin_status(kind).remaining == maximum
                status = session.verify(kind, bytearray(secret.encode()))
                assert status.state is PinState.VERIFIED
    finally:
        reader.close()


def _nothing_leaked(counter: Counter, frames: dict[str, Frames], pad_frames: Frames,  # noqa: F811
                    after: list[str]) -> None:
    log = (counter.state / "demo.log").read_text("utf-8")
    events = operator_events(counter.state)
    records = [json.dumps(r, ensure_ascii=False) for r in counter.records()]
    assert_no_pin_while_typing(NEW_AUTH, frames["auth"])
    assert_no_pin_while_typing(NEW_AUTH, pad_frames)
    for secret, typed in ((NEW_AUTH, frames["auth"]), (NEW_SIGN, frames["sign"])):
        assert_no_pin(secret, [f for _, f in typed] + [f for _, f in pad_frames] + after
                      + log.splitlines() + events + records)


def _set_record_and_check(
    counter: Counter, demo: TmuxSession, pad: TmuxSession, lead: str,  # noqa: F811
) -> dict[str, Any]:
    """Both new PINs on the pad, the outcome recorded, the counter let go; then the card
    takes both and nothing leaked. Returns the one record."""
    frames: dict[str, Frames] = {"auth": [], "sign": []}
    pad_frames: Frames = []
    _set_both(demo, pad, lead, frames, pad_frames)
    demo.wait_for("手続を継続", timeout=30.0)
    demo.press("Enter")  # 記録して終了
    demo.wait_for("送信待ち    1 件")
    after = [demo.capture(), pad.capture()]
    [record] = counter.records()
    demo.kill()  # the counter lets go of the reader
    _card_takes_both()
    assert record["extra"]["new_pins"] == {"by": "written", "pins": ["jpki_auth", "jpki_sign"]}
    _nothing_leaked(counter, frames, pad_frames, after)
    return record


@pytest.mark.slow
def test_a_renewal_with_new_pins_set_by_the_applicant_on_the_pad(
    counter: Counter,  # noqa: F811
) -> None:
    juki = make_card("standard", pki_dir=counter.pki).facts.juki_pin
    assert juki is not None
    _configure(counter)
    demo = counter.start("standard")
    pad = counter.tmux("pad", f"{sys.executable} -m madoguchi.cli sim pad")
    pad.wait_for("q ends")
    open_issuance(demo)
    walk_checklist(
        demo, [*ISSUANCE_OPENING, ("顔認証カードか", CHOOSE_SECOND)], until="暗証番号を照合する"
    )
    demo.press("Enter")
    demo.wait_for(mask_rows(0, 4)[1])
    for digit in juki:
        pad.send_literal(digit)
    pad.send_literal("#")
    demo.wait_for("新しい暗証番号の設定", timeout=20.0)
    record = _set_record_and_check(counter, demo, pad, "テンキーでの入力へ")
    assert (record["procedure"], record["decision"]) == ("2-1-1", "continue")
    assert "concealed_form_used" not in record["extra"]


@pytest.mark.slow
def test_a_proxy_renewal_with_the_pins_from_the_concealed_form(
    counter: Counter,  # noqa: F811
) -> None:
    _configure(counter)
    demo = counter.start("standard")
    pad = counter.tmux("pad", f"{sys.executable} -m madoguchi.cli sim pad")
    pad.wait_for("q ends")
    demo.press("p")
    demo.wait_for("第2-1-(2)")
    demo.press("Down")
    demo.press("Enter")  # 第2-1-(2)
    demo.wait_for("窓口に来た方を選んでください")
    demo.press("Enter")  # 代理人
    answers: list[Answer] = [
        ("申請書等を受理したか", CHOOSE_FIRST),
        ("委任状の提出があるか", CHOOSE_FIRST),
        ("出生の届出と併せた申請か", CHOOSE_SECOND),  # いいえ
        ("委任状に申請者／利用者本人の署名又は記名押印があるか", CHOOSE_FIRST),
        ("転入届又は転居届と併せた申請か", CHOOSE_SECOND),
        ("回答書の有無", CHOOSE_FIRST),
        ("回答書の暗証番号の隠蔽", CHOOSE_FIRST),  # 目隠しシール
        ("代理人の本人確認書類の種類", ("Home", "Down", "Down", "Down", "Enter")),  # 旅券
        ("代理人の本人確認書類の記載内容・写真が申請書等と一致するか", CHOOSE_FIRST),
    ]
    walk_checklist(demo, answers, until="新しい暗証番号の設定")
    record = _set_record_and_check(counter, demo, pad, "代理人が離れた")
    assert (record["procedure"], record["actor"]) == ("2-1-2", "proxy")
    assert record["extra"]["concealed_form_used"] is True
