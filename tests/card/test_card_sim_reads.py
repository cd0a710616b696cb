"""Tap-to-ready and the identity check against every virtual-card profile (in process)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from device.card import layout
from device.card.atr import Capabilities
from device.card.chip import TrustAnchors
from device.card.data import Sex, TokenType
from device.card.kind import CardKind, Condition, classify
from device.card.layout import PinKind
from device.card.pins import PinState
from device.card.reading import identity_check, read_certificate, tap_to_ready
from device.card.session import CardSession
from drivers.simcard import PROFILES
from drivers.transport.sim import SimReader

SimFactory = Callable[..., tuple[SimReader, CardSession]]
OPTIONS: dict[str, dict[str, Any]] = {"slow": {"apdu_delay_s": 0.0}, "flaky": {"drop_after": 1000}}
COUNTERS = ("juki", "juki_common", "jpki_auth", "jpki_sign", "support", "support_b", "face_b")


def counters(reader: SimReader) -> dict[str, int]:
    card = reader.card
    assert card is not None
    found = {}
    for name in COUNTERS:
        try:
            found[name] = card.retry_counter(name)
        except KeyError:
            continue
    return found


EXPECTED_KIND = {
    "standard": CardKind.STANDARD, "face-auth": CardKind.FACE_AUTH, "expired": CardKind.STANDARD,
    "pin-blocked": CardKind.STANDARD, "under-15": CardKind.STANDARD,
    "juki-card": CardKind.JUKI_CARD, "android": CardKind.SMARTPHONE,
    "counterfeit": CardKind.STANDARD, "slow": CardKind.STANDARD, "flaky": CardKind.STANDARD,
    "defective": CardKind.STANDARD,
}
#: What the identity check concludes where it is not "genuine" (defective: its CV
#: certificates cannot be read, so the card cannot be shown genuine).
GENUINE = {"counterfeit": False, "defective": None}


@pytest.mark.parametrize("profile", PROFILES)
def test_tap_to_ready_every_profile(
    profile: str, sim_session: SimFactory, anchors: TrustAnchors
) -> None:
    reader, session = sim_session(profile, **OPTIONS.get(profile, {}))
    assert reader.card is not None
    facts = reader.card.facts
    before = counters(reader)
    ready = tap_to_ready(session)
    assert ready.apdus <= 16
    assert counters(reader) == before, "tap-to-ready spent a try"
    assert ready.token is not None
    assert ready.token.name == facts.token
    if facts.has_text_aps:
        assert ready.expiry == facts.expiry_date
        assert ready.extended_length is True
    juki = ready.pins[PinKind.JUKI]
    if profile == "android":
        assert juki is None
        assert ready.pins[PinKind.SUPPORT] is None
    else:
        assert juki is not None
    for kind, name in ((PinKind.JPKI_AUTH, "jpki_auth"), (PinKind.SUPPORT, "support")):
        status = ready.pins[kind]
        if status is not None and status.state is not PinState.UNUSABLE:
            assert status.remaining == before[name]
    assert ready.certificates is not None
    assert ready.certificates.sign is facts.has_sign_certificate

    identity = None
    if facts.has_text_aps:
        identity = identity_check(
            session, bytearray(facts.verification_code_b.encode()), anchors
        )
        assert ready.apdus + identity.apdus <= 30
        assert identity.basic4 is not None
        assert identity.card_face is not None
        assert identity.basic4.name == facts.name
        assert identity.basic4.address == facts.address
        assert identity.basic4.birth_date == facts.birth_date
        assert identity.basic4.sex is Sex(facts.sex)
        assert identity.card_face.expiry == facts.expiry_date
        assert identity.card_face.photo[:12] == bytes.fromhex("0000000C6A5020200D0A870A")
        assert identity.genuine is GENUINE.get(profile, True)
        assert identity.test_card or profile == "defective"  # its CV certificates: unread
    result = classify(ready, today=dt.date.today(), identity=identity)
    assert result.kind is EXPECTED_KIND[profile]
    if profile == "counterfeit":
        assert Condition.COUNTERFEIT_SUSPECT in result.conditions
    if profile == "expired":
        assert Condition.EXPIRED_WITHIN_GRACE in result.conditions
    if profile == "pin-blocked":
        assert result.blocked_pins == [PinKind.JPKI_AUTH]
    if profile == "under-15":
        assert Condition.NO_SIGN_CERTIFICATE in result.conditions
        assert Condition.PIN_BLOCKED not in result.conditions
    if profile == "face-auth":
        assert any("顔認証" in note for note in result.uncertain)
        assert result.blocked_pins == []


def test_face_auth_is_inferred_without_the_card_face(sim_session: SimFactory) -> None:
    _, session = sim_session("face-auth")
    result = classify(tap_to_ready(session), today=dt.date.today())
    assert result.kind is CardKind.FACE_AUTH
    assert any("no public source" in note.lower() for note in result.uncertain)


def test_expired_beyond_grace(sim_session: SimFactory) -> None:
    _, session = sim_session("expired", expired_days=400)
    result = classify(tap_to_ready(session), today=dt.date.today())
    assert Condition.EXPIRED_BEYOND_GRACE in result.conditions


def test_auth_certificate_reads_and_parses(sim_session: SimFactory, anchors: TrustAnchors) -> None:
    _, session = sim_session()
    tap_to_ready(session)
    before = session.apdus
    cert = read_certificate(session, layout.JPKI_AUTH_CERT)
    assert session.apdus - before == 2  # SELECT JPKI + one extended READ
    issuer = anchors.ca_certificates["jpki-auth-ca"]
    assert cert.issuer == issuer.subject


def test_short_reads_without_advertised_extended_length(sim_session: SimFactory) -> None:
    """A card that never advertises extended Le is read in 256-byte chunks, still correctly."""
    reader, _ = sim_session()
    session = CardSession(reader.connect(), capabilities=Capabilities(), probe_capabilities=False)
    cert = read_certificate(session, layout.JPKI_AUTH_CERT)
    cert_der_len = len(cert.public_bytes(Encoding.DER))
    assert session.extended_length is None
    assert session.apdus == 1 + -(-cert_der_len // 256)


def test_android_auth_certificate_needs_pin(sim_session: SimFactory) -> None:
    from device.card.errors import SecurityStatusError

    _, session = sim_session("android")
    with pytest.raises(SecurityStatusError, match="EF 000A"):
        read_certificate(session, layout.JPKI_AUTH_CERT)
    assert ready_token(session) is TokenType.ANDROID


def ready_token(session: CardSession) -> TokenType | None:
    token = tap_to_ready(session).token
    return None if token is None else token.token_type


def test_jpki_certificates_chain_to_the_configured_cas(
    sim_session: SimFactory, anchors: TrustAnchors
) -> None:
    from device.card.chip import verify_jpki_certificate
    from device.card.errors import TrustAnchorError
    from device.card.reading import read_sign_certificate

    _, session = sim_session()
    tap_to_ready(session)
    auth = read_certificate(session, layout.JPKI_AUTH_CERT)
    auth_ca = read_certificate(session, layout.JPKI_AUTH_CA_CERT)
    assert auth_ca == anchors.ca_certificates["jpki-auth-ca"]
    assert verify_jpki_certificate(auth, anchors) == "jpki-auth-ca"
    sign = read_sign_certificate(session, bytearray(b"ABC123"))
    assert verify_jpki_certificate(sign, anchors) == "jpki-sign-ca"
    with pytest.raises(TrustAnchorError):
        verify_jpki_certificate(auth, TrustAnchors({}, {}))
