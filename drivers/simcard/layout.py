"""Building a card's applications and files from its facts and the test PKI.

Every layout here is the one ``docs/virtual-card.md`` documents (after the reference §3-§5 and
SOL's ``src/ap/*.rs``); keep the two in step.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from drivers.simcard.facts import TOKEN_TYPES, CardFacts
from drivers.simcard.filesystem import (
    Application,
    AppName,
    BinaryFile,
    CardFile,
    CardImage,
    PinFormat,
    PinSpec,
    PrivateKeyFile,
    RecordFile,
)
from drivers.simcard.images import (
    ADDRESS_SIZE,
    NAME_SIZE,
    NUMBER_SIZE,
    SECURITY_CODE_SIZE,
    blank_png,
    portrait_jp2,
    rendered,
    text_png,
    undecodable_jp2,
)
from drivers.simcard.pki import HolderAttributes, TestPki
from drivers.simcard.signing import sha256_digest_info, sign_padded, sign_sha256
from drivers.simcard.tlv import offset_table_file, public_key_value, tlv

JPKI_AID = bytes.fromhex("D392F000260100000001")
SUPPORT_AID = bytes.fromhex("D3921000310001010408")
FACE_AID = bytes.fromhex("D3921000310001010402")
JUKI_AID = bytes.fromhex("D3921000310001010401")
COMMON_AID = bytes.fromhex("D3921000310001010100")
#: GlobalPlatform Issuer Security Domain: selecting it returns to the power-on (MF) level.
ISD_AID = bytes.fromhex("A0000001510000")

#: The original contact ATR, which OpenSC's jpki driver matches (reference §1).
MY_NUMBER_ATR = bytes.fromhex("3BE000FF8131FE4514")
#: PC/SC part-3 ATR of a contactless card with no historical bytes (the Android phone).
CONTACTLESS_ATR = bytes.fromhex("3B80800101")

#: Subject key id of the municipality's record signer in both CV certificates (ASSUMPTION).
RECORD_SIGNER_KEY_ID = "6131010"
SUPPORT_CV_ISSUER = "6000033"
FACE_CV_ISSUER = "6000023"

#: Tries of the 照合番号 and 生年月日 keys: no source gives them (reference §14.3).
CODE_TRIES = 10
_FULL_ACCESS_SUPPORT = frozenset({0x11, 0x14, 0x15})


def key_id(number: str) -> bytes:
    """The 16-byte key identifier: 7 digits, ``08 05``, 3-digit group ``001``, 4 zero bytes."""
    return number.encode("ascii") + b"\x08\x05" + b"001" + b"\x00" * 4


def cv_certificate(
    issuer: rsa.RSAPrivateKey, issuer_id: str, subject_id: str, subject: rsa.RSAPublicKey
) -> bytes:
    """A ``7F21`` card-verifiable certificate (568 bytes for RSA-2048)."""
    body = key_id(issuer_id) + key_id(subject_id) + public_key_value(subject)
    return tlv(0x7F21, tlv(0x5F4E, body) + tlv(0x5F37, sign_sha256(issuer, body)))


def _cv_file(pki: TestPki, issuer_id: str, defect: str | None) -> BinaryFile | None:
    """An AP's EF 0004, or what a ``defective`` card has there instead (None: no file)."""
    issuer = pki.key("cv-issuer")
    signer = pki.key("record-signer").public_key()
    if defect == "cv-absent":
        return None
    if defect == "cv-unknown-issuer":
        issuer_id = "5" + issuer_id[1:]  # the production hierarchy: no test anchor has it
    if defect == "cv-bad-signature":
        issuer = pki.key("counterfeit-signer")
    if defect == "cv-malformed":
        issuer_id = "NODIGIT"  # a key id field without the 7 digits it should start with
    data = cv_certificate(issuer, issuer_id, RECORD_SIGNER_KEY_ID, signer)
    return BinaryFile(data, refuse_sw=0x6986 if defect == "cv-refused" else None)


def holder_seed(facts: CardFacts) -> str:
    """The seed of the holder's synthetic portrait: one face per person, whatever the profile."""
    return f"{facts.name}/{facts.birth_date.isoformat()}/{facts.sex}"


