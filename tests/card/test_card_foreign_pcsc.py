"""The CLI on cards it has never seen, through pyscard -> pcscd -> vpcd.

Two "other vendors'" cards, built by narrowing the virtual card's command set and giving it
another ATR: one with a real contact ATR that advertises short EF ids and extended length
(``73 C6 01 C0``), one behind a contactless reader's ATR that takes neither. The CLI must
read the same facts from both, with no knowledge of either.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from smartcard import scard

from drivers.simcard import VirtualCard, make_card
from drivers.simcard.pki import TestPki
from drivers.simcard.vpcd import VpcdCardClient
from madoguchi.cli import main
from tests.support.vpcd import pcsc_context, reader_name_for, vpcd_port, wait_for_slot

pytestmark = pytest.mark.pcsc

CONTACT_ATR = bytes.fromhex("3BDA13FF8131FB468012392F31C173C601C03B")
CONTACTLESS_ATR = bytes.fromhex("3B888001000005E0B381A1007F")


class ForeignCard:
    """The virtual card with another ATR and, optionally, no SFI / extended-length support."""

    def __init__(self, card: VirtualCard, atr: bytes, *, narrow: bool) -> None:
        self.card = card
        self.atr = atr
        self.narrow = narrow
        self.profile = f"foreign-{card.profile}"
        self.extended_seen = 0

    def reset(self) -> None:
        self.card.reset()

    def process(self, apdu: bytes) -> bytes:
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        if len(apdu) == 7 and apdu[4] == 0:
            self.extended_seen += 1
        if self.narrow:
            if (ins == 0xB0 and p1 & 0x80) or (ins == 0xB2 and p2 >> 3):
                return b"\x6a\x86"
            if len(apdu) == 7 and apdu[4] == 0:
                return b"\x67\x00"
        answer = self.card.process(apdu)
        if ins == 0x20 and len(apdu) == 4 and answer[-2:] == b"\x63\xc0":
            return b"\x69\x84"  # this vendor answers a blocked key's query with 6984
        return answer


@pytest.fixture
def foreign(sim_pki: TestPki) -> Iterator[object]:
    port = vpcd_port()
    name = reader_name_for(port)
    context = pcsc_context(name)
    clients: list[VpcdCardClient] = []

    def attach(atr: bytes, *, narrow: bool, profile: str = "standard") -> ForeignCard:
        wait_for_slot(context, name, present=False, timeout=10.0)
        extra = {"blocked_pin": "support"} if profile == "pin-blocked" else {}
        card = ForeignCard(make_card(profile, pki_dir=sim_pki.directory, **extra), atr,
                           narrow=narrow)
        client = VpcdCardClient(card, port=port)  # type: ignore[arg-type]
        client.start()
        clients.append(client)
        wait_for_slot(context, name, present=True, timeout=10.0)
        return card

    yield attach
    for client in clients:
        client.stop()
    try:
        wait_for_slot(context, name, present=False, timeout=10.0)
    finally:
        scard.SCardReleaseContext(context)


@pytest.mark.parametrize(("atr", "narrow"), [(CONTACT_ATR, False), (CONTACTLESS_ATR, True)])
def test_cli_on_a_foreign_card(
    atr: bytes, narrow: bool, foreign: object, sim_pki: TestPki, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    card = foreign(atr, narrow=narrow, profile="pin-blocked")  # type: ignore[operator]
    facts = card.card.facts
    reader = reader_name_for(vpcd_port())
    assert main(["card", "status", "--json", "--reader", reader]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["card_kind"] == "standard"
    assert status["expiry"] == facts.expiry_date.isoformat()
    assert status["pins"]["support"]["state"] == "unusable"
    assert status["pins"]["jpki_auth"]["remaining"] == 3
    assert "pin_blocked" in status["conditions"]
    assert status["extended_length"] is True  # ATR (contact) or DF41 (contactless) says so
    assert status["apdus"] <= (20 if narrow else 14)  # the ATR spares the DF41 probe

    sim_pki.export_trust_anchors(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(facts.verification_code_b + "\n"))
    assert main(["card", "read", "--basic4", "--card-face", "--json", "--reader", reader,
                 "--trust-anchors", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["basic4"]["address"] == facts.address
    assert data["genuine"] is True
    if not narrow:
        assert data["apdus"] <= 15  # from a fresh session: one more SELECT than after tap
        assert card.extended_seen > 0
