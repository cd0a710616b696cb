"""暗証番号の初期化・再設定 at the device level, as properties: the pad's new-PIN entry
(typed twice, ``device.pin_entry.NewPinEntry``) feeding the card-write seam
(``device.card.pin_writer``) on the virtual card, with every APDU watched.

For any PIN kind, any counter state (blocked or not), any two entries (equal or not,
of the kind's form or not), with or without the advice step kept, cancelled or not:

* a new PIN reaches the card only when both entries match and the form holds, and then
  exactly once (one RESET RETRY COUNTER, no VERIFY or CHANGE carrying a PIN);
* every buffer is zero after every key (``Flow.check_buffers``) and the handle the
  writer got is zero after it;
* the card's counter afterwards is what the scenario implies (back to its maximum and
  the new PIN verifies, or exactly as before);
* on a counter (``CardPinWriter``) nothing at all is sent and the buffer is wiped;
* no log line holds the PIN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from device.card import errors
from device.card.pin_writer import CardPinWriter, PinWriteOutcome, PinWriter, TestTerminalPinWriter
from device.pin_entry import (
    CARD_INPUT_ASSIST_PIN,
    JUKI_PIN,
    SIGNATURE_PASSWORD,
    USER_AUTH_PIN,
    NewPin,
    NewPinStep,
    PinSpec,
)
from drivers.simcard import TEST_TERMINAL_KEY
from drivers.transport.sim import SimReader
from tests.card.test_card_pin_change import _SENT, PINS, Backend, Pin
from tests.pin_scan import assert_no_pin
from tests.pinpad.test_new_pin import Flow


@dataclass(frozen=True)
class Kind:
    pin: Pin
    spec: PinSpec


KINDS = [
    Kind(PINS[0], USER_AUTH_PIN),
    Kind(PINS[1], SIGNATURE_PASSWORD),
    Kind(PINS[2], CARD_INPUT_ASSIST_PIN),
    Kind(PINS[3], JUKI_PIN),
]


class CardFlow(Flow):
    """A new-PIN entry whose consumer is the card-write seam (``initialise``)."""

    def __init__(self, spec: PinSpec, writer: PinWriter, pin: Pin) -> None:
        self.writer = writer
        self.pin = pin
        self.outcomes: list[PinWriteOutcome] = []
        self.handed: list[bytearray] = []  # the buffers the writer got (to check they are zero)
        super().__init__(spec)

    def _consume(self, new_pin: NewPin) -> None:
        assert self.flow.held_lengths() == (0, 0)  # nothing held by the flow meanwhile
        with new_pin.new.open() as new:
            assert isinstance(new, bytearray)
            self.received.append((None, bytes(new)))  # test-only copy, compared below
            self.handed.append(new)
            self.outcomes.append(self.writer.initialise(self.pin.kind, new))
            assert not any(new), "the writer wipes what it was given"
        self.got.append(new_pin)

    def type(self, text: str) -> None:
        if self.flow.spec.multitap:
            self.password(text)
        else:
            self.keys(text)
        self.press("#")


FOUR = st.text("0123456789", min_size=3, max_size=5)
PASSWORD = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=5, max_size=9)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(KINDS),
    spent=st.integers(0, 5),
    first=st.data(),
    same=st.booleans(),
    keep_advice=st.booleans(),
    cancel=st.booleans(),
)
def test_a_reset_writes_once_only_when_both_entries_match_and_the_form_holds(
    card_pki_dir: Path, caplog: pytest.LogCaptureFixture,
    kind: Kind, spent: int, first: st.DataObject, same: bool, keep_advice: bool, cancel: bool,
) -> None:
    pin = kind.pin
    maximum = pin.kind.key.max_tries
    assert maximum is not None
    spent = min(spent, maximum)
    alphabet = PASSWORD if kind.spec.multitap else FOUR
    one = first.draw(alphabet, label="first")
    two = one if same else first.draw(alphabet, label="second")
    sim = SimReader(pki_dir=card_pki_dir)
    try:
        card = Backend(sim.card, sim.connect)  # type: ignore[arg-type]
        card.spend(pin, spent)
        before = maximum - spent
        caplog.clear()
        caplog.set_level(logging.DEBUG)
        flow = CardFlow(kind.spec, TestTerminalPinWriter(sim.connect, TEST_TERMINAL_KEY), pin)
        flow.type(one)
        if flow.flow.step is NewPinStep.ADVICE:
            flow.press("#" if keep_advice else "*")
        if flow.flow.step is NewPinStep.CONFIRM:
            if cancel:
                flow.flow.cancel()
                flow.check_buffers()
            else:
                flow.type(two)
        flow.flow.cancel()  # whatever is left open ends here, wiped
        flow.check_buffers()
        sent = [m.groups() for r in caplog.records
                if r.name == "drivers.transport.base" and (m := _SENT.match(r.getMessage()))]
        logs = [r.getMessage() for r in caplog.records]
        caplog.set_level(logging.WARNING)

        typed_one, typed_two = one[: kind.spec.max_length], two[: kind.spec.max_length]
        well_formed = kind.spec.check(typed_one.encode()) is None
        reached_confirm = well_formed and (keep_advice or not _advised(flow))
        ok = reached_confirm and not cancel and typed_one == typed_two
        writes = [h for h, n in sent if h == "00 2C 02 80" and n != "0"]
        with_pin = [h for h, n in sent if h.split()[1] in ("20", "24", "32") and n != "0"]
        event(f"written={ok}")
        assert len(writes) == (1 if ok else 0)
        assert with_pin == [], "a reset sends no VERIFY or CHANGE with a PIN"
        assert flow.flow.released == (1 if ok else 0)
        assert flow.outcomes == ([PinWriteOutcome.WRITTEN] if ok else [])
        assert all(not any(buffer) for buffer in flow.handed)
        if ok:
            assert flow.received == [(None, typed_one.encode())]
            assert card.card.retry_counter(pin.counter) == maximum
            card.verify(pin, typed_one.encode())
        else:
            assert card.card.retry_counter(pin.counter) == before
        for typed in {typed_one, typed_two}:
            if len(typed) >= 4:
                assert_no_pin(typed, logs)
    finally:
        sim.close()


def _advised(flow: CardFlow) -> bool:
    """Whether the first entry got the easy-to-guess advice (and so an extra key)."""
    from device.pin_entry import NewPinEventKind

    return any(e.kind is NewPinEventKind.ADVICE for e in flow.events)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), spent=st.integers(0, 5))
def test_on_a_counter_nothing_is_sent_and_the_new_pin_is_wiped(
    card_pki_dir: Path, caplog: pytest.LogCaptureFixture, kind: Kind, spent: int,
) -> None:
    pin = kind.pin
    maximum = pin.kind.key.max_tries
    assert maximum is not None
    spent = min(spent, maximum)
    sim = SimReader(pki_dir=card_pki_dir)
    try:
        card = Backend(sim.card, sim.connect)  # type: ignore[arg-type]
        card.spend(pin, spent)
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="drivers.transport.base")
        new = bytearray(pin.new)
        assert CardPinWriter(sim.connect).initialise(pin.kind, new) \
            is PinWriteOutcome.HANDED_TO_JLIS
        assert not any(new)
        assert not [r for r in caplog.records
                    if r.name == "drivers.transport.base" and _SENT.match(r.getMessage())]
        caplog.set_level(logging.WARNING, logger="drivers.transport.base")
        assert card.card.retry_counter(pin.counter) == maximum - spent
    finally:
        sim.close()


def test_a_write_refused_by_the_card_is_never_retried(card_pki_dir: Path) -> None:
    """A wrong terminal key: one attempt, refused, the buffer wiped, the counter as before."""
    sim = SimReader(pki_dir=card_pki_dir)
    try:
        card = Backend(sim.card, sim.connect)  # type: ignore[arg-type]
        pin = PINS[0]
        card.spend(pin, 3)
        flow = CardFlow(USER_AUTH_PIN, TestTerminalPinWriter(sim.connect, b"wrong"), pin)
        flow.type("5738")
        flow.type("5738")
        assert flow.flow.released == 1
        assert flow.outcomes == []  # the writer raised
        assert all(not any(buffer) for buffer in flow.handed)
        assert card.card.retry_counter(pin.counter) == 0
        with pytest.raises(errors.PinExhaustedError):
            card.verify(pin, b"5738")
    finally:
        sim.close()
