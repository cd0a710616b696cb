"""Is the chip genuine? CV certificates, record signatures and the challenge signature.

The chain (reference §5; ``docs/virtual-card.md``): a CV issuer public key that
is configured, never read from the card (a *trust anchor*) → the AP's CV
certificate (EF ``0004``) → the record-signer key → the records (入力補助 EF
``0003`` DF33, 券面 EF ``0002`` DF28) → the AP key inside the card face (DF24)
→ the card's ``80 2A 00 00`` signature over a fresh GET CHALLENGE, which proves
the card holding those records is here now. Failures raise
:class:`~device.card.errors.ChipSignatureError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from device.card.data import Basic4Info, CardFace, IntegrityRecord
from device.card.errors import ChipSignatureError, TrustAnchorError
from device.card.tlv import children_by_tag, parse_all, parse_file, require
from madoguchi.errors import MalformedResponseError

#: DigestInfo header of the card face's three concatenated SHA-256 digests (96 bytes).
CARD_FACE_DIGEST_INFO = bytes.fromhex("3071300d060960864801650304020105000460")
#: Key-id field size in a CV certificate body.
KEY_ID_LENGTH = 16


@dataclass(frozen=True)
class TrustAnchors:
    """Configured roots: CV issuer keys by key id, and JPKI CA certificates by name."""

    cv_keys: Mapping[str, rsa.RSAPublicKey]
    ca_certificates: Mapping[str, x509.Certificate]

    @classmethod
    def load(cls, directory: Path) -> TrustAnchors:
        """Read ``cv-<id>.pem`` (SubjectPublicKeyInfo) and ``*-ca.pem`` (X.509) from a directory."""
        cv: dict[str, rsa.RSAPublicKey] = {}
        cas: dict[str, x509.Certificate] = {}
        if not directory.is_dir():
            raise TrustAnchorError(f"trust-anchor directory {directory} does not exist")
        for path in sorted(directory.glob("*.pem")):
            data = path.read_bytes()
            if path.stem.startswith("cv-"):
                key = serialization.load_pem_public_key(data)
                if not isinstance(key, rsa.RSAPublicKey):
                    raise TrustAnchorError(f"{path.name} is not an RSA public key")
                cv[path.stem[3:]] = key
            else:
                cas[path.stem] = x509.load_pem_x509_certificate(data)
        return cls(cv, cas)

    @classmethod
    def from_mapping(cls, anchors: Mapping[str, object]) -> TrustAnchors:
        """Build from ``{"cv-6000023": RSAPublicKey, "jpki-auth-ca": Certificate, …}``."""
        cv: dict[str, rsa.RSAPublicKey] = {}
        cas: dict[str, x509.Certificate] = {}
        for name, value in anchors.items():
            if name.startswith("cv-") and isinstance(value, rsa.RSAPublicKey):
                cv[name[3:]] = value
            elif isinstance(value, x509.Certificate):
                cas[name] = value
        return cls(cv, cas)


@dataclass(frozen=True)
class CvCertificate:
    """An AP's card-verifiable certificate (EF ``0004``)."""

    issuer_id: str
    subject_id: str
    public_key: rsa.RSAPublicKey
    body: bytes
    signature: bytes

    @property
    def test_hierarchy(self) -> bool:
        """Issuer ids ``6xxxxxx`` belong to JPKI test cards (reference §5)."""
        return self.issuer_id.startswith("6")


def _key_id(field: bytes) -> str:
    digits = bytearray()
    for byte in field:
        if not 0x30 <= byte <= 0x39:
            break
        digits.append(byte)
    if not digits:
        raise MalformedResponseError("CV certificate key id has no digits")
    return digits.decode("ascii")


def rsa_key_from_tlv(value: bytes, where: str) -> rsa.RSAPublicKey:
    """An RSA public key from ``90 <exponent> · 91 <modulus>`` objects."""
    fields = {tlv.tag: tlv.value for tlv in parse_all(value)}
    exponent = int.from_bytes(require(fields, 0x90, where), "big")
    modulus = int.from_bytes(require(fields, 0x91, where), "big")
    if modulus.bit_length() < 512 or exponent < 3 or exponent % 2 == 0:
        raise MalformedResponseError(f"{where} is not a usable RSA key")
    try:
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError:
        raise MalformedResponseError(f"{where} is not a usable RSA key") from None


