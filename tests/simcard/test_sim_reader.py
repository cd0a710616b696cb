"""The in-process reader backend ``sim``: events, transport, link drops."""

from __future__ import annotations

import threading

import pytest

from drivers import open_reader
from drivers.simcard import make_card
from drivers.simcard.pki import TestPki
from drivers.transport.base import CardPresence
from drivers.transport.sim import SimReader
from madoguchi.errors import CardAbsentError, CardRemovedError, ConfigError

from . import apdus as A


def test_open_reader_by_backend_name(sim_pki: TestPki) -> None:
    reader = open_reader("sim", profile="android", pki_dir=sim_pki.directory)
    assert isinstance(reader, SimReader)
    assert reader.backend == "sim"
    assert reader.card is not None
    assert reader.card.facts.profile == "android"
    with pytest.raises(ConfigError):
        open_reader("sim", profile="nope", pki_dir=sim_pki.directory)
    card = make_card("standard", pki_dir=sim_pki.directory)
    with pytest.raises(ConfigError):
        SimReader(card=card, drop_after=3)


def test_events_insert_remove(sim_pki: TestPki) -> None:
    reader = SimReader(pki_dir=sim_pki.directory)
    first = reader.wait_for_change(0.0)  # the first wait reports the current state
    assert first is not None
    assert first.presence is CardPresence.PRESENT
    assert first.atr == bytes.fromhex("3BE000FF8131FE4514")
    assert reader.wait_for_change(0.01) is None
    timer = threading.Timer(0.05, reader.remove)
    timer.start()
    event = reader.wait_for_change(5.0)
    timer.join()
    assert event is not None
    assert event.presence is CardPresence.ABSENT
    assert event.atr is None
    assert reader.presence() is CardPresence.ABSENT
    with pytest.raises(CardAbsentError):
        reader.connect()
    other = make_card("juki-card", pki_dir=sim_pki.directory)
    reader.insert(other)
    event = reader.wait_for_change(1.0)
    assert event is not None
    assert event.presence is CardPresence.PRESENT
    assert reader.card is other


def test_transport_talks_to_the_card_and_close_resets_it(sim_pki: TestPki) -> None:
    reader = SimReader(pki_dir=sim_pki.directory)
    with reader.connect() as transport:
        assert transport.transmit(A.select_aid(A.JPKI)).ok
        assert transport.transmit(A.select_ef(0x001B)).ok
        assert transport.transmit(A.verify("ABC123")).ok
        assert transport.transmit(A.select_ef(0x0001)).ok
        assert transport.transmit(A.read_binary(0, 4)).ok
        assert transport.stats.apdus == 5
    with reader.connect() as transport:  # a new session: nothing verified
        transport.transmit(A.select_aid(A.JPKI))
        transport.transmit(A.select_ef(0x0001))
        assert transport.transmit(A.read_binary(0, 4)).sw == 0x6982


def test_removed_card_and_dropped_link_raise_card_removed(sim_pki: TestPki) -> None:
    reader = SimReader(profile="flaky", drop_after=2, pki_dir=sim_pki.directory)
    reader.wait_for_change(0.0)
    transport = reader.connect()
    transport.transmit(A.select_aid(A.JPKI))
    transport.transmit(A.select_ef(0x0018))
    with pytest.raises(CardRemovedError):
        transport.transmit(A.verify())
    event = reader.wait_for_change(1.0)
    assert event is not None
    assert event.presence is CardPresence.ABSENT
    with pytest.raises(CardRemovedError):
        transport.transmit(A.verify())
    reader.insert()  # the same card comes back, powered up
    with reader.connect() as again:
        assert again.transmit(A.select_aid(A.JPKI)).ok
    standard = SimReader(pki_dir=sim_pki.directory)
    transport = standard.connect()
    standard.remove()
    with pytest.raises(CardRemovedError):
        transport.transmit(A.select_aid(A.JPKI))