def _pin(name: str | None, value: str | None, tries: int, fmt: PinFormat,
         blocked: frozenset[str]) -> PinSpec:
    remaining = 0 if name in blocked else tries
    raw = value.encode("ascii") if value is not None else None
    return PinSpec(name, raw, tries, remaining, fmt)


def _yyyymmdd(day: dt.date) -> bytes:
    return day.strftime("%Y%m%d").encode("ascii")


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def certificate_validity(facts: CardFacts) -> tuple[dt.date, dt.date]:
    """JPKI certificates last 5 years and never past the card (reference §11.3).

    They are taken as (re)issued at ``max(card issue, expiry - 5 years)``, so an expired card's
    certificates expire with it.
    """
    not_before = max(facts.issue_date, _add_years(facts.expiry_date, -5))
    return not_before, min(_add_years(not_before, 5), facts.expiry_date)


def jpki_application(facts: CardFacts, pki: TestPki, blocked: frozenset[str]) -> Application:
    """JPKI-AP: certificates, token, key EFs (reference §3)."""
    juki = facts.key_bits == 1024
    auth_key = pki.key("juki-auth" if juki else "card-auth")
    sign_key = pki.key("juki-sign" if juki else "card-sign")
    not_before, not_after = certificate_validity(facts)
    auth_cert = pki.issue_certificate(
        "auth", auth_key.public_key(), serial=facts.serial, not_before=not_before,
        not_after=not_after,
    )
    auth_access = frozenset({0x18}) if facts.token == TOKEN_TYPES["android"] else frozenset()
    files: dict[int, CardFile] = {
        0x0002: BinaryFile(_der(pki.ca_certificate("sign"))),
        0x0006: BinaryFile(facts.token.encode("ascii").ljust(32, b" ") + bytes(128)),
        0x0008: BinaryFile(bytes([0x8F if facts.has_sign_certificate else 0x00, 0x8F, 0x00])),
        0x000A: BinaryFile(_der(auth_cert), auth_access),
        0x000B: BinaryFile(_der(pki.ca_certificate("auth"))),
        0x0017: PrivateKeyFile(auth_key, 0x18),
        0x0018: _pin("jpki_auth", facts.auth_pin, 3, PinFormat.DIGITS4, blocked),
        0x001A: PrivateKeyFile(sign_key, 0x1B),
        0x001B: _pin("jpki_sign", facts.sign_password, 5, PinFormat.ALPHANUMERIC, blocked),
    }
    if facts.has_sign_certificate:
        holder = HolderAttributes(
            name=facts.name, sex=facts.sex, birth=facts.birth_date.strftime("%Y%m%d"),
            address=facts.address,
        )
        sign_cert = pki.issue_certificate(
            "sign", sign_key.public_key(), serial=facts.serial, not_before=not_before,
            not_after=not_after, holder=holder,
        )
        files[0x0001] = BinaryFile(_der(sign_cert), frozenset({0x1B}))
    return Application(AppName.JPKI, JPKI_AID, files, change_ins=0x24)


