"""Issue 13.6: a Part 10 PIN structure must VERIFY the very key whose tries were guarded.

``CardSession.verify_on_reader`` reads the tries left of ``kind``'s key (which selects
its EF) and then hands the reader a ``PIN_VERIFY_STRUCTURE``; the PIN the applicant
types on the reader goes into that structure's APDU. A structure whose APDU is
another command (CHANGE REFERENCE DATA), another key reference, or has room for
another PIN length is refused with a typed error before any APDU: nothing reaches
the card or the reader, no try is spent. Run on the virtual card in-process (a pad
reader that really fills the typed PIN into the structure's APDU) and through
pyscard -> pcscd -> vpcd.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from device.card.errors import ReaderPinStructureError, WrongPinError
from device.card.layout import PinKind
from device.card.pins import PinState, check_reader_structure
from device.card.session import CardSession
from drivers import open_reader, part10
from drivers.simcard import VirtualCard, make_card
from drivers.transport.base import CardTransport, RApdu
from madoguchi.errors import PinError, ReaderError
from tests.support.vpcd import AttachedCard

JPKI = part10.build_jpki_verify_pin_direct()


def structure(header: str, digits: int = 4, block: int | None = None) -> bytes:
    return part10.build_verify_pin_direct(
        bytes.fromhex(header), min_digits=digits, max_digits=digits,
        pin_block_size=block or digits,
    )


class FillingPad(CardTransport):
    """A pad reader that fills the typed PIN into the structure's APDU, as a real one does."""

    def __init__(self, card: VirtualCard) -> None:
        super().__init__(reader_name="filling pad", atr=card.atr)
        self.card = card
        self.typed = b"1234"
        self.entries = 0

    def _transmit_raw(self, apdu: bytes | bytearray) -> bytes:
        return self.card.process(bytes(apdu))

    def verify_pin_on_reader(self, pin_verify_structure: bytes) -> RApdu:
        self.entries += 1
        asked = part10.parse_verify_pin_direct(pin_verify_structure)
        command = asked.apdu[:5] + self.typed.ljust(asked.pin_block_size, b"\x00")
        self.stats.apdus += 1
        return RApdu.parse(self.card.process(command))


@pytest.fixture
def pad(card_pki_dir: Path) -> FillingPad:
    return FillingPad(make_card("standard", pki_dir=card_pki_dir))


BAD = {
    "change reference data": structure("00240180"),
    "another key reference": structure("00200081"),
    "another class": structure("80200080"),
    "room for 14 digits": structure("00200080", digits=14),
    "Lc beyond the PIN block": JPKI[:-5] + bytes([5]) + JPKI[-4:],
    "ulDataLength that lies": JPKI[:15] + (99).to_bytes(4, "little") + JPKI[19:],
    "truncated": JPKI[:10],
}


@pytest.mark.parametrize("name", BAD)
def test_a_structure_for_anything_else_is_refused_before_any_apdu(
    pad: FillingPad, name: str
) -> None:
    session = CardSession(pad)
    before = pad.stats.apdus
    with pytest.raises(ReaderPinStructureError) as refused:
        session.verify_on_reader(PinKind.JPKI_AUTH, BAD[name], confirm_last_try=True)
    assert isinstance(refused.value, PinError)
    assert isinstance(refused.value, ValueError)
    assert PinKind.JPKI_AUTH.key.label in str(refused.value)  # names the key
    assert pad.stats.apdus == before, "an APDU was sent"
    assert pad.entries == 0, "the reader was asked for the PIN"
    assert pad.card.retry_counter("jpki_auth") == 3


def test_the_change_reference_data_trap_would_have_changed_the_pin(pad: FillingPad) -> None:
    # Why the check matters: the same structure sent without it sets a new PIN.
    session = CardSession(pad)
    session.verify(PinKind.JPKI_AUTH, bytearray(b"1234"))
    pad.typed = b"5678"
    pad.verify_pin_on_reader(BAD["change reference data"])
    with pytest.raises(WrongPinError):  # the PIN is now what was typed on the reader
        CardSession(pad).verify(PinKind.JPKI_AUTH, bytearray(b"1234"))


def test_each_key_takes_only_its_own_lengths(pad: FillingPad) -> None:
    check_reader_structure(PinKind.SUPPORT, JPKI)
    check_reader_structure(PinKind.SUPPORT_COLLATION_B, structure("00200080", digits=14))
    with pytest.raises(ReaderPinStructureError):
        check_reader_structure(PinKind.SUPPORT_COLLATION_B, JPKI)
    with pytest.raises(ReaderPinStructureError):  # room for fewer digits than it accepts
        check_reader_structure(PinKind.SUPPORT, structure("00200080", digits=4, block=3))
    # A right structure still verifies, through the card, with the usual rules.
    session = CardSession(pad)
    assert session.verify_on_reader(PinKind.JPKI_AUTH, JPKI).state is PinState.VERIFIED
    code_b = pad.card.facts.verification_code_b.encode()
    pad.typed = code_b
    status = session.verify_on_reader(
        PinKind.SUPPORT_COLLATION_B, structure("00200080", digits=14)
    )
    assert status.state is PinState.VERIFIED


@pytest.mark.pcsc
def test_through_pcsc_a_wrong_structure_never_reaches_the_reader(
    vpcd_card: Callable[..., AttachedCard],
) -> None:
    attached = vpcd_card("standard")
    reader = open_reader("pcsc", name=attached.reader_name)
    try:
        with reader.connect() as transport:
            session = CardSession(transport)
            before = transport.stats.apdus
            with pytest.raises(ReaderPinStructureError):
                session.verify_on_reader(PinKind.JPKI_AUTH, BAD["change reference data"])
            assert transport.stats.apdus == before
            # A right structure passes the check and meets the reader (vpcd has no pad).
            with pytest.raises(ReaderError):
                session.verify_on_reader(PinKind.JPKI_AUTH, JPKI)
            assert session.pin_status(PinKind.JPKI_AUTH).remaining == 3
    finally:
        reader.close()
