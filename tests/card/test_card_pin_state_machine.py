"""Property: random sequences of what a clerk and an applicant can do never spend a try that
the user did not ask for — through pulls, link drops, blocked keys and the last-try rule.

Each rule is a user action on a session over the in-process virtual card (a ``flaky`` card
drops the link after a random number of APDUs, as a card pulled off the reader does). After
every action, each retry counter on the card is compared with the one before: only a VERIFY
the user asked for may lower it, by at most one, never at 0, and at 1 only when confirmed.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from device.card.layout import PinKind
from device.card.reading import identity_check, read_basic4, tap_to_ready
from device.card.session import CardSession
from drivers.transport.sim import SimReader
from madoguchi.errors import CardRemovedError, MadoguchiError

#: PinKind -> the virtual card's counter name.
COUNTER = {
    PinKind.JUKI: "juki_common",
    PinKind.JPKI_AUTH: "jpki_auth",
    PinKind.JPKI_SIGN: "jpki_sign",
    PinKind.SUPPORT: "support",
    PinKind.SUPPORT_COLLATION_B: "support_b",
    PinKind.CARD_FACE_COLLATION_B: "face_b",
}
WRONG = {
    PinKind.JUKI: b"9876", PinKind.JPKI_AUTH: b"9876", PinKind.SUPPORT: b"9876",
    PinKind.JPKI_SIGN: b"WRONG1", PinKind.SUPPORT_COLLATION_B: b"11111111111111",
    PinKind.CARD_FACE_COLLATION_B: b"11111111111111",
}
_PKI = Path(tempfile.mkdtemp(prefix="card-sm-pki-"))
atexit.register(shutil.rmtree, _PKI, True)


class PinSafetyMachine(RuleBasedStateMachine):
    """User actions against one card; the invariant is checked after each."""

    reader: SimReader
    session: CardSession

    @initialize(
        profile=st.sampled_from(["standard", "flaky", "pin-blocked"]),
        drop_after=st.integers(2, 40),
    )
    def start(self, profile: str, drop_after: int) -> None:
        options: dict[str, Any] = {}
        if profile == "flaky":
            options["drop_after"] = drop_after
        self.reader = SimReader(profile=profile, pki_dir=_PKI, **options)
        card = self.reader.card
        assert card is not None
        self.facts = card.facts
        self.session = CardSession(self.reader.connect())
        self.before = self.counters()
        self.asked: PinKind | None = None
        self.confirmed = False

    def counters(self) -> dict[PinKind, int]:
        card = self.reader.card
        if card is None:
            self.reader.insert()
            card = self.reader.card
        assert card is not None
        return {kind: card.retry_counter(name) for kind, name in COUNTER.items()}

    def _correct(self, kind: PinKind) -> bytes:
        if kind in (PinKind.SUPPORT_COLLATION_B, PinKind.CARD_FACE_COLLATION_B):
            return self.facts.verification_code_b.encode()
        name = "juki" if kind is PinKind.JUKI else kind.value
        value = self.facts.pins[name]
        assert value is not None
        return value.encode()

    def _act(self, action: object, asked: PinKind | None = None, confirm: bool = False) -> None:
        self.before = self.counters()
        self.asked, self.confirmed = asked, confirm
        try:
            action()  # type: ignore[operator]
        except CardRemovedError:
            self.reader.insert()
            self.session.reattach(self.reader.connect())
        except MadoguchiError:
            pass  # typed refusals and wrong PINs are outcomes, not failures

    @rule(
        kind=st.sampled_from(list(COUNTER)[:4]),
        correct=st.booleans(),
        confirm=st.booleans(),
    )
    def verify(self, kind: PinKind, correct: bool, confirm: bool) -> None:
        value = self._correct(kind) if correct else WRONG[kind]
        self._act(
            lambda: self.session.verify(kind, bytearray(value), confirm_last_try=confirm),
            kind, confirm,
        )

    @rule(
        kind=st.sampled_from(list(COUNTER)[:4]),
        correct=st.booleans(),
        confirm=st.booleans(),
    )
    def change_pin(self, kind: PinKind, correct: bool, confirm: bool) -> None:
        # The new value is the current one, so the model's PINs stay right.
        current = self._correct(kind) if correct else WRONG[kind]
        new = bytearray(self._correct(kind))
        self._act(
            lambda: self.session.change_pin(
                kind, bytearray(current), new, confirm_last_try=confirm
            ),
            kind, confirm,
        )

    @rule(kind=st.sampled_from(list(COUNTER)[:4]))
    def query(self, kind: PinKind) -> None:
        self._act(lambda: self.session.pin_status(kind))

    @rule()
    def tap(self) -> None:
        self._act(lambda: tap_to_ready(self.session))

    @rule(correct=st.booleans(), confirm=st.booleans())
    def basic4_with_b(self, correct: bool, confirm: bool) -> None:
        kind = PinKind.SUPPORT_COLLATION_B
        value = self._correct(kind) if correct else WRONG[kind]
        self._act(
            lambda: read_basic4(self.session, bytearray(value), confirm_last_try=confirm),
            kind, confirm,
        )

    @rule(correct=st.booleans())
    def identity(self, correct: bool) -> None:
        value = self._correct(PinKind.SUPPORT_COLLATION_B) if correct else WRONG[
            PinKind.SUPPORT_COLLATION_B
        ]
        # Two keys are asked for here (入力補助 B and 券面 B); model it as "either".
        self.before = self.counters()
        self.asked, self.confirmed = None, False
        try:
            identity_check(self.session, bytearray(value), None)
        except CardRemovedError:
            self.reader.insert()
            self.session.reattach(self.reader.connect())
        except MadoguchiError:
            pass
        after = self.counters()
        for kind in COUNTER:
            if kind in (PinKind.SUPPORT_COLLATION_B, PinKind.CARD_FACE_COLLATION_B):
                assert after[kind] >= self.before[kind] - 1
            else:
                assert after[kind] >= self.before[kind], f"{kind.value} spent by identity check"
        self.before = after

    @rule()
    def pull_and_reinsert(self) -> None:
        self.reader.remove()
        self.reader.insert()
        self.session.reattach(self.reader.connect())
        self.before = self.counters()
        self.asked = None

    @rule()
    def challenge(self) -> None:
        self._act(self.session.get_challenge)

    @invariant()
    def no_unasked_try_spent(self) -> None:
        if not hasattr(self, "reader"):
            return
        after = self.counters()
        for kind, before in self.before.items():
            if kind is self.asked:
                assert after[kind] >= before - 1 or after[kind] == kind.key.max_tries
                if before == 0:
                    assert after[kind] == 0, "VERIFY sent to a blocked key"
                if before == 1 and not self.confirmed:
                    assert after[kind] == 1, "last try spent without confirmation"
            else:
                assert after[kind] >= before, f"{kind.value}: a try was spent unasked"
        self.before = after
        self.asked = None


PinSafetyMachine.TestCase.settings = settings(
    max_examples=80,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPinSafety = PinSafetyMachine.TestCase