def support_application(
    facts: CardFacts, pki: TestPki, blocked: frozenset[str], record_key: rsa.RSAPrivateKey,
    defect: str | None = None,
) -> Application:
    """券面事項入力補助AP: My Number, 基本4情報 and their signed records (reference §4)."""
    my_number_file = b"\xff\x10\x0c" + facts.my_number.encode("ascii") + b"\xff\xff"
    attributes = [
        tlv(0xDF22, facts.name.encode("utf-8")),
        tlv(0xDF23, facts.address.encode("utf-8")),
        tlv(0xDF24, _yyyymmdd(facts.birth_date)),
        tlv(0xDF25, facts.sex.encode("ascii")),
    ]
    digests = (
        tlv(0xDF31, hashlib.sha256(my_number_file).digest())
        + tlv(0xDF32, hashlib.sha256(b"".join(attributes)).digest())
    )
    ap_key = pki.key("support-ap")
    signed_key = tlv(0xDF51, public_key_value(ap_key.public_key()))
    files: dict[int, CardFile] = {
        0x0001: BinaryFile(my_number_file, frozenset({0x11, 0x14})),
        0x0002: BinaryFile(offset_table_file(0xFF20, 0xDF21, attributes),
                           frozenset({0x11, 0x15})),
        0x0003: BinaryFile(tlv(0xFF30, digests + tlv(0xDF33, sign_sha256(record_key, digests))),
                           _FULL_ACCESS_SUPPORT),
        0x0005: BinaryFile(tlv(0xFF40,
                               tlv(0xDF41, bytes.fromhex("01030E01"))
                               + tlv(0xDF42, key_id("6000034"))
                               + tlv(0xDF43, hashlib.sha256(b"madoguchi-sim DF43").digest()
                                     + b"\xff" * 96))),
        0x0006: BinaryFile(tlv(0xA1, public_key_value(pki.key("support-session").public_key())),
                           _FULL_ACCESS_SUPPORT),
        0x0007: BinaryFile(tlv(0xFF50, signed_key + tlv(0xDF52, sign_sha256(record_key,
                                                                            signed_key))),
                           _FULL_ACCESS_SUPPORT),
        0x0008: BinaryFile(b"\xff" * 16),
        0x0011: _pin("support", facts.support_pin, 3, PinFormat.DIGITS4, blocked),
        # Blocked as issued on every card SOL saw; what it guards is unknown.
        0x0012: PinSpec(None, b"\x00" * 4, 3, 0, PinFormat.FIXED),
        0x0013: PrivateKeyFile(ap_key, 0x00),
        0x0014: _pin("support_a", facts.my_number, CODE_TRIES, PinFormat.FIXED, blocked),
        0x0015: _pin("support_b", facts.verification_code_b, CODE_TRIES, PinFormat.FIXED,
                     blocked),
    }
    _place(files, 0x0004, _cv_file(pki, SUPPORT_CV_ISSUER, defect))
    if defect == "basic4-absent":
        del files[0x0002]
    return Application(AppName.SUPPORT, SUPPORT_AID, files, change_ins=0x24, own_key=ap_key)


def _place(files: dict[int, CardFile], fid: int, file: CardFile | None) -> None:
    if file is not None:
        files[fid] = file


def face_application(
    facts: CardFacts, pki: TestPki, blocked: frozenset[str], record_key: rsa.RSAPrivateKey,
    defect: str | None = None,
) -> Application:
    """券面AP: age record, card face, rendered number, each signed (reference §5)."""
    card_key = pki.key("face-ap")
    cache = pki.directory  # rendered images are kept beside the test keys
    seed = holder_seed(facts)
    card_pub = public_key_value(card_key.public_key())
    age = tlv(0xDF11, _yyyymmdd(facts.birth_date)) + tlv(0xDF12, card_pub)
    face = {
        0xDF22: tlv(0xDF22, _yyyymmdd(facts.birth_date)),
        0xDF23: tlv(0xDF23, facts.sex.encode("ascii")),
        0xDF24: tlv(0xDF24, card_pub),
        0xDF25: tlv(0xDF25, rendered(cache, "name", facts.name,
                                     lambda: text_png(facts.name, NAME_SIZE))),
        0xDF26: tlv(0xDF26, rendered(cache, "address", facts.address,
                                     lambda: text_png(facts.address, ADDRESS_SIZE, lines=2))),
        0xDF27: tlv(0xDF27, undecodable_jp2() if defect == "photo-undecodable"
                    else rendered(cache, "photo", seed, lambda: portrait_jp2(seed))),
    }
    # DF28 covers three SHA-256 digests in one DigestInfo: DF22-24, DF25-26, DF27 (SOL).
    groups = ((0xDF22, 0xDF23, 0xDF24), (0xDF25, 0xDF26), (0xDF27,))
    three_digests = b"".join(
        hashlib.sha256(b"".join(face[t] for t in group)).digest() for group in groups
    )
    face[0xDF28] = tlv(0xDF28, sign_padded(record_key, sha256_digest_info(three_digests)))
    if defect == "photo-swapped":
        # A forger's photo under the issuer's genuine signature: DF28 no longer matches.
        other = seed + " (someone else)"
        face[0xDF27] = tlv(0xDF27, rendered(cache, "photo", other, lambda: portrait_jp2(other)))
    face[0xDF29] = tlv(0xDF29, _yyyymmdd(facts.expiry_date))  # not covered by DF28
    face[0xDF2A] = tlv(0xDF2A, rendered(cache, "security-code", facts.security_code,
                                        lambda: text_png(facts.security_code,
                                                         SECURITY_CODE_SIZE)))
    if defect == "photo-absent":
        del face[0xDF27]  # signed as if it were there: the signature cannot be checked
    face_objects = list(face.values())
    if facts.face_auth:
        face_objects.append(tlv(0xDF2B, "顔認証".encode()))
    # The rendered My Number stays blank: nothing at the counter reads it (照合番号A only).
    number_image = tlv(0xDF41, blank_png(*NUMBER_SIZE)) + tlv(0xDF42, card_pub)
    files: dict[int, CardFile] = {
        0x0001: BinaryFile(tlv(0xFF10, age + tlv(0xDF13, sign_sha256(record_key, age))),
                           frozenset({0x11})),
        0x0002: BinaryFile(offset_table_file(0xFF20, 0xDF21, face_objects),
                           frozenset({0x12, 0x13})),
        0x0003: BinaryFile(tlv(0xFF30,
                               tlv(0xDF31, bytes.fromhex("06030E01"))
                               + tlv(0xDF32, key_id("6000024"))
                               + tlv(0xDF33, b"\x01")
                               + tlv(0xDF34, facts.municipality_code.encode("ascii"))
                               + tlv(0xDF35, key_id("6000025") + bytes(256)))),
        0x0005: BinaryFile(tlv(0xFF40, number_image
                               + tlv(0xDF43, sign_sha256(record_key, number_image))),
                           frozenset({0x13})),
        0x0006: BinaryFile(b"\xff" * 16, frozenset({0x12, 0x13})),
        0x0011: _pin("face_birth", facts.birth_code, CODE_TRIES, PinFormat.FIXED, blocked),
        0x0012: _pin("face_b", facts.verification_code_b, CODE_TRIES, PinFormat.FIXED, blocked),
        0x0013: _pin("face_a", facts.my_number, CODE_TRIES, PinFormat.FIXED, blocked),
    }
    _place(files, 0x0004, _cv_file(pki, FACE_CV_ISSUER, defect))
    if defect == "face-absent":
        del files[0x0002]
    return Application(AppName.FACE, FACE_AID, files, own_key=card_key)


