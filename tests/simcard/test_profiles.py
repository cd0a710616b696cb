"""Each profile's distinguishing behaviour, in process (the pcscd versions are in test_vpcd)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509

from drivers.simcard import PROFILES, LinkDropped, make_card
from drivers.simcard.facts import era_yymmdd, my_number_check_digit
from drivers.simcard.pki import TestPki
from madoguchi.errors import ConfigError

from . import apdus as A
from .conftest import CardDriver


def test_unknown_profile_lists_the_valid_names(sim_pki: TestPki) -> None:
    with pytest.raises(ConfigError) as caught:
        make_card("gold", pki_dir=sim_pki.directory)
    for name in PROFILES:
        assert name in str(caught.value)


@pytest.mark.parametrize(
    ("profile", "options"),
    [
        ("standard", {"expired_days": 3}),
        ("expired", {"expired_days": 0}),
        ("pin-blocked", {"blocked_pin": "everything"}),
        ("slow", {"apdu_delay_s": -1}),
        ("flaky", {"drop_after": "5"}),
    ],
)
def test_bad_options_are_config_errors(sim_pki: TestPki, profile: str, options: dict[str, object]
                                       ) -> None:
    with pytest.raises(ConfigError):
        make_card(profile, pki_dir=sim_pki.directory, **options)


def test_facts_are_consistent(std: CardDriver) -> None:
    facts = std.card.facts
    assert facts.my_number[-1] == my_number_check_digit(facts.my_number[:11])
    assert facts.verification_code_b == "60040120344321"  # 昭和60-04-01, 2034, 4321
    assert era_yymmdd(dt.date(1980, 2, 17)) == "550217"  # SOL's tested card
    assert era_yymmdd(dt.date(2019, 5, 1)) == "010501"
    assert facts.pins == {"jpki_auth": "1234", "jpki_sign": "ABC123", "support": "1234",
                          "juki": "1234"}
    assert "1234" not in repr(facts)
    assert facts.my_number not in repr(facts)
    assert std.card.atr == bytes.fromhex("3BE000FF8131FE4514")


def test_face_auth_card(new_card: Callable[..., CardDriver]) -> None:
    card = new_card("face-auth")
    assert card.card.facts.pins == dict.fromkeys(("jpki_auth", "jpki_sign", "support", "juki"))
    card.ok(A.select_aid(A.JPKI))
    for fid in (0x0018, 0x001B):
        card.ok(A.select_ef(fid))
        assert card.sw(A.verify()) == 0x6984  # not set: distinct from blocked (63C0)
        assert card.sw(A.verify("1234")) == 0x6984
    assert card.card.retry_counter("jpki_auth") == 3  # nothing counted
    assert card.sw(A.select_ef(0x0001)) == 0x6A82  # no signature certificate
    assert card.read_file(0x0008) == b"\x00\x8f\x00"
    x509.load_der_x509_certificate(card.read_file(0x000A))  # the auth cert is there
    card.ok(A.select_ef(0x0017))
    assert card.sw(A.compute_signature(A.digest_info(b"x"))) == 0x6982
    card.ok(A.select_aid(A.FACE))
    card.ok(A.select_ef(0x0012))
    card.ok(A.verify(card.card.facts.verification_code_b))
    fields = A.tlv_children(A.unwrap(card.read_file(0x0002))[1])
    assert fields[0xDF2B].decode() == "顔認証"


def test_standard_card_has_no_face_auth_stamp(std: CardDriver) -> None:
    std.ok(A.select_aid(A.FACE))
    std.ok(A.select_ef(0x0013))
    std.ok(A.verify(std.card.facts.my_number))
    assert 0xDF2B not in A.tlv_children(A.unwrap(std.read_file(0x0002))[1])


def test_expired_card(new_card: Callable[..., CardDriver]) -> None:
    card = new_card("expired", expired_days=45)
    expiry = dt.date.today() - dt.timedelta(days=45)
    text = expiry.strftime("%Y%m%d").encode()
    assert card.ok(A.get_data(0x00F2)) == text
    card.ok(A.select_aid(A.COMMON))
    assert card.ok(bytes.fromhex("00B2010C00"))[-8:] == text
    card.ok(A.select_aid(A.JPKI))
    auth = x509.load_der_x509_certificate(card.read_file(0x000A))
    assert auth.not_valid_after_utc.date() == expiry
    assert card.card.facts.verification_code_b[6:10] == f"{expiry.year:04d}"


@pytest.mark.parametrize(
    ("blocked", "counters", "aid", "fid"),
    [
        ("jpki_auth", ("jpki_auth",), A.JPKI, 0x0018),
        ("jpki_sign", ("jpki_sign",), A.JPKI, 0x001B),
        ("support", ("support",), A.SUPPORT, 0x0011),
        ("juki", ("juki", "juki_common"), A.JUKI, 0x001C),
    ],
)
def test_pin_blocked_card(new_card: Callable[..., CardDriver], blocked: str,
                          counters: tuple[str, ...], aid: bytes, fid: int) -> None:
    card = new_card("pin-blocked", blocked_pin=blocked)
    for name in counters:
        assert card.card.retry_counter(name) == 0
    others = {"jpki_auth", "jpki_sign", "support", "juki"} - {blocked}
    assert all(card.card.retry_counter(name) > 0 for name in others)
    card.ok(A.select_aid(aid))
    card.ok(A.select_ef(fid))
    assert card.sw(A.verify()) == 0x63C0
    assert card.sw(A.verify(card.card.facts.pins[blocked])) == 0x6984


def test_under_15_card(new_card: Callable[..., CardDriver]) -> None:
    card = new_card("under-15")
    facts = card.card.facts
    age = dt.date.today().year - facts.birth_date.year
    assert age < 16
    card.ok(A.select_aid(A.JPKI))
    data = card.read_file(0x0008)
    assert data[0] != 0x8F
    assert data[1] == 0x8F
    assert card.sw(A.select_ef(0x0001)) == 0x6A82
    card.ok(A.select_ef(0x001B))
    assert card.sw(A.verify()) == 0x6984  # no signature password set
    card.ok(A.select_ef(0x0018))
    card.ok(A.verify("1234"))  # the auth PIN works


def test_juki_card(new_card: Callable[..., CardDriver]) -> None:
    card = new_card("juki-card")
    card.ok(A.select_aid(A.JPKI))
    assert card.read_file(0x0006)[:32] == b"JPKIAPICCTOKEN".ljust(32)
    for aid in (A.SUPPORT, A.FACE, A.COMMON):
        assert card.sw(A.select_aid(aid)) == 0x6A82
    assert card.sw(A.get_data(0x00F2)) == 0x6A88
    card.ok(A.select_aid(A.JPKI))
    cert = x509.load_der_x509_certificate(card.read_file(0x000A))
    assert cert.public_key().key_size == 1024
    card.ok(A.select_ef(0x0018))
    card.ok(A.verify("1234"))
    card.ok(A.select_ef(0x0017))
    assert len(card.ok(A.compute_signature(A.digest_info(b"x")))) == 128
    card.ok(A.select_aid(A.JUKI))


def test_android_token(new_card: Callable[..., CardDriver]) -> None:
    card = new_card("android")
    assert card.card.atr == bytes.fromhex("3B80800101")
    card.ok(A.select_aid(A.JPKI))
    assert card.read_file(0x0006)[:32] == b"JPKIAPGPSETOKEN".ljust(32)
    card.ok(A.select_ef(0x000A))
    assert card.sw(A.read_binary(0, 4)) == 0x6982  # auth cert behind the auth PIN
    card.ok(A.select_ef(0x0018))
    card.ok(A.verify("1234"))
    x509.load_der_x509_certificate(card.read_file(0x000A))
    for aid in (A.SUPPORT, A.FACE, A.JUKI, A.COMMON):
        assert card.sw(A.select_aid(aid)) == 0x6A82


def test_slow_card_sleeps_per_apdu(new_card: Callable[..., CardDriver]) -> None:
    import time

    card = new_card("slow", apdu_delay_s=0.05)
    started = time.monotonic()
    for _ in range(3):
        card.ok(A.select_aid(A.JPKI))
    # time.sleep never returns early: a lower bound, not a speed assertion.
    assert time.monotonic() - started >= 0.15


def test_flaky_card_drops_after_n_and_comes_back_after_power(
    new_card: Callable[..., CardDriver],
) -> None:
    card = new_card("flaky", drop_after=3)
    card.ok(A.select_aid(A.JPKI))
    card.ok(A.select_ef(0x0018))
    assert card.sw(A.verify()) == 0x63C3
    with pytest.raises(LinkDropped):
        card(A.verify("9999"))  # executed, then the link drops: the try is spent
    with pytest.raises(LinkDropped):
        card(A.select_aid(A.JPKI))  # stays down until powered again
    assert card.card.retry_counter("jpki_auth") == 2
    card.card.reset()
    card.ok(A.select_aid(A.JPKI))
