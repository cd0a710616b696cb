"""The card's data as docs/virtual-card.md lays it out, and the chain of signatures over it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from drivers.simcard.pki import TestPki

from . import apdus as A
from .conftest import CardDriver


def _public(value: bytes) -> rsa.RSAPublicKey:
    parts = A.tlv_children(value)
    return rsa.RSAPublicNumbers(int.from_bytes(parts[0x90], "big"),
                                int.from_bytes(parts[0x91], "big")).public_key()


def _verify_sha256(key: rsa.RSAPublicKey, signature: bytes, message: bytes) -> None:
    key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def _cv_certified_key(file: bytes, issuer_id: str, anchors: TestPki) -> rsa.RSAPublicKey:
    """Check a 7F21 CV certificate against the trust anchor; return the key it certifies."""
    assert len(file) == 568
    tag, value, _ = A.unwrap(file)
    assert tag == 0x7F21
    parts = A.tlv_children(value)
    body = parts[0x5F4E]
    assert len(body) == 297
    assert body[:7] == issuer_id.encode()
    assert body[7:12] == b"\x08\x05001"
    anchor = anchors.trust_anchors()[f"cv-{issuer_id}"]
    assert isinstance(anchor, rsa.RSAPublicKey)
    _verify_sha256(anchor, parts[0x5F37], body)
    return _public(body[32:])


def _open_support(card: CardDriver) -> None:
    card.ok(A.select_aid(A.SUPPORT))
    card.ok(A.select_ef(0x0011))
    card.ok(A.verify("1234"))


def _open_face(card: CardDriver) -> None:
    card.ok(A.select_aid(A.FACE))
    card.ok(A.select_ef(0x0013))
    card.ok(A.verify(card.card.facts.my_number))


def _support_records_verify(card: CardDriver, pki: TestPki) -> None:
    _open_support(card)
    signer = _cv_certified_key(card.read_file(0x0004), "6000033", pki)
    integrity = card.read_file(0x0003)
    assert len(integrity) == 336
    parts = A.tlv_children(A.unwrap(integrity)[1])
    covered = b"".join(raw for tag, raw, _ in A.tlv_raw(A.unwrap(integrity)[1]) if tag != 0xDF33)
    _verify_sha256(signer, parts[0xDF33], covered)
    assert parts[0xDF31] == hashlib.sha256(card.read_file(0x0001)).digest()
    attributes = A.unwrap(card.read_file(0x0002))[1]
    without_table = b"".join(raw for tag, raw, _ in A.tlv_raw(attributes) if tag != 0xDF21)
    assert parts[0xDF32] == hashlib.sha256(without_table).digest()
    signed_key = card.read_file(0x0007)
    assert len(signed_key) == 536
    objects = A.tlv_raw(A.unwrap(signed_key)[1])
    _verify_sha256(signer, A.tlv_children(A.unwrap(signed_key)[1])[0xDF52], objects[0][1])


def _face_records_verify(card: CardDriver, pki: TestPki) -> None:
    _open_face(card)
    signer = _cv_certified_key(card.read_file(0x0004), "6000023", pki)
    face = card.read_file(0x0002)
    objects = {tag: raw for tag, raw, _ in A.tlv_raw(A.unwrap(face)[1])}
    groups = ((0xDF22, 0xDF23, 0xDF24), (0xDF25, 0xDF26), (0xDF27,))
    three = b"".join(hashlib.sha256(b"".join(objects[t] for t in g)).digest() for g in groups)
    digest_info = bytes.fromhex("3071300d060960864801650304020105000460") + three
    signature = A.tlv_children(A.unwrap(face)[1])[0xDF28]
    assert signer.recover_data_from_signature(signature, padding.PKCS1v15(), None) == digest_info
    number = A.unwrap(card.read_file(0x0005))[1]
    raws = A.tlv_raw(number)
    _verify_sha256(signer, A.tlv_children(number)[0xDF43], raws[0][1] + raws[1][1])


def test_support_ap_files(std: CardDriver) -> None:
    facts = std.card.facts
    _open_support(std)
    tag, value, header = A.unwrap(std.read_file(0x0002))
    assert tag == 0xFF20
    objects = A.tlv_raw(value)
    assert [t for t, _, _ in objects] == [0xDF21, 0xDF22, 0xDF23, 0xDF24, 0xDF25]
    table = A.tlv_children(value)[0xDF21]
    offsets = [int.from_bytes(table[i:i + 2], "big") for i in range(0, 8, 2)]
    assert offsets == [header + start for _, _, start in objects[1:]]
    fields = A.tlv_children(value)
    assert fields[0xDF22].decode() == facts.name == "番号　花子"
    assert fields[0xDF23].decode() == facts.address
    assert fields[0xDF24] == facts.birth_date.strftime("%Y%m%d").encode()
    assert fields[0xDF25] == b"2"
    basic = A.tlv_children(A.unwrap(std.read_file(0x0005))[1])
    assert basic[0xDF41] == bytes.fromhex("01030E01")
    assert len(basic[0xDF43]) == 128
    session = std.read_file(0x0006)
    assert session[0] == 0xA1
    assert std.read_file(0x0008) == b"\xff" * 16


def test_face_ap_files(std: CardDriver) -> None:
    facts = std.card.facts
    std.ok(A.select_aid(A.FACE))
    std.ok(A.select_ef(0x0001))
    assert std.sw(A.read_binary(0, 0)) == 0x6982
    std.ok(A.select_ef(0x0011))
    std.ok(A.verify(facts.birth_code))
    age = std.read_file(0x0001)
    assert len(age) == 547
    assert age[:5] == bytes.fromhex("FF1082021E")
    std.ok(A.select_ef(0x0002))
    assert std.sw(A.read_binary(0, 0)) == 0x6982  # the birth key opens only the age record
    std.ok(A.select_ef(0x0012))
    std.ok(A.verify(facts.verification_code_b))
    tag, value, header = A.unwrap(std.read_file(0x0002))
    assert tag == 0xFF20
    objects = A.tlv_raw(value)
    assert [t for t, _, _ in objects] == [0xDF21, *range(0xDF22, 0xDF2B)]
    table = A.tlv_children(value)[0xDF21]
    assert [int.from_bytes(table[i:i + 2], "big") for i in range(0, len(table), 2)] == [
        header + start for _, _, start in objects[1:]
    ]
    fields = A.tlv_children(value)
    assert fields[0xDF29] == facts.expiry_date.strftime("%Y%m%d").encode()
    assert fields[0xDF25][:8] == b"\x89PNG\r\n\x1a\n"
    assert fields[0xDF27][4:8] == b"jP  "
    std.ok(A.select_ef(0x0005))
    assert std.sw(A.read_binary(0, 0)) == 0x6982  # 照合番号B does not open the number image
    ap_basic = A.tlv_children(A.unwrap(std.read_file(0x0003))[1])
    assert ap_basic[0xDF34] == b"13101"


def test_chip_signatures_verify_on_a_genuine_card(std: CardDriver, sim_pki: TestPki) -> None:
    _support_records_verify(std, sim_pki)
    _face_records_verify(std, sim_pki)


@pytest.mark.parametrize("check", [_support_records_verify, _face_records_verify])
def test_counterfeit_chip_signatures_do_not_verify(
    new_card: Callable[..., CardDriver], sim_pki: TestPki,
    check: Callable[[CardDriver, TestPki], None],
) -> None:
    with pytest.raises(InvalidSignature):
        check(new_card("counterfeit"), sim_pki)


def test_counterfeit_cv_certificates_still_verify(
    new_card: Callable[..., CardDriver], sim_pki: TestPki
) -> None:
    card = new_card("counterfeit")
    card.ok(A.select_aid(A.SUPPORT))
    _cv_certified_key(card.read_file(0x0004), "6000033", sim_pki)
    card.ok(A.select_aid(A.FACE))
    _cv_certified_key(card.read_file(0x0004), "6000023", sim_pki)


def test_jpki_files_and_certificate_chain(std: CardDriver, sim_pki: TestPki) -> None:
    std.ok(A.select_aid(A.JPKI))
    assert std.read_file(0x0006) == b"JPKIAPICCTOKEN2".ljust(32) + bytes(128)
    assert std.read_file(0x0008) == b"\x8f\x8f\x00"
    auth_ca = x509.load_der_x509_certificate(std.read_file(0x000B))
    sign_ca = x509.load_der_x509_certificate(std.read_file(0x0002))
    assert auth_ca == sim_pki.trust_anchors()["jpki-auth-ca"]
    assert sign_ca == sim_pki.trust_anchors()["jpki-sign-ca"]
    auth = x509.load_der_x509_certificate(std.read_file(0x000A))
    auth.verify_directly_issued_by(auth_ca)
    std.ok(A.select_ef(0x001B))
    std.ok(A.verify("ABC123"))
    sign = x509.load_der_x509_certificate(std.read_file(0x0001))
    sign.verify_directly_issued_by(sign_ca)
    org = sign.issuer.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
    assert org == "JPKI-TEST"
    san = sign.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    others = {name.type_id.dotted_string: name.value for name in san
              if isinstance(name, x509.OtherName)}
    assert sorted(others) == [f"1.2.392.200149.8.5.5.{i}" for i in range(1, 7)]
    assert others["1.2.392.200149.8.5.5.1"][2:].decode() == "番号　花子"
    assert others["1.2.392.200149.8.5.5.4"][2:] == b"19850401"
    with pytest.raises(x509.ExtensionNotFound):
        auth.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_face_ap_presence_check_verifies_with_df24(std: CardDriver) -> None:
    _open_face(std)
    face = A.tlv_children(A.unwrap(std.read_file(0x0002))[1])
    age_key = A.tlv_children(A.unwrap(std.read_file(0x0005))[1])[0xDF42]
    assert age_key == face[0xDF24]  # one card key in every 券面 record
    challenge = std.ok(A.get_challenge(32))
    signature = std.ok(A.compute_signature(A.digest_info(challenge), p2=0x00))
    _verify_sha256(_public(face[0xDF24]), signature, challenge)