def juki_application(facts: CardFacts, blocked: frozenset[str]) -> Application:
    """住基AP ``…0401``: the 住基 PIN, changed with CHANGE KEY."""
    files: dict[int, CardFile] = {
        0x001C: _pin("juki", facts.juki_pin, 3, PinFormat.DIGITS4, blocked),
    }
    return Application(AppName.JUKI, JUKI_AID, files, change_ins=0x32)


def common_application(facts: CardFacts, blocked: frozenset[str]) -> Application:
    """共通カードAP ``…0100``: the serial/municipality/expiry record and its own 住基 PIN."""
    record = (
        bytes([0x01, 0x1C]) + facts.serial.encode("ascii")
        + facts.municipality_code.encode("ascii") + _yyyymmdd(facts.expiry_date)
    )
    files: dict[int, CardFile] = {
        0x0001: RecordFile((record,)),
        0x001C: _pin("juki_common", facts.juki_pin, 3, PinFormat.DIGITS4, blocked),
    }
    return Application(AppName.COMMON, COMMON_AID, files, change_ins=0x32)


def build_image(
    facts: CardFacts, pki: TestPki, *, blocked: frozenset[str] = frozenset(),
    counterfeit: bool = False, defect: str | None = None,
) -> CardImage:
    """The whole card for ``facts``: which APs exist follows the token and profile."""
    record_key = pki.key("counterfeit-signer" if counterfeit else "record-signer")
    android = facts.token == TOKEN_TYPES["android"]
    apps = [jpki_application(facts, pki, blocked)]
    if facts.has_text_aps:
        apps.append(support_application(facts, pki, blocked, record_key, defect))
        apps.append(face_application(facts, pki, blocked, record_key, defect))
    if not android:
        apps.append(juki_application(facts, blocked))
    if facts.has_text_aps:
        apps.append(common_application(facts, blocked))
    mf_objects: dict[int, bytes] = {}
    if facts.has_text_aps:
        mf_objects = {
            0x0045: facts.serial.encode("ascii"),
            0x00F0: facts.municipality_code.encode("ascii"),
            0x00F2: _yyyymmdd(facts.expiry_date),
        }
    return CardImage(
        atr=CONTACTLESS_ATR if android else MY_NUMBER_ATR,
        applications=tuple(apps),
        mf_objects=mf_objects,
        contact_atr=None if android else MY_NUMBER_ATR[1:],
    )
