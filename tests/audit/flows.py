"""The card flows the audit runs on a real transport, recording everything a leak could hide in.

One :func:`run_card_flow` call is a counter's whole card session: tap-to-ready, a wrong and a
right VERIFY of each holder PIN, a PIN change, the last-try guard, bad-form input, and the
identity check through 照合番号B (wrong, then right). It returns what a scan must look at:
every exception raised and every object involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from device.card.chip import TrustAnchors
from device.card.errors import LastTryNotConfirmedError, PinFormatError, WrongPinError
from device.card.layout import PinKind
from device.card.pins import PinState
from device.card.reading import identity_check, tap_to_ready
from device.card.session import CardSession
from drivers.simcard import CardFacts
from tests.audit.conftest import ApduRecorder
from tests.audit.leaks import Secrets

#: Wrong values a test types (4-digit PINs, the signature password, 照合番号B).
WRONG_DIGITS = "5807"
WRONG_PASSWORD = "XYZ789"
WRONG_COLLATION_B = "59123120291357"
NEW_PIN = "2468"
MALFORMED = "9x8"


def card_secrets(facts: CardFacts) -> Secrets:
    """The card's own secrets plus every wrong, new or malformed value the flow types."""
    secrets = Secrets.of_card(facts)
    secrets.add("wrong PIN", WRONG_DIGITS)
    secrets.add("wrong password", WRONG_PASSWORD)
    secrets.add("wrong 照合番号B", WRONG_COLLATION_B)
    secrets.add("new PIN", NEW_PIN)
    secrets.add("malformed PIN", MALFORMED)
    return secrets


def _pin(kind: PinKind, facts: CardFacts) -> str:
    value = {
        PinKind.JUKI: facts.juki_pin,
        PinKind.JPKI_AUTH: facts.auth_pin,
        PinKind.JPKI_SIGN: facts.sign_password,
        PinKind.SUPPORT: facts.support_pin,
    }[kind]
    assert value is not None
    return value


def _zeroed(buffer: bytearray) -> bool:
    return buffer == bytearray(len(buffer))


@dataclass
class FlowResult:
    """What one flow left behind for the scan."""

    errors: list[BaseException] = field(default_factory=list)
    objects: list[object] = field(default_factory=list)
    buffers: list[bytearray] = field(default_factory=list)
    verify_calls: int = 0


def run_card_flow(
    session: CardSession, facts: CardFacts, anchors: TrustAnchors
) -> FlowResult:
    """The whole card session of one applicant; asserts each step did what it should."""
    result = FlowResult()

    def verify(kind: PinKind, value: str, **kwargs: bool) -> object:
        buffer = bytearray(value.encode("ascii"))
        result.buffers.append(buffer)
        result.verify_calls += 1
        return session.verify(kind, buffer, **kwargs)

    def refused(error: type[BaseException], call: object, *args: object, **kw: object) -> None:
        with pytest.raises(error) as info:
            call(*args, **kw)  # type: ignore[operator]
        result.errors.append(info.value)

    ready = tap_to_ready(session)
    result.objects += [ready, *ready.pins.values()]

    for kind in (PinKind.JUKI, PinKind.JPKI_AUTH, PinKind.JPKI_SIGN, PinKind.SUPPORT):
        wrong = WRONG_PASSWORD if kind is PinKind.JPKI_SIGN else WRONG_DIGITS
        refused(WrongPinError, verify, kind, wrong)
        result.objects.append(verify(kind, _pin(kind, facts)))

    # A malformed PIN is refused before any APDU and its buffer still wiped.
    refused(PinFormatError, verify, PinKind.JPKI_AUTH, MALFORMED)
    result.verify_calls -= 1  # never reached the card

    # PIN change (wrong current first, then right), then the new PIN verifies.
    for current in (WRONG_DIGITS, _pin(PinKind.JPKI_AUTH, facts)):
        old, new = bytearray(current.encode()), bytearray(NEW_PIN.encode())
        result.buffers += [old, new]
        result.verify_calls += 1
        if current == WRONG_DIGITS:
            refused(WrongPinError, session.change_pin, PinKind.JPKI_AUTH, old, new)
        else:
            session.change_pin(PinKind.JPKI_AUTH, old, new)
    result.objects.append(verify(PinKind.JPKI_AUTH, NEW_PIN))

    # Two wrong tries leave the last one: it is not sent without confirmation.
    refused(WrongPinError, verify, PinKind.SUPPORT, WRONG_DIGITS)
    refused(WrongPinError, verify, PinKind.SUPPORT, WRONG_DIGITS)
    before = session.pin_status(PinKind.SUPPORT)
    assert before.state is PinState.LAST_TRY
    refused(LastTryNotConfirmedError, verify, PinKind.SUPPORT, _pin(PinKind.SUPPORT, facts))
    result.verify_calls -= 1  # refused before the VERIFY
    assert session.pin_status(PinKind.SUPPORT).remaining == 1
    result.objects.append(
        verify(PinKind.SUPPORT, _pin(PinKind.SUPPORT, facts), confirm_last_try=True)
    )

    # Identity check through 照合番号B: wrong, then right.
    wrong_b = bytearray(WRONG_COLLATION_B.encode())
    result.buffers.append(wrong_b)
    result.verify_calls += 1
    refused(WrongPinError, identity_check, session, wrong_b, anchors)
    right_b = bytearray(facts.verification_code_b.encode())
    result.buffers.append(right_b)
    result.verify_calls += 2  # 入力補助 and 券面 keys
    report = identity_check(session, right_b, anchors)
    assert report.genuine is True
    assert report.basic4 is not None
    assert report.card_face is not None
    result.objects += [report, report.basic4, report.card_face, *report.checks]
    result.objects.append(session)
    return result


def assert_pin_discipline(recorder: ApduRecorder, result: FlowResult) -> None:
    """Buffers wiped; each key-bearing VERIFY right after a tries query; no repeats."""
    assert result.buffers
    assert all(_zeroed(b) for b in result.buffers), "a PIN buffer was not wiped"
    keyed = recorder.key_commands()
    assert keyed, "no key-bearing command was seen"
    for sent in keyed:
        assert isinstance(sent.secret_buffer, bytearray), "a key-bearing APDU was a bytes copy"
        assert _zeroed(sent.secret_buffer), f"APDU {sent.header.hex(' ')} was not wiped"
    verifies = [i for i, s in enumerate(recorder.sent) if s.carries_key and s.header[1] == 0x20]
    assert len(verifies) == result.verify_calls, "VERIFYs sent != VERIFYs asked: a retry?"
    for index in verifies:
        assert index > 0
        assert recorder.sent[index - 1].is_query, (
            f"VERIFY #{index} was not immediately preceded by a tries-left query"
        )
