"""暗証番号の初期化・再設定 on the real card stack: ``madoguchi demo`` in tmux at 80x24 on
pcscd/vpcd, the applicant on the virtual matrix pad (``madoguchi sim pad`` in a second
terminal), the card a ``madoguchi sim card --profile pin-blocked`` process whose
利用者証明用 PIN is blocked.

The counter's configuration names the virtual card's test terminal as its PIN writer
(``[reader] pin_writer = "test-terminal"``, which ``madoguchi counter`` refuses): the
appliance writes the new PIN itself through pyscard → pcscd → vpcd. Afterwards the card,
through pyscard, has its tries back and takes the new PIN. Every screen after each key,
the pad's terminal, the log, the operator events and the stored record are scanned.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from device.card.layout import PinKind
from device.card.pins import PinState
from device.card.session import CardSession
from drivers import open_reader
from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing
from tui.screens.pin_prompt import mask_rows

from .test_tmux_pin_change import operator_events, type_pin, wait_for_event
from .test_tmux_vpcd import (  # noqa: F401 - fixtures
    CHOOSE_FIRST,
    READER,
    Counter,
    card_slot,
    counter,
    walk_checklist,
)

pytestmark = pytest.mark.pcsc

NEW = "5738"


def _use_the_test_terminal(counter: Counter) -> None:  # noqa: F811
    """The fixture's configuration, with the virtual card's test terminal as PIN writer."""
    path = Path(counter.env["MADOGUCHI_CONFIG"])
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[reader]\n", '[reader]\npin_writer = "test-terminal"\n', 1),
                    encoding="utf-8")


@pytest.mark.slow
def test_a_blocked_user_auth_pin_reset_in_person_then_verified_with_the_new_pin(
    counter: Counter,  # noqa: F811
) -> None:
    _use_the_test_terminal(counter)
    demo = counter.start("pin-blocked")
    demo.wait_for("利用者証明用")
    pad = counter.tmux("pad", f"{sys.executable} -m madoguchi.cli sim pad")
    pad.wait_for("q ends")

    demo.press("p")
    demo.wait_for("暗証番号の初期化・再設定")
    demo.send("End")  # the last entry is the PIN change; the reset is just above it
    demo.send("Up")
    demo.press("Enter")
    demo.wait_for("窓口に来た方を選んでください")
    demo.press("Enter")  # 本人
    demo.wait_for("要領外-初期化 暗証番号の初期化・再設定")
    walk_checklist(demo, [
        ("申請書等を受理したか", CHOOSE_FIRST),
        ("当てはまるものすべて", ("Enter",)),  # 利用者証明用 is ticked
        ("カードを持参しているか", CHOOSE_FIRST),
        ("同一人物か", CHOOSE_FIRST),
        ("カード以外の本人確認書類", CHOOSE_FIRST),
    ], until="カードへの書込みへ進む")
    demo.press("Enter")
    demo.wait_for("テンキーでの入力へ")
    demo.press("Enter")
    demo.wait_for(mask_rows(0, 4)[1])
    demo.wait_for("Simulated PIN pad (virtual matrix)")
    frames: list[tuple[int, str]] = [(0, demo.capture())]
    pad_frames: list[tuple[int, str]] = [(0, pad.capture())]
    type_pin(demo, NEW, frames, pad=pad, pad_frames=pad_frames)
    demo.wait_for("確認のため")
    type_pin(demo, NEW, frames, pad=pad, pad_frames=pad_frames)
    demo.wait_for("手続を継続", timeout=30.0)
    outcome = demo.capture()
    assert "要領外-初期化-9" in outcome
    demo.press("Enter")  # 記録して終了
    demo.wait_for("送信待ち    1 件")
    after = demo.capture()
    pad_after = pad.capture()
    events = wait_for_event(counter.state, "pin_reset jpki_auth:written")
    [record] = counter.records()
    demo.kill()  # the counter lets go of the reader

    reader = open_reader("pcsc", name=READER)
    try:
        with reader.connect() as transport:
            session = CardSession(transport)
            assert session.pin_status(PinKind.JPKI_AUTH).remaining == 3
            status = session.verify(PinKind.JPKI_AUTH, bytearray(NEW.encode()))
            assert status.state is PinState.VERIFIED
    finally:
        reader.close()

    assert (record["procedure"], record["decision"]) == ("pin-reset", "continue")
    assert record["extra"]["actions"] == [["reset_pin", "jpki_auth", "要領外-初期化-9"]]
    log = (counter.state / "demo.log").read_text("utf-8")
    events = operator_events(counter.state) or events
    assert_no_pin_while_typing(NEW, frames)
    assert_no_pin_while_typing(NEW, pad_frames)
    assert_no_pin(NEW, [outcome, after, pad_after, *log.splitlines(), *events,
                        json.dumps(record, ensure_ascii=False)])
