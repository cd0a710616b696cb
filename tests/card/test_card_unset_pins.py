"""Holder PINs that were never set: ``6A88`` means what ``6984`` means (issue 14).

One card answered ``6A88`` ("reference data not found") for its unset holder PINs where
SOL's cards answer ``6984``; it was then reported as a standard card with its PINs in an
unexpected state and no 顔認証 hint. The virtual card's ``unset_pin_answer="6A88"``
option answers so; tap-to-ready, the 顔認証 inference and VERIFY treat both alike, and
no try is ever spent. In process, and ``card status`` through pcscd/vpcd.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from device.card.errors import DataNotFoundError, PinNotSetError
from device.card.kind import CardKind, Condition, classify
from device.card.layout import PinKind
from device.card.pins import PinState, status_from_query
from device.card.reading import tap_to_ready
from device.card.session import CardSession
from drivers.simcard import VirtualCard, make_card
from drivers.transport.base import CardTransport
from drivers.transport.sim import SimReader
from madoguchi.cli import main
from madoguchi.errors import ConfigError
from tests.support.vpcd import AttachedCard

SimFactory = Callable[..., tuple[SimReader, CardSession]]
UNSET = ("6984", "6A88")


@pytest.mark.parametrize("answer", UNSET)
def test_a_face_auth_card_is_inferred_either_way(answer: str, sim_session: SimFactory) -> None:
    reader, session = sim_session("face-auth", unset_pin_answer=answer)
    assert reader.card is not None
    ready = tap_to_ready(session)
    for kind in (PinKind.JUKI, PinKind.JPKI_AUTH, PinKind.JPKI_SIGN, PinKind.SUPPORT):
        status = ready.pins[kind]
        assert status is not None
        assert status.state is PinState.UNUSABLE, (kind, ready.notes)
    assert ready.notes == []  # nothing "unexpected" left over
    result = classify(ready, today=dt.date.today())
    assert result.kind is CardKind.FACE_AUTH
    assert result.blocked_pins == []
    assert Condition.PIN_BLOCKED not in result.conditions
    assert any("6984 or 6A88" in note and "顔認証" in note for note in result.uncertain)


@pytest.mark.parametrize("answer", UNSET)
def test_an_unset_pin_is_never_verified(answer: str, sim_session: SimFactory) -> None:
    reader, session = sim_session("face-auth", unset_pin_answer=answer)
    with pytest.raises(PinNotSetError, match="blocked or was never set"):
        session.verify(PinKind.JPKI_AUTH, bytearray(b"1234"), confirm_last_try=True)
    assert reader.card is not None
    assert reader.card.retry_counter("jpki_auth") == 3


@pytest.mark.parametrize("answer", UNSET)
def test_under_15_signature_password_is_not_called_blocked(
    answer: str, sim_session: SimFactory
) -> None:
    _, session = sim_session("under-15", unset_pin_answer=answer)
    result = classify(tap_to_ready(session), today=dt.date.today())
    assert result.kind is CardKind.STANDARD
    assert PinKind.JPKI_SIGN not in result.blocked_pins
    assert Condition.PIN_BLOCKED not in result.conditions
    assert Condition.NO_SIGN_CERTIFICATE in result.conditions


def test_6a88_counts_for_holder_pins_only() -> None:
    assert status_from_query(PinKind.SUPPORT, 0x6A88).state is PinState.UNUSABLE
    assert status_from_query(PinKind.JUKI_LEGACY, 0x6A88).state is PinState.UNUSABLE
    # A 照合番号 key every card sets: 6A88 there is unexpected, not "unset".
    with pytest.raises(DataNotFoundError):
        status_from_query(PinKind.SUPPORT_COLLATION_B, 0x6A88)


class AnswersVerifyWith6A88(CardTransport):
    """The virtual card, except that a VERIFY with data on JPKI's auth PIN answers 6A88.

    The query before it still reports three tries: the session sends that one VERIFY
    and must then take the answer as "not set or blocked", not as an unknown error.
    """

    def __init__(self, card: VirtualCard) -> None:
        super().__init__(reader_name="6a88", atr=card.atr)
        self.card = card
        self.selected_auth = False

    def _transmit_raw(self, apdu: bytes | bytearray) -> bytes:
        apdu = bytes(apdu)
        if apdu[1] == 0xA4:
            self.selected_auth = apdu[5:] == b"\x00\x18"
        if apdu[1] == 0x20 and len(apdu) > 4 and (self.selected_auth or apdu[3] == 0x98):
            return b"\x6a\x88"
        return self.card.process(apdu)


def test_6a88_after_a_verify_is_not_set_and_costs_nothing(card_pki_dir: Path) -> None:
    card = make_card("standard", pki_dir=card_pki_dir)
    session = CardSession(AnswersVerifyWith6A88(card))
    with pytest.raises(PinNotSetError, match="SW 6A88"):
        session.verify(PinKind.JPKI_AUTH, bytearray(b"1234"))
    status = session.pin_status(PinKind.JPKI_AUTH)  # the card's own answer again
    assert status.remaining == 3
    assert card.retry_counter("jpki_auth") == 3


def test_the_option_is_checked(card_pki_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unset_pin_answer must be one of"):
        make_card("face-auth", pki_dir=card_pki_dir, unset_pin_answer="9000")
    with pytest.raises(ConfigError, match="does not take unset_pin_answer"):
        make_card("standard", pki_dir=card_pki_dir, unset_pin_answer="6A88")


@pytest.mark.pcsc
def test_card_status_through_pcsc(
    vpcd_card: Callable[..., AttachedCard], capsys: pytest.CaptureFixture[str]
) -> None:
    attached = vpcd_card("face-auth", unset_pin_answer="6A88")
    assert main(["card", "status", "--json", "--reader", attached.reader_name]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["card_kind"] == "face_auth"
    assert status["blocked_pins"] == []
    assert {pin["state"] for pin in status["pins"].values()} == {"unusable"}
    assert any("6A88" in note for note in status["uncertain"])
