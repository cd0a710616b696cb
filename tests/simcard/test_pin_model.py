"""Model-based test of the key EFs: counters, blocking, verified state, resets.

A hypothesis state machine drives VERIFY (right, wrong, empty), AP re-selection and power
cycles on real key EFs, and checks every status word against a small model of the rules in
docs/virtual-card.md: 63Cx with x left, 63C0 on the blocking try, 6984 after, the query free,
a right value resets the counter, and verified state ends with AP re-select or reset.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from drivers.simcard import VirtualCard, make_card
from drivers.simcard.pki import TestPki, default_pki_dir

from . import apdus as A


@dataclass
class KeyModel:
    counter: str
    aid: bytes
    fid: int
    value: str
    remaining: int
    data_fid: int | None  # an EF this key opens
    openers: frozenset[str]  # every modelled key that opens data_fid


KEYS = [
    ("jpki_auth", A.JPKI, 0x0018, "1234", 3, None, frozenset()),
    ("jpki_sign", A.JPKI, 0x001B, "ABC123", 5, 0x0001, frozenset({"jpki_sign"})),
    ("support", A.SUPPORT, 0x0011, "1234", 3, 0x0002, frozenset({"support"})),
    ("support_a", A.SUPPORT, 0x0014, "123456789018", 10, 0x0001,
     frozenset({"support", "support_a"})),
    ("juki", A.JUKI, 0x001C, "1234", 3, None, frozenset()),
    ("face_birth", A.FACE, 0x0011, "600401", 10, 0x0001, frozenset({"face_birth"})),
]


class PinMachine(RuleBasedStateMachine):
    card: VirtualCard
    pki_dir = default_pki_dir()

    @initialize()
    def fresh_card(self) -> None:
        self.card = make_card("standard", pki_dir=PinMachine.pki_dir)
        self.keys = [KeyModel(*row) for row in KEYS]
        self.current_aid: bytes | None = None
        self.verified: set[str] = set()

    def _send(self, apdu: bytes) -> int:
        return int.from_bytes(self.card.process(apdu)[-2:], "big")

    def _open(self, key: KeyModel) -> None:
        if self.current_aid != key.aid:
            assert self._send(A.select_aid(key.aid)) == 0x9000
            self.current_aid = key.aid
            self.verified.clear()
        assert self._send(A.select_ef(key.fid)) == 0x9000

    @rule(index=st.integers(0, len(KEYS) - 1))
    def query(self, index: int) -> None:
        key = self.keys[index]
        self._open(key)
        assert self._send(A.verify()) == 0x63C0 | key.remaining

    @rule(index=st.integers(0, len(KEYS) - 1), right=st.booleans(), then_read=st.booleans())
    def verify(self, index: int, right: bool, then_read: bool) -> None:
        key = self.keys[index]
        self._open(key)
        sw = self._send(A.verify(key.value if right else "9" * len(key.value)))
        if key.remaining == 0:
            assert sw == 0x6984
        elif right:
            assert sw == 0x9000
            key.remaining = {"jpki_sign": 5, "support_a": 10, "face_birth": 10}.get(
                key.counter, 3)
            self.verified.add(key.counter)
        else:
            key.remaining -= 1
            self.verified.discard(key.counter)
            assert sw == 0x63C0 | key.remaining
        if then_read:
            self.read_protected(index)

    @rule(index=st.integers(0, len(KEYS) - 1))
    def read_protected(self, index: int) -> None:
        key = self.keys[index]
        if key.data_fid is None:
            return
        self._open(key)
        assert self._send(A.select_ef(key.data_fid)) == 0x9000
        sw = self._send(A.read_binary(0, 4))
        assert sw == (0x9000 if key.openers & self.verified else 0x6982)

    @rule()
    def reselect(self) -> None:
        if self.current_aid is not None:
            assert self._send(A.select_aid(self.current_aid)) == 0x9000
            self.verified.clear()

    @rule()
    def power_cycle(self) -> None:
        self.card.reset()
        self.current_aid = None
        self.verified.clear()

    @invariant()
    def counters_match(self) -> None:
        if hasattr(self, "keys"):
            for key in self.keys:
                assert self.card.retry_counter(key.counter) == key.remaining


def test_pin_counters_follow_the_model(sim_pki: TestPki) -> None:
    PinMachine.pki_dir = sim_pki.directory
    run_state_machine_as_test(
        PinMachine, settings=settings(max_examples=80, stateful_step_count=40, deadline=None)
    )
