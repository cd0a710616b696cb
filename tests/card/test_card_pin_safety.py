"""PIN safety against the virtual card: counters read first, no VERIFY at 0, the last try only
when confirmed, no retry, re-read after a card pulled mid-VERIFY, PINs wiped and never shown."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from device.card import errors
from device.card.layout import Application, PinKind
from device.card.pins import PinState
from device.card.reading import identity_check, read_basic4, tap_to_ready
from device.card.session import CardSession
from drivers.transport.sim import SimReader
from madoguchi.errors import CardRemovedError

SimFactory = Callable[..., tuple[SimReader, CardSession]]
WRONG = b"9876"


def spend_to(session: CardSession, reader: SimReader, left: int) -> None:
    """Spend JPKI auth tries with wrong PINs until ``left`` remain (confirming the last)."""
    assert reader.card is not None
    while reader.card.retry_counter("jpki_auth") > left:
        with pytest.raises(errors.WrongPinError):
            session.verify(PinKind.JPKI_AUTH, bytearray(WRONG), confirm_last_try=True)


def verify_commands(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("00 20")]


def test_wrong_pin_reports_remaining_and_is_not_retried(
    sim_session: SimFactory, caplog: pytest.LogCaptureFixture
) -> None:
    reader, session = sim_session()
    assert reader.card is not None
    caplog.set_level(logging.DEBUG, logger="drivers.transport.base")
    pin = bytearray(WRONG)
    with pytest.raises(errors.WrongPinError) as info:
        session.verify(PinKind.JPKI_AUTH, pin)
    assert info.value.remaining == 2
    assert reader.card.retry_counter("jpki_auth") == 2
    # exactly one query and one VERIFY with data: the query came first, nothing was resent
    commands = verify_commands(caplog)
    assert commands[0].startswith("00 20 00 80 +0B")
    assert commands[1].startswith("00 20 00 80 +5B")
    assert len(commands) == 2
    assert pin == bytearray(4)


def test_last_try_needs_confirmation(sim_session: SimFactory) -> None:
    reader, session = sim_session()
    assert reader.card is not None
    spend_to(session, reader, 1)
    pin = bytearray(b"1234")
    with pytest.raises(errors.LastTryNotConfirmedError, match="confirm"):
        session.verify(PinKind.JPKI_AUTH, pin)
    assert pin == bytearray(4), "PIN wiped on the refusal path too"
    assert reader.card.retry_counter("jpki_auth") == 1
    status = session.verify(PinKind.JPKI_AUTH, bytearray(b"1234"), confirm_last_try=True)
    assert status.state is PinState.VERIFIED
    assert reader.card.retry_counter("jpki_auth") == 3


def test_never_verify_at_zero(sim_session: SimFactory, caplog: pytest.LogCaptureFixture) -> None:
    reader, session = sim_session()
    assert reader.card is not None
    spend_to(session, reader, 0)
    caplog.set_level(logging.DEBUG, logger="drivers.transport.base")
    caplog.clear()
    with pytest.raises(errors.PinExhaustedError):
        session.verify(PinKind.JPKI_AUTH, bytearray(b"1234"), confirm_last_try=True)
    assert all(c.startswith("00 20 00 80 +0B") for c in verify_commands(caplog))
    assert reader.card.retry_counter("jpki_auth") == 0


def test_blocked_profile_is_refused_without_verify(sim_session: SimFactory) -> None:
    _reader, session = sim_session("pin-blocked", blocked_pin="support")
    with pytest.raises(errors.PinExhaustedError):
        read_basic4(session, bytearray(b"1234"), key=PinKind.SUPPORT, confirm_last_try=True)


def test_unset_pins_of_face_auth_are_not_tried(sim_session: SimFactory) -> None:
    _reader, session = sim_session("face-auth")
    with pytest.raises(errors.PinNotSetError, match="never set"):
        session.verify(PinKind.JPKI_AUTH, bytearray(b"1234"))


def test_bad_form_sends_nothing(sim_session: SimFactory) -> None:
    _, session = sim_session()
    pin = bytearray(b"12a")
    with pytest.raises(errors.PinFormatError):
        session.verify(PinKind.JPKI_AUTH, pin)
    assert session.apdus == 0
    assert pin == bytearray(3)


NEXT_OPERATIONS: dict[str, Callable[[CardSession], object]] = {
    "challenge": lambda session: session.get_challenge(),
    "read": lambda session: session.read_exact(Application.JPKI, 0x0006, 32),
    "tap": tap_to_ready,
    "other_pin": lambda session: session.pin_status(PinKind.JPKI_AUTH),
}


@pytest.mark.parametrize("operation", sorted(NEXT_OPERATIONS))
def test_card_pulled_mid_verify_forces_a_reread_first(
    operation: str, sim_session: SimFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # flaky, drop_after=3: SELECT AP (1), SELECT EF (2), query (3); the VERIFY (4) is
    # executed by the card and then the link drops, as a card pulled mid-command can.
    reader, session = sim_session("flaky", drop_after=3)
    pin = bytearray(WRONG)
    with pytest.raises(CardRemovedError):
        session.verify(PinKind.SUPPORT, pin)
    assert pin == bytearray(4)
    assert PinKind.SUPPORT in session.stale_counters
    assert session.last_status(PinKind.SUPPORT) is None

    reader.insert()
    session.reattach(reader.connect())
    caplog.set_level(logging.DEBUG, logger="drivers.transport.base")
    # The flaky card drops its 4th APDU after every power-on: here the GET CHALLENGE,
    # which the session may only send after re-reading the counter (APDUs 1-3).
    with pytest.raises(CardRemovedError):
        NEXT_OPERATIONS[operation](session)
    sent = [r.getMessage().split(" -> ")[0] for r in caplog.records]
    assert sent == ["00 A4 04 0C +11B", "00 A4 02 0C +3B", "00 20 00 80 +0B"]
    assert not session.stale_counters
    status = session.last_status(PinKind.SUPPORT)
    assert status is not None
    assert status.remaining == 2  # the asked-for try was spent, once


def test_reread_of_the_same_key_is_one_query(sim_session: SimFactory) -> None:
    reader, session = sim_session("flaky", drop_after=3)
    with pytest.raises(CardRemovedError):
        session.verify(PinKind.SUPPORT, bytearray(WRONG))
    reader.insert()
    session.reattach(reader.connect())
    status = session.pin_status(PinKind.SUPPORT)  # 3 APDUs; a 4th would drop the link
    assert status.remaining == 2
    assert session.apdus == 3


def test_card_pulled_before_verify_spends_nothing(sim_session: SimFactory) -> None:
    # drop_after=2: the query (3rd APDU) drops; the VERIFY is never sent.
    reader, session = sim_session("flaky", drop_after=2)
    with pytest.raises(CardRemovedError):
        session.verify(PinKind.SUPPORT, bytearray(WRONG))
    reader.insert()
    assert reader.card is not None
    assert reader.card.retry_counter("support") == 3


def test_secrets_never_in_logs_errors_or_reprs(
    sim_session: SimFactory, caplog: pytest.LogCaptureFixture
) -> None:
    reader, session = sim_session()
    assert reader.card is not None
    facts = reader.card.facts
    caplog.set_level(logging.DEBUG)
    secrets = [WRONG.decode(), "1234", facts.verification_code_b, facts.my_number]
    texts: list[str] = []
    try:
        session.verify(PinKind.JPKI_AUTH, bytearray(WRONG))
    except errors.WrongPinError as exc:
        texts += [str(exc), repr(exc)]
    report = identity_check(session, bytearray(facts.verification_code_b.encode()), None)
    texts += [repr(report), repr(report.basic4), repr(report.card_face), repr(session)]
    texts += [r.getMessage() for r in caplog.records]
    blob = "\n".join(texts)
    for secret in secrets:
        assert secret not in blob
        assert secret.encode().hex().upper() not in blob.upper()
    assert facts.name not in blob


def test_change_pins(sim_session: SimFactory) -> None:
    reader, session = sim_session()
    assert reader.card is not None
    session.change_pin(PinKind.JPKI_AUTH, bytearray(b"1234"), bytearray(b"5678"))
    session.change_pin(PinKind.JPKI_SIGN, bytearray(b"abc123"), bytearray(b"XYZ789"))
    session.change_pin(PinKind.SUPPORT, bytearray(b"1234"), bytearray(b"2468"))
    # The 住基 PIN has two key refs; a change sets both.
    session.change_pin(PinKind.JUKI, bytearray(b"1234"), bytearray(b"1357"))
    session.change_pin(PinKind.JUKI_LEGACY, bytearray(b"1234"), bytearray(b"1357"))
    reader.insert()  # power cycle: nothing stays verified
    fresh = CardSession(reader.connect())
    for kind, value in ((PinKind.JPKI_AUTH, b"5678"), (PinKind.JPKI_SIGN, b"XYZ789"),
                        (PinKind.SUPPORT, b"2468"), (PinKind.JUKI, b"1357"),
                        (PinKind.JUKI_LEGACY, b"1357")):
        assert fresh.verify(kind, bytearray(value)).state is PinState.VERIFIED


def test_change_refuses_bad_new_pin_before_any_apdu(sim_session: SimFactory) -> None:
    _, session = sim_session()
    current, new = bytearray(b"1234"), bytearray(b"12")
    with pytest.raises(errors.PinFormatError):
        session.change_pin(PinKind.JPKI_AUTH, current, new)
    assert session.apdus == 0
    assert current == bytearray(4)
    assert new == bytearray(2)


def test_basic4_with_the_support_pin(sim_session: SimFactory) -> None:
    reader, session = sim_session()
    assert reader.card is not None
    info = read_basic4(session, bytearray(b"1234"), key=PinKind.SUPPORT)
    assert info.name == reader.card.facts.name


def test_logout_unverifies(sim_session: SimFactory) -> None:
    from device.card.errors import SecurityStatusError

    reader, session = sim_session()
    assert reader.card is not None
    read_basic4(session, bytearray(reader.card.facts.verification_code_b.encode()))
    session.logout()
    with pytest.raises(SecurityStatusError):
        session.read_tlv_file(Application.SUPPORT, 0x0002)
