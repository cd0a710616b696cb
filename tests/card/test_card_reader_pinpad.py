"""VERIFY with the PIN typed on the reader's own pad (PC/SC Part 10) follows the same rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.card.errors import LastTryNotConfirmedError, PinEntryCancelledError, WrongPinError
from device.card.layout import PinKind
from device.card.pins import PinState
from device.card.session import CardSession
from drivers import part10
from drivers.simcard import VirtualCard, make_card
from drivers.transport.base import CardTransport, RApdu


class PinPadReader(CardTransport):
    """A reader with a PIN pad: the 'typed' PIN goes from the pad straight to the card."""

    def __init__(self, card: VirtualCard) -> None:
        super().__init__(reader_name="pinpad", atr=card.atr)
        self.card = card
        self.typed: bytes | None = b"1234"  # None = the applicant presses cancel
        self.entries = 0

    def _transmit_raw(self, apdu: bytes) -> bytes:
        return self.card.process(apdu)

    def verify_pin_on_reader(self, pin_verify_structure: bytes) -> RApdu:
        self.entries += 1
        assert bytes.fromhex("00200080") in pin_verify_structure
        if self.typed is None:
            return RApdu(b"", 0x6401)
        raw = self.card.process(bytes.fromhex("0020008004") + self.typed)
        return RApdu.parse(raw)


@pytest.fixture
def pad(card_pki_dir: Path) -> PinPadReader:
    return PinPadReader(make_card("standard", pki_dir=card_pki_dir))


STRUCTURE = part10.build_jpki_verify_pin_direct()


def test_right_and_wrong_pin_on_the_pad(pad: PinPadReader) -> None:
    session = CardSession(pad)
    assert session.verify_on_reader(PinKind.JPKI_AUTH, STRUCTURE).state is PinState.VERIFIED
    pad.typed = b"9876"
    with pytest.raises(WrongPinError) as info:
        session.verify_on_reader(PinKind.SUPPORT, STRUCTURE)
    assert info.value.remaining == 2


def test_cancel_spends_nothing_and_leaves_nothing_stale(pad: PinPadReader) -> None:
    session = CardSession(pad)
    pad.typed = None
    with pytest.raises(PinEntryCancelledError):
        session.verify_on_reader(PinKind.JPKI_AUTH, STRUCTURE)
    assert pad.card.retry_counter("jpki_auth") == 3
    assert not session.stale_counters


def test_last_try_on_the_pad_needs_confirmation(pad: PinPadReader) -> None:
    session = CardSession(pad)
    pad.typed = b"9876"
    for _ in range(2):
        with pytest.raises(WrongPinError):
            session.verify_on_reader(PinKind.JPKI_AUTH, STRUCTURE)
    entries = pad.entries
    with pytest.raises(LastTryNotConfirmedError):
        session.verify_on_reader(PinKind.JPKI_AUTH, STRUCTURE)
    assert pad.entries == entries, "the pad was never asked for the PIN"
    pad.typed = b"1234"
    status = session.verify_on_reader(PinKind.JPKI_AUTH, STRUCTURE, confirm_last_try=True)
    assert status.state is PinState.VERIFIED
