"""The virtual card's command set, in process: selection, reading, PINs, signing, errors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from drivers.simcard.apdu import Command, parse_command

from . import apdus as A
from .conftest import CardDriver, big_file_card


def test_apdu_cases_short_and_extended() -> None:
    assert parse_command(b"\x00\xa4") == 0x6700
    assert parse_command(bytes.fromhex("00200080")) == Command(0, 0x20, 0, 0x80, b"", None, False)
    assert parse_command(bytes.fromhex("00B0000000")).ne == 256  # type: ignore[union-attr]
    case4 = parse_command(bytes.fromhex("802A00800301020300"))
    assert isinstance(case4, Command)
    assert case4.data == b"\x01\x02\x03"
    assert case4.ne == 256
    ext2 = parse_command(bytes.fromhex("00B00000000000"))
    assert isinstance(ext2, Command)
    assert ext2.extended
    assert ext2.ne == 65536
    ext4 = parse_command(bytes.fromhex("00CA00F200000201020000"))
    assert isinstance(ext4, Command)
    assert ext4.data == b"\x01\x02"
    assert ext4.ne == 65536
    assert parse_command(bytes.fromhex("00A4040C05D392")) == 0x6700  # Lc lies
    assert parse_command(bytes.fromhex("00B0000000FF")) == 0x6700  # 6 bytes, b4 = 0


def test_power_on_state_is_mf_level(std: CardDriver) -> None:
    assert std.sw(bytes.fromhex("00A40000")) == 0x6A86  # select MF right after reset
    assert std.sw(A.select_ef(0x000A)) == 0x6A82  # no AP: no EF
    assert std.ok(A.get_data(0x00F2)) == std.card.facts.expiry_date.strftime("%Y%m%d").encode()
    assert std.sw(bytes.fromhex("00A4000C023F00")) == 0x6A82
    std.ok(A.select_aid(A.JPKI))
    assert std.sw(bytes.fromhex("00A40000")) == 0x9000  # "9000, no change" (SOL)
    assert std.sw(A.get_data(0x00F2)) == 0x6A88  # MF objects only at MF level
    std.ok(A.select_aid(bytes.fromhex("A0000001510000")))  # ISD: back to MF level
    assert std.sw(A.get_data(0x00F2)) == 0x9000


def test_unknown_aid_and_ef_answer_6a82(std: CardDriver) -> None:
    assert std.sw(A.select_aid(bytes.fromhex("A000000063504B43532D3135"))) == 0x6A82
    assert std.sw(A.select_aid(bytes.fromhex("D392F000260100000002"))) == 0x6A82
    std.ok(A.select_aid(A.JPKI))
    assert std.sw(A.select_ef(0x0005)) == 0x6A82
    assert std.sw(A.select_ef(0x3F00)) == 0x6A82


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00A4", 0x6700),  # shorter than a header
        ("00A4040C", 0x6700),  # SELECT AID without data
        ("00A4020C0300010A", 0x6700),  # FID of 3 bytes
        ("00A4050C020001", 0x6A86),  # bad P1
        ("00A4040102D392", 0x6A86),  # bad P2
        ("00B0000003AA", 0x6700),  # READ BINARY with a data field
        ("00B00000", 0x6700),  # READ BINARY without Le
        ("00B0E00000", 0x6A86),  # SFI form with b7-b6 set
        ("00EE000000", 0x6D00),  # unknown INS
        ("002A9E9A00", 0x6E00),  # PSO: a known INS, wrong class
        ("8020008000", 0x6E00),  # VERIFY under CLA 80
        ("A0A4040C02D392", 0x6E00),  # unknown CLA
        ("0CA4040C02D392", 0x6882),  # secure messaging
        ("01A4040C02D392", 0x6881),  # logical channel
        ("00840102", 0x6700),  # GET CHALLENGE without Le
        ("0084000000000008", 0x6700),  # extended Le of 7 bytes header = case 2E? no: Lc 0 -> 6700
        ("00840000000008", 0x6985),  # extended GET CHALLENGE (SOL)
        ("0084010008", 0x6A86),
        ("80FC000000", 0x6700),  # the iPhone "last command" on a plastic card
    ],
)
def test_malformed_commands(std: CardDriver, apdu: str, sw: int) -> None:
    std.ok(A.select_aid(A.JPKI))
    assert std.sw(bytes.fromhex(apdu)) == sw


def test_read_binary_short_extended_sfi_and_end(std: CardDriver) -> None:
    std.ok(A.select_aid(A.JPKI))
    std.ok(A.select_ef(0x000A))
    head = std.ok(A.read_binary(0, 4))
    assert head[:2] == b"\x30\x82"
    size = int.from_bytes(head[2:4], "big") + 4
    assert size > 256
    assert len(std.ok(A.read_binary(0, 0))) == 256  # Le 00 = 256
    whole = std.ok(A.read_binary_extended(0, 0))  # extended Le 0000 = 65536, capped
    assert len(whole) == size
    x509.load_der_x509_certificate(whole)
    assert std.ok(A.read_binary(size - 3, 0)) == whole[-3:]  # short tail, 9000
    assert std.sw(A.read_binary(size, 0)) == 0x6B00
    assert std.ok(bytes.fromhex("00B08A0000")) == whole[:256]  # SFI 0A, no SELECT
    assert std.ok(bytes.fromhex("00B08B0010"))[:2] == b"\x30\x82"  # SFI 0B: auth CA


def test_extended_read_capped_at_vpcd_frame(std: CardDriver) -> None:
    std.ok(A.select_aid(A.FACE))
    std.ok(A.select_ef(0x0013))
    std.ok(A.verify(std.card.facts.my_number))
    std.ok(A.select_ef(0x0002))
    face = std.ok(A.read_binary_extended(0, 0))
    assert face[:2] == b"\xff\x20"
    assert len(face) > 3000
    assert len(face) <= 65_533


def test_wrong_pin_counts_down_to_63c0_then_6984(std: CardDriver) -> None:
    std.ok(A.select_aid(A.JPKI))
    std.ok(A.select_ef(0x0018))
    assert std.sw(A.verify()) == 0x63C3
    assert std.sw(A.verify()) == 0x63C3  # the query is free
    assert std.sw(A.verify("0000")) == 0x63C2
    assert std.sw(A.verify("0000")) == 0x63C1
    assert std.card.retry_counter("jpki_auth") == 1
    assert std.sw(A.verify("0000")) == 0x63C0  # the try that blocks
    assert std.sw(A.verify("0000")) == 0x6984
    assert std.sw(A.verify("1234")) == 0x6984  # even the right PIN, once blocked
    assert std.sw(A.verify()) == 0x63C0
    assert std.card.retry_counter("jpki_auth") == 0


def test_correct_pin_resets_the_counter_and_survives_power_cycle_counts(std: CardDriver) -> None:
    std.ok(A.select_aid(A.JPKI))
    std.ok(A.select_ef(0x001B))
    assert std.sw(A.verify()) == 0x63C5
    assert std.sw(A.verify("WRONG1")) == 0x63C4
    std.card.reset()
    std.ok(A.select_aid(A.JPKI))
    std.ok(A.select_ef(0x001B))
    assert std.sw(A.verify()) == 0x63C4  # counters live on the card
    std.ok(A.verify("ABC123"))
    assert std.sw(A.verify()) == 0x63C5


def test_sign_cert_needs_the_password_and_reselect_clears_it(std: CardDriver) -> None:
    std.ok(A.select_aid(A.JPKI))
    std.ok(A.select_ef(0x0001))
    assert std.sw(A.read_binary(0, 4)) == 0x6982
    std.ok(A.select_ef(0x001B))
    std.ok(A.verify("ABC123"))
    std.ok(A.select_ef(0x0001))
    assert std.ok(A.read_binary(0, 4))[:2] == b"\x30\x82"
    std.ok(A.select_aid(A.JPKI))  # re-SELECT = logout (ASSUMPTION, documented)
    std.ok(A.select_ef(0x0001))
    assert std.sw(A.read_binary(0, 4)) == 0x6982
    std.ok(A.select_ef(0x001B))
    std.ok(A.verify("ABC123"))
    std.card.reset()
    std.ok(A.select_aid(A.JPKI))
    std.ok(A.select_ef(0x0001))
    assert std.sw(A.read_binary(0, 4)) == 0x6982


def _certificate(card: CardDriver, fid: int) -> x509.Certificate:
    return x509.load_der_x509_certificate(card.read_file(fid))


def test_signature_with_auth_key_verifies(std: CardDriver) -> None:
    std.ok(A.select_aid(A.JPKI))
    cert = _certificate(std, 0x000A)
    std.ok(A.select_ef(0x0017))
    message = b"madoguchi counter login"
    assert std.sw(A.compute_signature(A.digest_info(message))) == 0x6982  # no PIN yet
    std.ok(A.select_ef(0x0018))
    std.ok(A.verify("1234"))
    assert std.sw(A.compute_signature(A.digest_info(message))) == 0x6982  # key EF not current
    std.ok(A.select_ef(0x0017))
    for _ in range(2):  # several signatures after one VERIFY (reference §7.2 D)
        signature = std.ok(A.compute_signature(A.digest_info(message)))
        assert len(signature) == 256
        public = cert.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_signature_with_sign_key_by_sfi_and_p1_variants(std: CardDriver) -> None:
    std.ok(A.select_aid(A.JPKI))
    std.ok(A.select_ef(0x001B))
    std.ok(A.verify("ABC123"))
    cert = _certificate(std, 0x0001)
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    message = b"application form"
    digest = hashlib.sha256(message).digest()
    pkcs1 = padding.PKCS1v15()
    public.verify(std.ok(A.compute_signature(A.digest_info(message), p2=0x9A)), message, pkcs1,
                  hashes.SHA256())
    public.verify(std.ok(A.compute_signature(digest, p1=0x02, p2=0x9A)), message, pkcs1,
                  hashes.SHA256())
    public.verify(std.ok(A.compute_signature(message, p1=0x03, p2=0x9A)), message, pkcs1,
                  hashes.SHA256())
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    public.verify(std.ok(A.compute_signature(message, p1=0x05, p2=0x9A)), message, pss,
                  hashes.SHA256())
    assert std.sw(A.compute_signature(b"\x01" * 31, p1=0x02, p2=0x9A)) == 0x6700
    assert std.sw(A.compute_signature(b"\x01" * 246, p1=0x00, p2=0x9A)) == 0x6700
    assert std.sw(A.compute_signature(digest, p1=0x06, p2=0x9A)) == 0x6A86
    assert std.sw(A.compute_signature(digest, p1=0x00, p2=0x97)) == 0x6982  # auth not verified


def test_change_reference_data(std: CardDriver) -> None:
    std.ok(A.select_aid(A.JPKI))
    std.ok(A.select_ef(0x0018))
    assert std.sw(A.change_reference_data("5678")) == 0x6982  # not verified
    std.ok(A.verify("1234"))
    assert std.sw(A.change_reference_data("56")) == 0x6A80  # wrong format, nothing changed
    assert std.sw(bytes.fromhex("0024008004") + b"5678") == 0x6A86  # P1 00 (old+new) refused
    std.ok(A.change_reference_data("5678"))
    std.card.reset()
    std.ok(A.select_aid(A.JPKI))
    std.ok(A.select_ef(0x0018))
    assert std.sw(A.verify("1234")) == 0x63C2
    std.ok(A.verify("5678"))
    assert std.sw(A.change_key("1111")) == 0x6D00  # the 住基 command on JPKI


def test_change_key_on_both_juki_aps_separately(std: CardDriver) -> None:
    for aid, name in ((A.JUKI, "juki"), (A.COMMON, "juki_common")):
        std.ok(A.select_aid(aid))
        std.ok(A.select_ef(0x001C))
        assert std.sw(A.verify()) == 0x63C3
        assert std.sw(A.change_reference_data("9999")) == 0x6D00
        std.ok(A.verify("1234"))
        std.ok(A.change_key("9999"))
        assert std.card.retry_counter(name) == 3
    std.ok(A.select_aid(A.JUKI))
    std.ok(A.select_ef(0x001C))
    assert std.sw(A.verify("1234")) == 0x63C2
    std.ok(A.verify("9999"))


def test_support_ap_pin_and_verification_codes(std: CardDriver) -> None:
    facts = std.card.facts
    std.ok(A.select_aid(A.SUPPORT))
    for fid in (0x0001, 0x0002, 0x0003):
        std.ok(A.select_ef(fid))
        assert std.sw(A.read_binary(0, 0)) == 0x6982
    std.ok(A.select_ef(0x0012))
    assert std.sw(A.verify()) == 0x63C0  # blocked as issued
    assert std.sw(A.verify("0000")) == 0x6984
    # 照合番号A opens the My Number, not 基本4情報
    std.ok(A.select_ef(0x0014))
    std.ok(A.verify(facts.my_number))
    assert std.read_file(0x0001) == b"\xff\x10\x0c" + facts.my_number.encode() + b"\xff\xff"
    std.ok(A.select_ef(0x0002))
    assert std.sw(A.read_binary(0, 0)) == 0x6982
    std.ok(A.select_ef(0x0003))
    assert std.ok(A.read_binary(0, 0))[:2] == b"\xff\x30"
    # 照合番号B opens 基本4情報, not the My Number
    std.ok(A.select_aid(A.SUPPORT))
    std.ok(A.select_ef(0x0015))
    assert std.sw(A.verify("0" * 14)) == 0x63C9
    std.ok(A.verify(facts.verification_code_b))
    assert std.read_file(0x0002)[:2] == b"\xff\x20"
    std.ok(A.select_ef(0x0001))
    assert std.sw(A.read_binary(0, 0)) == 0x6982
    # the PIN opens both
    std.ok(A.select_aid(A.SUPPORT))
    std.ok(A.select_ef(0x0011))
    std.ok(A.verify("1234"))
    std.read_file(0x0001)
    std.read_file(0x0002)


def test_presence_check_challenge_signed_by_the_ap_key(std: CardDriver) -> None:
    std.ok(A.select_aid(A.SUPPORT))
    std.ok(A.select_ef(0x0011))
    std.ok(A.verify("1234"))
    signed_key = A.tlv_children(A.unwrap(std.read_file(0x0007))[1])
    key = A.tlv_children(signed_key[0xDF51])
    public = rsa.RSAPublicNumbers(int.from_bytes(key[0x90], "big"),
                                  int.from_bytes(key[0x91], "big")).public_key()
    challenge = std.ok(A.get_challenge(16))
    assert len(challenge) == 16
    assert std.ok(A.get_challenge(0)) != challenge
    assert len(std.ok(A.get_challenge(0))) == 256
    signature = std.ok(A.compute_signature(A.digest_info(challenge), p2=0x00))
    public.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    assert std.sw(A.compute_signature(A.digest_info(challenge), p2=0x80)) == 0x6A86


def test_common_ap_record_and_mf_get_data(std: CardDriver) -> None:
    facts = std.card.facts
    assert std.ok(A.get_data(0x0045)) == facts.serial.encode()
    assert std.ok(A.get_data(0x00F0)) == b"13101"
    assert std.sw(A.get_data(0x00F8)) == 0x6A88
    assert std.sw(bytes.fromhex("00CA00F204")) == 0x6700  # short Le below the object
    assert std.ok(A.get_data(0x5F51)) == bytes.fromhex("E000FF8131FE4514")
    std.ok(A.select_aid(A.COMMON))
    record = std.ok(bytes.fromhex("00B2010C00"))  # SFI 1, no SELECT
    assert record[:2] == b"\x01\x1c"
    assert len(record) == 30
    assert record[2:17].decode() == facts.serial
    assert record[17:22].decode() == facts.municipality_code
    assert record[22:].decode() == facts.expiry_date.strftime("%Y%m%d")
    std.ok(A.select_ef(0x0001))
    assert std.ok(bytes.fromhex("00B2010400")) == record
    assert std.sw(bytes.fromhex("00B2020400")) == 0x6A83
    assert std.sw(bytes.fromhex("00B2010500")) == 0x6A81
    assert std.sw(A.read_binary(0, 0)) == 0x6981


def test_set_session_key_answers_per_ap(std: CardDriver) -> None:
    apdu = bytes.fromhex("80AE000004AABBCCDD")
    for aid, sw in ((A.FACE, 0x66F1), (A.COMMON, 0x66F1), (A.JPKI, 0x6982), (A.JUKI, 0x6982),
                    (A.SUPPORT, 0x6982)):
        std.ok(A.select_aid(aid))
        assert std.sw(apdu) == sw


def test_retry_counter_names(new_card: Callable[..., CardDriver]) -> None:
    card = new_card("standard").card
    expected = {"juki": 3, "juki_common": 3, "jpki_auth": 3, "jpki_sign": 5, "support": 3,
                "support_a": 10, "support_b": 10, "face_a": 10, "face_b": 10, "face_birth": 10}
    assert {name: card.retry_counter(name) for name in expected} == expected
    with pytest.raises(KeyError):
        card.retry_counter("nope")
    with pytest.raises(KeyError):
        new_card("android").card.retry_counter("support")


def test_extended_read_is_capped_at_65533_bytes(std: CardDriver) -> None:
    big = CardDriver(big_file_card(std))
    big.ok(A.select_aid(A.JPKI))
    big.ok(A.select_ef(0x0100))
    assert len(big.ok(A.read_binary_extended(0, 0))) == 65_533
    assert len(big.ok(A.read_binary_extended(0, 1000))) == 1000
    assert len(big.ok(A.read_binary(0x7F00, 0))) == 256
