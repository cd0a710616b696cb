"""End to end on the card session: no PIN, 照合番号B or My Number in any log, output, file,
exception or repr, on the in-process sim reader and through pyscard → pcscd → vpcd."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from device.card.chip import TrustAnchors
from device.card.session import CardSession
from drivers import open_reader
from drivers.simcard import VirtualCard
from drivers.simcard.pki import TestPki
from drivers.transport.base import CardReader
from drivers.transport.sim import SimReader
from tests.audit.conftest import ApduRecorder, Capture
from tests.audit.flows import assert_pin_discipline, card_secrets, run_card_flow
from tests.audit.leaks import exception_text, reprs
from tests.support.vpcd import AttachedCard


def _audit(
    reader: CardReader,
    card: VirtualCard,
    capture: Capture,
    recorder: ApduRecorder,
    anchors: TrustAnchors,
) -> None:
    transport = recorder.watch(reader.connect())
    try:
        session = CardSession(transport)
        result = run_card_flow(session, card.facts, anchors)
        session.logout()
    finally:
        transport.close()
        reader.close()
    assert_pin_discipline(recorder, result)
    assert any(r.name.startswith("drivers.transport") for r in capture.tap.records), (
        "no APDU was logged: the scan would not cover the transport's log lines"
    )
    card_secrets(card.facts).assert_clean([
        *capture.haystacks(),
        *((f"exception {type(e).__name__}", exception_text(e)) for e in result.errors),
        *reprs(*result.objects, transport, reader, card.facts),
    ])


def test_card_session_on_the_sim_reader_leaks_nothing(
    capture: Capture, recorder: ApduRecorder, anchors: TrustAnchors, sim_pki: TestPki
) -> None:
    reader = SimReader(pki_dir=sim_pki.directory)
    assert reader.card is not None
    _audit(reader, reader.card, capture, recorder, anchors)


@pytest.mark.pcsc
def test_card_session_through_pcscd_and_vpcd_leaks_nothing(
    vpcd_card: Callable[..., AttachedCard],
    capture: Capture,
    recorder: ApduRecorder,
    anchors: TrustAnchors,
) -> None:
    attached = vpcd_card()
    reader = open_reader("pcsc", name=attached.reader_name)
    _audit(reader, attached.card, capture, recorder, anchors)
