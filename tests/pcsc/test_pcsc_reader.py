"""The PC/SC backend through the real stack: pyscard -> pcscd -> vpcd -> virtual card."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

import drivers
from drivers.transport.base import CardPresence
from drivers.transport.pcsc import PcscReader
from madoguchi.errors import (
    CardAbsentError,
    CardRemovedError,
    CardTimeoutError,
    ConfigError,
    ReaderNotFoundError,
)

SELECT_JPKI = bytes.fromhex("00A4040C0AD392F000260100000001")

pytestmark = pytest.mark.pcsc


def _wait_for(reader: PcscReader, presence: CardPresence, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while reader.presence() is not presence:
        assert time.monotonic() < deadline, f"{reader.name} never became {presence}"
        time.sleep(0.05)


def test_backend_is_chosen_by_name_and_unknown_names_fail_loudly() -> None:
    reader = drivers.open_reader("pcsc", name="Virtual PCD 00 00")
    try:
        assert isinstance(reader, PcscReader)
    finally:
        reader.close()
    with pytest.raises(ConfigError, match="valid: pcsc, sim"):
        drivers.open_reader("pcsd")


def test_lists_the_virtual_readers() -> None:
    assert any("Virtual PCD" in name for name in PcscReader.list_readers())


def test_exchange_with_the_card_counts_apdus(vpcd_card: Any) -> None:
    attached = vpcd_card("standard")
    reader = PcscReader(name=attached.reader_name)
    try:
        assert reader.presence() is CardPresence.PRESENT
        with reader.connect() as transport:
            assert transport.atr == attached.card.atr
            response = transport.transmit(SELECT_JPKI)
            assert response.sw == 0x9000
            assert transport.transmit(bytes.fromhex("00A4040C0AD392F000260100000099")).sw == 0x6A82
            assert transport.stats.apdus == 2
            assert transport.stats.bytes_sent == 2 * len(SELECT_JPKI)
    finally:
        reader.close()


def test_insert_and_remove_arrive_as_events(vpcd_card: Any) -> None:
    attached = vpcd_card("standard")
    reader = PcscReader(name=attached.reader_name)
    try:
        first = reader.wait_for_change(1.0)  # the first call reports the current state
        assert first is not None
        assert first.presence is CardPresence.PRESENT
        assert first.atr == attached.card.atr
        assert reader.wait_for_change(0.2) is None  # nothing changed
        attached.client.stop()
        event = reader.wait_for_change(5.0)
        assert event is not None
        assert event.presence is CardPresence.ABSENT
        with pytest.raises(CardAbsentError):
            reader.connect()
    finally:
        reader.close()


def test_card_pulled_mid_session_raises_card_removed(vpcd_card: Any) -> None:
    attached = vpcd_card("standard")
    reader = PcscReader(name=attached.reader_name)
    try:
        transport = reader.connect()
        assert transport.transmit(SELECT_JPKI).ok
        attached.client.stop()
        _wait_for(reader, CardPresence.ABSENT)
        with pytest.raises(CardRemovedError):
            transport.transmit(SELECT_JPKI)
        assert transport.closed
    finally:
        reader.close()


def test_flaky_card_dropping_the_link_mid_command_is_card_removed(vpcd_card: Any) -> None:
    attached = vpcd_card("flaky", drop_after=2)
    reader = PcscReader(name=attached.reader_name)
    try:
        transport = reader.connect()
        assert transport.transmit(SELECT_JPKI).ok
        assert transport.transmit(SELECT_JPKI).ok
        with pytest.raises(CardRemovedError):
            transport.transmit(SELECT_JPKI)
        assert transport.closed
    finally:
        reader.close()


def test_a_card_that_does_not_answer_in_time_raises_timeout(vpcd_card: Any) -> None:
    attached = vpcd_card("slow", apdu_delay_s=3.0)
    reader = PcscReader(name=attached.reader_name, timeout=0.5)
    try:
        transport = reader.connect()
        started = time.monotonic()
        with pytest.raises(CardTimeoutError):
            transport.transmit(SELECT_JPKI)
        # Far below the card's 3 s: the caller did not wait for the card.
        assert time.monotonic() - started < 2.5
        assert transport.closed
    finally:
        reader.close()


def test_unknown_reader_name_is_reader_not_found() -> None:
    reader = PcscReader(name="no such reader")
    try:
        assert reader.presence() is CardPresence.READER_GONE
        with pytest.raises(ReaderNotFoundError, match="no such reader"):
            reader.connect()
    finally:
        reader.close()


def test_pcsc_service_down_is_a_clear_error() -> None:
    # pcsc-lite honours PCSCLITE_CSOCK_NAME: point it at nothing to see "service down".
    code = (
        "from drivers.transport.pcsc import PcscReader\n"
        "from madoguchi.errors import ReaderUnavailableError\n"
        "try:\n"
        "    PcscReader().connect()\n"
        "except ReaderUnavailableError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    env = dict(os.environ, PCSCLITE_CSOCK_NAME="/nonexistent/pcscd.comm")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ReaderUnavailableError"), result.stdout
    assert "PC/SC service is not running" in result.stdout


def test_a_reader_without_a_pin_pad_offers_no_secure_pin_entry(vpcd_card: Any) -> None:
    # vpcd has no PIN pad: Part 10 features are empty, so PIN entry falls back to
    # the GPIO pad, and asking the reader to take the PIN is a clear error.
    from drivers import part10
    from madoguchi.errors import ReaderError

    attached = vpcd_card("standard")
    reader = PcscReader(name=attached.reader_name)
    try:
        with reader.connect() as transport:
            assert transport.pinpad_features() == {}
            with pytest.raises(ReaderError, match="no PIN pad"):
                transport.verify_pin_on_reader(part10.build_jpki_verify_pin_direct())
            # The card is still usable afterwards.
            assert transport.transmit(SELECT_JPKI).ok
    finally:
        reader.close()


def test_reader_control_after_close_is_card_removed_not_a_hang(vpcd_card: Any) -> None:
    from drivers import part10

    attached = vpcd_card("standard")
    reader = PcscReader(name=attached.reader_name)
    try:
        transport = reader.connect()
        transport.close()
        with pytest.raises(CardRemovedError):
            transport.pinpad_features()
        with pytest.raises(CardRemovedError):
            transport.verify_pin_on_reader(part10.build_jpki_verify_pin_direct())
        with pytest.raises(CardRemovedError):
            transport.control(part10.CM_IOCTL_GET_FEATURE_REQUEST)
    finally:
        reader.close()
