"""Cards that do less than the virtual card: no short EF ids, no extended length, a blocked key
that answers 6984 to the query, no try counts after VERIFY. The session falls back, stays
correct, and stays PIN-safe. The card underneath is the virtual card; only its command set
is narrowed, as another vendor's chip might be."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.card.chip import TrustAnchors
from device.card.errors import (
    PinCounterUnknownError,
    PinNotSetError,
    UnknownStatusWordError,
    WrongPinError,
)
from device.card.layout import PinKind
from device.card.reading import identity_check, tap_to_ready
from device.card.session import CardSession
from drivers.simcard import VirtualCard, make_card
from drivers.transport.base import CardTransport


class NarrowCard(CardTransport):
    """The virtual card behind a narrower command set."""

    def __init__(
        self, card: VirtualCard, *, sfi: bool = True, extended: bool = True,
        query_blocked_as_6984: bool = False, query_9000_when_verified: bool = False,
    ) -> None:
        super().__init__(reader_name="narrow", atr=card.atr)
        self.card = card
        self.sfi = sfi
        self.extended = extended
        self.query_blocked_as_6984 = query_blocked_as_6984
        self.query_9000_when_verified = query_9000_when_verified
        self.verified_here = False  # once set, stays set (until power-off)

    def _transmit_raw(self, apdu: bytes) -> bytes:
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        if not self.sfi and ((ins == 0xB0 and p1 & 0x80) or (ins == 0xB2 and p2 >> 3)):
            return b"\x6a\x86"
        if not self.extended and len(apdu) == 7 and apdu[4] == 0:
            return b"\x67\x00"
        answer = self.card.process(apdu)
        if ins == 0x20 and len(apdu) == 4:
            if self.query_blocked_as_6984 and answer[-2:] == b"\x63\xc0":
                return b"\x69\x84"
            if self.query_9000_when_verified and self.verified_here:
                return b"\x90\x00"
        if ins == 0x20 and len(apdu) > 4 and answer[-2:] == b"\x90\x00":
            self.verified_here = True
        return answer


@pytest.mark.parametrize(("sfi", "extended"), [(False, True), (True, False), (False, False)])
def test_fallbacks_read_the_same_facts(
    sfi: bool, extended: bool, card_pki_dir: Path, anchors: TrustAnchors
) -> None:
    card = make_card("standard", pki_dir=card_pki_dir)
    session = CardSession(NarrowCard(card, sfi=sfi, extended=extended))
    ready = tap_to_ready(session)
    report = identity_check(session, bytearray(card.facts.verification_code_b.encode()), anchors)
    assert ready.token is not None
    assert ready.token.name == "JPKIAPICCTOKEN2"
    assert ready.expiry == card.facts.expiry_date
    assert report.basic4 is not None
    assert report.basic4.name == card.facts.name
    assert report.genuine is True
    # Each refusal costs one APDU once; then plain SELECT + READ or 256-byte chunks.
    assert ready.apdus <= (16 if sfi else 20)
    assert session.extended_length is extended


def test_blocked_key_answering_6984_is_never_verified(card_pki_dir: Path) -> None:
    card = make_card("pin-blocked", pki_dir=card_pki_dir, blocked_pin="jpki_auth")
    transport = NarrowCard(card, query_blocked_as_6984=True)
    session = CardSession(transport)
    with pytest.raises(PinNotSetError, match="blocked or was never set"):
        session.verify(PinKind.JPKI_AUTH, bytearray(b"1234"), confirm_last_try=True)
    assert transport.stats.per_command.get(0x20) == 1  # the query only


def test_card_that_hides_counts_after_verify(card_pki_dir: Path) -> None:
    """SOL: some cards answer 9000 to the query once a key is verified (reference §8, §14.7)."""
    card = make_card("standard", pki_dir=card_pki_dir)
    transport = NarrowCard(card, query_9000_when_verified=True)
    session = CardSession(transport)
    session.verify(PinKind.JPKI_AUTH, bytearray(b"1234"))
    # Verified by this session, so the hidden count is the maximum: a second VERIFY
    # (the value is checked again) may be sent, and a wrong one costs exactly one try.
    with pytest.raises(WrongPinError):
        session.verify(PinKind.JPKI_AUTH, bytearray(b"9876"))
    assert card.retry_counter("jpki_auth") == 2
    # A new session cannot see the count (this card answers 9000 to every query once
    # anything was verified), and it did not verify the key itself: it refuses.
    fresh = CardSession(transport)
    with pytest.raises(PinCounterUnknownError):
        fresh.verify(PinKind.JPKI_AUTH, bytearray(b"1234"))
    assert card.retry_counter("jpki_auth") == 2


class GappyCard(NarrowCard):
    """No EF 0008, and an odd answer to one counter query."""

    def _transmit_raw(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xB0 and apdu[2] == 0x88:
            return b"\x6a\x82"
        if apdu == bytes.fromhex("00a4020c02001b"):
            self.odd_next = True
            return self.card.process(apdu)
        if apdu == bytes.fromhex("00200080") and getattr(self, "odd_next", False):
            self.odd_next = False
            return b"\x6f\x00"
        return super()._transmit_raw(apdu)


def test_gaps_are_reported_not_guessed(card_pki_dir: Path) -> None:
    import datetime as dt

    from device.card.kind import classify

    card = make_card("standard", pki_dir=card_pki_dir)
    session = CardSession(GappyCard(card))
    ready = tap_to_ready(session)
    assert ready.certificates is None
    assert ready.pins[PinKind.JPKI_SIGN] is None
    assert ready.pins[PinKind.JPKI_AUTH] is not None
    assert ready.token is not None
    assert any("EF 0008" in note for note in ready.notes)
    assert any("署名用" in note and "6F00" in note for note in ready.notes)
    result = classify(ready, today=dt.date.today())
    assert set(ready.notes) <= set(result.uncertain)
    # The unknown counter is never verified against.
    with pytest.raises(UnknownStatusWordError):
        session.verify(PinKind.JPKI_SIGN, bytearray(b"ABC123"))
    assert card.retry_counter("jpki_sign") == 5
