"""A PIN change by the holder through the card-write seam, on the in-process card and on
pyscard -> pcscd -> vpcd: after each scenario the card's counter is what it implies, the new
PIN verifies and the old one does not, and both buffers are zero on every path.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.card import apdu, errors
from device.card.layout import PinKind
from device.card.pin_writer import (
    CardPinWriter,
    PinWriteOutcome,
    PinWriter,
    TestTerminalPinWriter,
)
from device.card.pins import PinState, PinStatus
from device.card.session import CardSession
from drivers import open_reader
from drivers.simcard import TEST_TERMINAL_KEY, VirtualCard
from drivers.transport.base import CardTransport
from drivers.transport.sim import SimReader
from madoguchi.errors import MadoguchiError
from tests.support.vpcd import AttachedCard


@dataclass(frozen=True)
class Pin:
    kind: PinKind
    counter: str  # the virtual card's counter name
    old: bytes
    new: bytes
    wrong: bytes


PINS = [
    Pin(PinKind.JPKI_AUTH, "jpki_auth", b"1234", b"5678", b"9876"),
    Pin(PinKind.JPKI_SIGN, "jpki_sign", b"ABC123", b"XYZ789", b"WRONG1"),
    Pin(PinKind.SUPPORT, "support", b"1234", b"2468", b"9876"),
    Pin(PinKind.JUKI, "juki_common", b"1234", b"1357", b"9876"),
]
IDS = [pin.kind.value for pin in PINS]


@dataclass
class Backend:
    card: VirtualCard
    connect: Callable[[], CardTransport]

    def writer(self) -> PinWriter:
        return CardPinWriter(self.connect)

    def verify(self, pin: Pin, value: bytes, *, confirm: bool = False) -> None:
        with self.connect() as transport:
            CardSession(transport).verify(pin.kind, bytearray(value), confirm_last_try=confirm)

    def spend(self, pin: Pin, tries: int) -> None:
        """The applicant mistyped ``tries`` times before (the last one confirmed)."""
        for _ in range(tries):
            with pytest.raises(errors.WrongPinError):
                self.verify(pin, pin.wrong, confirm=True)


@pytest.fixture(params=["sim", pytest.param("pcsc", marks=pytest.mark.pcsc)])
def backend(
    request: pytest.FixtureRequest, card_pki_dir: Path
) -> Iterator[Callable[..., Backend]]:
    closers: list[Callable[[], None]] = []

    def make(profile: str = "standard", **options: Any) -> Backend:
        if request.param == "sim":
            sim = SimReader(profile=profile, pki_dir=card_pki_dir, **options)
            closers.append(sim.close)
            assert sim.card is not None
            return Backend(sim.card, sim.connect)
        attach: Callable[..., AttachedCard] = request.getfixturevalue("vpcd_card")
        attached = attach(profile, **options)
        reader = open_reader("pcsc", name=attached.reader_name)
        closers.append(reader.close)
        return Backend(attached.card, reader.connect)

    yield make
    for close in closers:
        close()


def _change(
    writer: PinWriter, pin: Pin, current: bytes, *, confirm: bool = False
) -> tuple[bytearray, bytearray, Callable[[], PinStatus]]:
    old, new = bytearray(current), bytearray(pin.new)
    return old, new, lambda: writer.change(pin.kind, old, new, confirm_last_try=confirm)


@pytest.mark.parametrize("pin", PINS, ids=IDS)
def test_the_new_pin_verifies_afterwards_and_the_old_one_does_not(
    backend: Callable[..., Backend], pin: Pin
) -> None:
    b = backend()
    maximum = pin.kind.key.max_tries
    old, new, change = _change(b.writer(), pin, pin.old)
    status = change()
    assert status.state is PinState.VERIFIED
    assert status.remaining == maximum
    assert old == bytearray(len(old))
    assert new == bytearray(len(new))
    assert b.card.retry_counter(pin.counter) == maximum
    b.verify(pin, pin.new)
    assert b.card.retry_counter(pin.counter) == maximum
    with pytest.raises(errors.WrongPinError) as refused:
        b.verify(pin, pin.old)
    assert refused.value.remaining == maximum - 1
    assert b.card.retry_counter(pin.counter) == maximum - 1


@pytest.mark.parametrize("pin", PINS, ids=IDS)
def test_a_wrong_current_pin_spends_one_try_and_changes_nothing(
    backend: Callable[..., Backend], pin: Pin
) -> None:
    b = backend()
    maximum = pin.kind.key.max_tries
    assert maximum is not None
    old, new, change = _change(b.writer(), pin, pin.wrong)
    with pytest.raises(errors.WrongPinError) as refused:
        change()
    assert refused.value.remaining == maximum - 1
    assert old == bytearray(len(old))
    assert new == bytearray(len(new))
    assert b.card.retry_counter(pin.counter) == maximum - 1
    with pytest.raises(errors.WrongPinError):
        b.verify(pin, pin.new, confirm=True)
    b.verify(pin, pin.old, confirm=True)  # still the PIN; the counter is back at its maximum
    assert b.card.retry_counter(pin.counter) == maximum


@pytest.mark.parametrize("pin", PINS, ids=IDS)
def test_the_last_try_needs_confirmation_then_changes_and_resets_the_counter(
    backend: Callable[..., Backend], pin: Pin
) -> None:
    b = backend()
    maximum = pin.kind.key.max_tries
    assert maximum is not None
    b.spend(pin, maximum - 1)
    assert b.card.retry_counter(pin.counter) == 1
    old, new, change = _change(b.writer(), pin, pin.old)
    with pytest.raises(errors.LastTryNotConfirmedError):
        change()
    assert old == bytearray(len(old))
    assert new == bytearray(len(new))
    assert b.card.retry_counter(pin.counter) == 1  # nothing spent, nothing sent
    old, new, change = _change(b.writer(), pin, pin.old, confirm=True)
    change()
    assert b.card.retry_counter(pin.counter) == maximum
    b.verify(pin, pin.new)


@pytest.mark.parametrize("pin", PINS, ids=IDS)
def test_a_blocked_pin_is_never_tried(backend: Callable[..., Backend], pin: Pin) -> None:
    b = backend()
    maximum = pin.kind.key.max_tries
    assert maximum is not None
    b.spend(pin, maximum)
    assert b.card.retry_counter(pin.counter) == 0
    old, new, change = _change(b.writer(), pin, pin.old, confirm=True)
    with pytest.raises(errors.PinExhaustedError):
        change()
    assert old == bytearray(len(old))
    assert new == bytearray(len(new))
    assert b.card.retry_counter(pin.counter) == 0


def test_a_wrong_new_form_sends_nothing(backend: Callable[..., Backend]) -> None:
    b = backend()
    pin = PINS[1]
    for bad in (b"ABCDEF", b"123456", b"AB1", b"ABCDEFGHIJ1234567", b"AB-123"):
        old, new = bytearray(pin.old), bytearray(bad)
        with pytest.raises(errors.PinFormatError):
            b.writer().change(pin.kind, old, new)
        assert old == bytearray(len(old))
        assert new == bytearray(len(new))
    assert b.card.retry_counter(pin.counter) == 5
    b.verify(pin, pin.old)


def test_a_collation_key_cannot_be_changed(backend: Callable[..., Backend]) -> None:
    b = backend()
    old, new = bytearray(b"1" * 14), bytearray(b"2" * 14)
    with pytest.raises(errors.PinNotSetError):
        b.writer().change(PinKind.SUPPORT_COLLATION_B, old, new)
    assert old == bytearray(14)
    assert new == bytearray(14)


def test_a_link_drop_during_the_change_is_uncertain_and_never_resent(
    card_pki_dir: Path,
) -> None:
    pin = PINS[0]
    # how many APDUs a change takes on this card: the drop comes on the last one
    counting = SimReader(pki_dir=card_pki_dir)
    with counting.connect() as transport:
        CardSession(transport).change_pin(pin.kind, bytearray(pin.old), bytearray(pin.new))
        apdus = transport.stats.apdus
    sim = SimReader(profile="flaky", pki_dir=card_pki_dir, drop_after=apdus - 1)
    assert sim.card is not None
    card = sim.card
    old, new = bytearray(pin.old), bytearray(pin.new)
    with pytest.raises(errors.PinChangeUncertainError):
        CardPinWriter(sim.connect).change(pin.kind, old, new)
    assert old == bytearray(4)
    assert new == bytearray(4)
    sim.insert()  # the flaky card drops again after as many APDUs: one session each
    with sim.connect() as transport:
        assert CardSession(transport).pin_status(pin.kind).remaining == 3
    sim.insert()
    with sim.connect() as transport:
        # the card ran the CHANGE and only its answer was lost: the new PIN holds, and
        # learning that cost no try
        status = CardSession(transport).verify(pin.kind, bytearray(pin.new))
        assert status.state is PinState.VERIFIED
    assert card.retry_counter(pin.counter) == 3


#: ``00 20 00 80 +4B -> …`` (the transport's debug line: header and data length only)
_SENT = re.compile(r"^((?:[0-9A-F]{2} ){3}[0-9A-F]{2}) \+(\d+)B ->")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pin=st.sampled_from(PINS),
    spent=st.integers(0, 5),
    right=st.booleans(),
    confirm=st.booleans(),
)
def test_a_change_sends_each_secret_at_most_once_and_only_when_the_rules_allow(
    card_pki_dir: Path, caplog: pytest.LogCaptureFixture,
    pin: Pin, spent: int, right: bool, confirm: bool,
) -> None:
    maximum = pin.kind.key.max_tries
    assert maximum is not None
    spent = min(spent, maximum)
    sim = SimReader(pki_dir=card_pki_dir)
    try:
        b = Backend(sim.card, sim.connect)  # type: ignore[arg-type]
        b.spend(pin, spent)
        before = maximum - spent
        old, new = bytearray(pin.old if right else pin.wrong), bytearray(pin.new)
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="drivers.transport.base")
        with contextlib.suppress(MadoguchiError):
            b.writer().change(pin.kind, old, new, confirm_last_try=confirm)
        sent = [m.groups() for r in caplog.records if (m := _SENT.match(r.getMessage()))]
        caplog.set_level(logging.WARNING, logger="drivers.transport.base")
        with_pin = [header for header, length in sent
                    if header.split()[1] in ("20", "24", "32") and int(length) > 0]
        verifies = [h for h in with_pin if h.startswith("00 20")]
        changes = [h for h in with_pin if not h.startswith("00 20")]
        allowed = before > 1 or (before == 1 and confirm)
        assert len(verifies) == (1 if allowed else 0)
        assert len(changes) == (1 if allowed and right else 0)
        if verifies:
            # the tries-left query is the APDU right before the VERIFY
            at = next(i for i, (h, n) in enumerate(sent) if h == "00 20 00 80" and n != "0")
            assert sent[at - 1] == ("00 20 00 80", "0")
            if changes:  # and the change right after the VERIFY
                assert sent[at + 1][0] == changes[0]
        after = b.card.retry_counter(pin.counter)
        if not allowed:
            assert after == before
        elif right:
            assert after == maximum
        else:
            assert after == before - 1
        assert old == bytearray(len(old))
        assert new == bytearray(len(new))
    finally:
        sim.close()


# -- 初期化・再設定: the card-write seam's initialise (modelled on the virtual card) ----------

@pytest.mark.parametrize("pin", PINS, ids=IDS)
def test_the_test_terminal_resets_a_blocked_pin(
    backend: Callable[..., Backend], pin: Pin
) -> None:
    b = backend()
    maximum = pin.kind.key.max_tries
    assert maximum is not None
    b.spend(pin, maximum)
    assert b.card.retry_counter(pin.counter) == 0
    new = bytearray(pin.new)
    writer = TestTerminalPinWriter(b.connect, TEST_TERMINAL_KEY)
    assert writer.initialise(pin.kind, new) is PinWriteOutcome.WRITTEN
    assert new == bytearray(len(new))
    assert b.card.retry_counter(pin.counter) == maximum
    b.verify(pin, pin.new)
    with pytest.raises(errors.WrongPinError):
        b.verify(pin, pin.old)


def test_the_test_terminal_sets_the_first_pin_of_a_card_without_one(
    backend: Callable[..., Backend],
) -> None:
    b = backend("face-auth")
    pin = PINS[0]
    with pytest.raises(errors.PinNotSetError):
        b.verify(pin, pin.new)
    TestTerminalPinWriter(b.connect, TEST_TERMINAL_KEY).initialise(pin.kind, bytearray(pin.new))
    b.verify(pin, pin.new)
    assert b.card.retry_counter(pin.counter) == 3


def test_a_wrong_terminal_key_writes_nothing(backend: Callable[..., Backend]) -> None:
    b = backend()
    pin = PINS[0]
    b.spend(pin, 3)
    new = bytearray(pin.new)
    with pytest.raises(errors.SecurityStatusError):
        TestTerminalPinWriter(b.connect, b"not the key").initialise(pin.kind, new)
    assert new == bytearray(len(new))
    assert b.card.retry_counter(pin.counter) == 0


def test_on_a_counter_the_write_is_handed_to_the_jlis_terminal(
    backend: Callable[..., Backend],
) -> None:
    b = backend()
    pin = PINS[0]
    b.spend(pin, 3)
    new = bytearray(pin.new)
    assert CardPinWriter(b.connect).initialise(pin.kind, new) is PinWriteOutcome.HANDED_TO_JLIS
    assert new == bytearray(len(new))
    assert CardPinWriter(b.connect).initialise(pin.kind) is PinWriteOutcome.HANDED_TO_JLIS
    assert b.card.retry_counter(pin.counter) == 0  # nothing went to the card


def test_a_terminal_write_checks_the_form_first_and_sends_nothing(card_pki_dir: Path) -> None:
    sim = SimReader(pki_dir=card_pki_dir)
    try:
        with sim.connect() as transport:
            session = CardSession(transport)
            new = bytearray(b"12")
            with pytest.raises(errors.PinFormatError):
                session.write_pin_as_terminal(PinKind.JPKI_AUTH, new, lambda _c: b"")
            assert session.apdus == 0
            assert new == bytearray(2)
    finally:
        sim.close()


def test_the_terminal_write_commands_byte_for_byte() -> None:
    assert apdu.external_authenticate(b"\x01" * 32) == bytes.fromhex("0082008020") + b"\x01" * 32
    assert bytes(apdu.reset_retry_counter(b"5678")) == bytes.fromhex("002c02800435363738")
    assert isinstance(apdu.reset_retry_counter(b"5678"), bytearray)  # the caller wipes it