def parse_cv_certificate(data: bytes) -> CvCertificate:
    """Parse ``7F21 { 5F4E body · 5F37 signature }``."""
    top = parse_file(data, 0x7F21)
    fields = children_by_tag(top)
    body = require(fields, 0x5F4E, "CV certificate")
    signature = require(fields, 0x5F37, "CV certificate")
    if len(body) <= 2 * KEY_ID_LENGTH:
        raise MalformedResponseError("CV certificate body is too short")
    return CvCertificate(
        issuer_id=_key_id(body[:KEY_ID_LENGTH]),
        subject_id=_key_id(body[KEY_ID_LENGTH : 2 * KEY_ID_LENGTH]),
        public_key=rsa_key_from_tlv(body[2 * KEY_ID_LENGTH :], "CV certificate key"),
        body=body,
        signature=signature,
    )


def _verify(key: rsa.RSAPublicKey, signature: bytes, message: bytes, what: str) -> None:
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ChipSignatureError(f"{what}: signature does not verify") from None


def verify_cv_certificate(cv: CvCertificate, anchors: TrustAnchors, what: str) -> None:
    """Check the CV certificate against the configured issuer key of its issuer id."""
    issuer = anchors.cv_keys.get(cv.issuer_id)
    if issuer is None:
        raise TrustAnchorError(f"{what}: no trust anchor for CV issuer {cv.issuer_id}")
    _verify(issuer, cv.signature, cv.body, what)


def verify_integrity_record(
    record: IntegrityRecord, signer: rsa.RSAPublicKey, basic4: Basic4Info
) -> None:
    """入力補助 EF 0003: DF33 signs DF31‖DF32, and DF32 is the digest of the 基本4情報 read."""
    if hashlib.sha256(basic4.signed_part).digest() != record.basic4_digest:
        raise ChipSignatureError("基本4情報 do not match the digest the chip signed")
    _verify(signer, record.signature, record.signed_part, "入力補助 integrity record")


def verify_card_face(face: CardFace, signer: rsa.RSAPublicKey) -> None:
    """券面 EF 0002 DF28: one DigestInfo over three SHA-256 digests (DF22–24, DF25–26, DF27)."""
    fields = face.signed_fields
    try:
        groups = (
            fields[0xDF22] + fields[0xDF23] + fields[0xDF24],
            fields[0xDF25] + fields[0xDF26],
            fields[0xDF27],
        )
    except KeyError as missing:
        raise MalformedResponseError(
            f"card face lacks the signed field {missing.args[0]:X}") from None
    if face.signature is None:
        raise MalformedResponseError("card face lacks its signature (DF28)")
    expected = CARD_FACE_DIGEST_INFO + b"".join(hashlib.sha256(part).digest() for part in groups)
    try:
        recovered = signer.recover_data_from_signature(face.signature, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):
        raise ChipSignatureError("card face: signature does not verify") from None
    if recovered != expected:
        raise ChipSignatureError("card face: signature does not match its images and data")


def verify_challenge_signature(face: CardFace, challenge: bytes, signature: bytes) -> None:
    """The card signed DigestInfo(SHA-256(challenge)) with the key the card face certifies."""
    if face.public_key is None:
        raise MalformedResponseError("card face lacks the card key (DF24)")
    key = rsa_key_from_tlv(face.public_key, "card face key (DF24)")
    _verify(key, signature, challenge, "card presence signature")


def verify_jpki_certificate(cert: x509.Certificate, anchors: TrustAnchors) -> str:
    """Check a JPKI certificate's signature under the configured CA of the same issuer.

    Returns the anchor's name. Raises :class:`TrustAnchorError` when no configured CA
    has the certificate's issuer as subject, :class:`ChipSignatureError` when the
    signature does not verify.
    """
    for name, ca in anchors.ca_certificates.items():
        if ca.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):
            raise ChipSignatureError(f"certificate not signed by {name}") from None
        return name
    raise TrustAnchorError("no configured JPKI CA issued this certificate")
