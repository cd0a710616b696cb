"""暗証番号の変更 on the real card stack: ``madoguchi demo`` in tmux on pcscd/vpcd, the
applicant typing on the virtual matrix pad (``madoguchi sim pad`` in a second terminal).

Afterwards the card itself, through pyscard, takes the new PIN and refuses the old one.
Every screen after each key, the pad's terminal, the log and the operator events are
scanned for both PINs.
"""

from __future__ import annotations

import sys

import pytest

from device.card import errors
from device.card.layout import PinKind
from device.card.pins import PinState
from device.card.session import CardSession
from drivers import open_reader
from drivers.simcard import make_card
from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing

from .test_tmux_pin_change import open_pin_change, type_pin, wait_for_event
from .test_tmux_vpcd import READER, Counter, card_slot, counter  # noqa: F401 - fixtures

pytestmark = pytest.mark.pcsc

NEW = "5738"


@pytest.mark.slow
def test_a_pin_change_by_the_holder_on_the_virtual_pad_and_card(counter: Counter) -> None:  # noqa: F811
    old = make_card("standard", pki_dir=counter.pki).facts.auth_pin
    assert old is not None
    demo = counter.start("standard")
    demo.wait_for("住基用暗証番号  残り 3 回")
    pad = counter.tmux("pad", f"{sys.executable} -m madoguchi.cli sim pad")
    pad.wait_for("q ends")

    open_pin_change(demo)
    demo.wait_for("Simulated PIN pad (virtual matrix)")
    old_frames: list[tuple[int, str]] = [(0, demo.capture())]
    new_frames: list[tuple[int, str]] = []
    pad_old: list[tuple[int, str]] = []
    pad_new: list[tuple[int, str]] = []
    type_pin(demo, old, old_frames, pad=pad, pad_frames=pad_old)
    demo.wait_for("新しい利用者証明用")
    type_pin(demo, NEW, new_frames, pad=pad, pad_frames=pad_new)
    demo.wait_for("確認のため")
    type_pin(demo, NEW, new_frames, pad=pad, pad_frames=pad_new)
    demo.wait_for("手続の選択", timeout=30.0)
    after = demo.capture()
    pad_after = pad.capture()
    events = wait_for_event(counter.state, "pin_change jpki_auth:changed")
    demo.send("Escape")
    demo.wait_for("端末の状態")
    demo.kill()  # the counter lets go of the reader

    reader = open_reader("pcsc", name=READER)
    try:
        with reader.connect() as transport:
            session = CardSession(transport)
            assert session.pin_status(PinKind.JPKI_AUTH).remaining == 3
            status = session.verify(PinKind.JPKI_AUTH, bytearray(NEW.encode()))
            assert status.state is PinState.VERIFIED
        with reader.connect() as transport, pytest.raises(errors.WrongPinError) as refused:
            CardSession(transport).verify(PinKind.JPKI_AUTH, bytearray(old.encode()))
        assert refused.value.remaining == 2
    finally:
        reader.close()

    log = (counter.state / "demo.log").read_text("utf-8")
    assert "changed the 利用者証明用電子証明書の暗証番号" in log
    assert_no_pin_while_typing(old, old_frames)
    assert_no_pin_while_typing(NEW, new_frames)
    assert_no_pin_while_typing(old, pad_old)
    assert_no_pin_while_typing(NEW, pad_new)
    for pin in (old, NEW):
        assert_no_pin(pin, [after, pad_after, *log.splitlines(), *events])
