"""What the counter reads from a card: tap-to-ready, the identity check, certificates.

The order of reads is chosen so that each application is selected once: 共通AP
(expiry record, 住基 PIN), JPKI-AP (token, certificate flags, two PINs), then
入力補助AP (extended-length advertisement, PIN), which is where the identity
check continues. That is 15 APDUs for tap-to-ready on a My Number card and 29
for the full identity check (reference §7.2/§9.2 count 19+ for jpki/myna).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from cryptography import x509

from device.card import layout
from device.card.apdu import wipe
from device.card.chip import (
    CvCertificate,
    TrustAnchors,
    parse_cv_certificate,
    verify_card_face,
    verify_challenge_signature,
    verify_cv_certificate,
    verify_integrity_record,
)
from device.card.data import (
    Basic4Info,
    CardFace,
    CertificatePresence,
    TokenInfo,
    parse_basic4,
    parse_card_face,
    parse_certificate_presence,
    parse_common_record,
    parse_expiry_data,
    parse_integrity_record,
    parse_token_info,
)
from device.card.errors import CardFileNotFoundError, ChipSignatureError, TrustAnchorError
from device.card.layout import Application, PinKind
from device.card.pins import PinStatus
from device.card.session import CardSession
from madoguchi.errors import MalformedResponseError, StatusWordError

_T = TypeVar("_T")

#: DigestInfo prefix for SHA-256 (reference §7.1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


@dataclass(frozen=True)
class ReadyReport:
    """Everything known after tap-to-ready, without any PIN."""

    token: TokenInfo | None
    expiry: dt.date | None
    expiry_source: str | None
    pins: dict[PinKind, PinStatus | None]
    certificates: CertificatePresence | None
    applications: dict[Application, bool]
    extended_length: bool | None
    apdus: int
    #: What could not be read, and why (the card answered, but not as expected).
    notes: list[str] = field(default_factory=list)


def try_select(session: CardSession, app: Application) -> bool:
    """Select ``app``; ``False`` when the card does not have it."""
    try:
        session.select(app)
    except CardFileNotFoundError:
        return False
    return True


def tap_to_ready(session: CardSession) -> ReadyReport:
    """Token type, expiry, the four PIN counters and certificate flags: no PIN, no try spent."""
    return session.run(lambda: _tap_to_ready(session))


def _tap_to_ready(session: CardSession) -> ReadyReport:
    start = session.apdus
    pins: dict[PinKind, PinStatus | None] = dict.fromkeys(layout.HOLDER_PINS)
    apps: dict[Application, bool] = {}
    notes: list[str] = []
    expiry: dt.date | None = None
    source: str | None = None

    def attempt(what: str, read: Callable[[], _T]) -> _T | None:
        # A card that lacks one item (or answers it oddly) still gets the rest read;
        # the gap is reported, not guessed. Transport errors still end the read.
        try:
            return read()
        except (StatusWordError, MalformedResponseError) as exc:
            notes.append(f"{what}: {exc}")
            return None

    apps[Application.COMMON] = try_select(session, Application.COMMON)
    if apps[Application.COMMON]:
        record = attempt(
            "card expiry (共通AP record)",
            lambda: parse_common_record(
                session.read_record(Application.COMMON, layout.COMMON_RECORD, 1)
            ),
        )
        if record is not None:
            expiry, source = record.expiry, "common_record"
        pins[PinKind.JUKI] = attempt("住基 PIN", lambda: session.pin_status(PinKind.JUKI))
    else:
        # The old 住基カード keeps its 住基 PIN in the 住基AP only.
        apps[Application.JUKI] = try_select(session, Application.JUKI)
        if apps[Application.JUKI]:
            pins[PinKind.JUKI] = attempt(
                "住基 PIN", lambda: session.pin_status(PinKind.JUKI_LEGACY)
            )

    token: TokenInfo | None = None
    certificates: CertificatePresence | None = None
    apps[Application.JPKI] = try_select(session, Application.JPKI)
    if apps[Application.JPKI]:
        token = attempt("token (JPKI EF 0006)", lambda: parse_token_info(
            session.read_exact(Application.JPKI, layout.JPKI_TOKEN_INFO, layout.TOKEN_NAME_LENGTH)
        ))
        certificates = attempt("certificate flags (JPKI EF 0008)", lambda: (
            parse_certificate_presence(session.read_exact(
                Application.JPKI, layout.JPKI_CERT_PRESENCE, layout.CERT_PRESENCE_LENGTH
            ))
        ))
        for kind in (PinKind.JPKI_AUTH, PinKind.JPKI_SIGN):
            pins[kind] = attempt(kind.key.label, partial(session.pin_status, kind))

    apps[Application.SUPPORT] = try_select(session, Application.SUPPORT)
    if apps[Application.SUPPORT]:
        session.probe_extended_length()
        pins[PinKind.SUPPORT] = attempt(
            PinKind.SUPPORT.key.label, lambda: session.pin_status(PinKind.SUPPORT)
        )

    return ReadyReport(
        token=token,
        expiry=expiry,
        expiry_source=source,
        pins=pins,
        certificates=certificates,
        applications=apps,
        extended_length=session.extended_length,
        apdus=session.apdus - start,
        notes=notes,
    )


def read_expiry_by_get_data(session: CardSession) -> dt.date:
    """Card expiry by MF-level GET DATA ``00F2`` (only right after a reset, reference §11.3)."""
    return parse_expiry_data(session.get_data(layout.GET_DATA_EXPIRY))


def read_basic4(
    session: CardSession,
    secret: bytearray,
    *,
    key: PinKind = PinKind.SUPPORT_COLLATION_B,
    confirm_last_try: bool = False,
) -> Basic4Info:
    """基本4情報 after VERIFY of the 入力補助 PIN or its 照合番号B (``secret`` is wiped)."""
    if key not in (PinKind.SUPPORT, PinKind.SUPPORT_COLLATION_B):
        raise ValueError("基本4情報 open with the 入力補助 PIN or 照合番号B only")
    session.verify(key, secret, confirm_last_try=confirm_last_try)
    return parse_basic4(session.read_tlv_file(Application.SUPPORT, layout.SUPPORT_BASIC4))


def read_card_face(
    session: CardSession, secret: bytearray, *, confirm_last_try: bool = False
) -> CardFace:
    """The 券面AP card face after VERIFY of 照合番号B (``secret`` is wiped)."""
    session.verify(PinKind.CARD_FACE_COLLATION_B, secret, confirm_last_try=confirm_last_try)
    return parse_card_face(session.read_tlv_file(Application.CARD_FACE, layout.CARD_FACE_DATA))


def read_cv_certificate(session: CardSession, app: Application) -> CvCertificate:
    """An AP's CV certificate (EF 0004, free to read)."""
    fid = layout.SUPPORT_CV_CERT if app is Application.SUPPORT else layout.CARD_FACE_CV_CERT
    return parse_cv_certificate(session.read_tlv_file(app, fid))


def read_certificate(session: CardSession, fid: int) -> x509.Certificate:
    """A JPKI certificate EF as an X.509 certificate (auth ``000A``, CAs ``000B``/``0002``)."""
    der = session.run(lambda: session.read_tlv_file(Application.JPKI, fid))
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise MalformedResponseError(f"JPKI EF {fid:04X} is not a DER certificate") from None


def read_sign_certificate(
    session: CardSession, password: bytearray, *, confirm_last_try: bool = False
) -> x509.Certificate:
    """The signature certificate, after VERIFY of the signature password (wiped)."""
    session.verify(PinKind.JPKI_SIGN, password, confirm_last_try=confirm_last_try)
    return read_certificate(session, layout.JPKI_SIGN_CERT)


@dataclass(frozen=True)
class Check:
    """The outcome of one chip check: ``ok`` is ``None`` when it could not be decided."""

    name: str
    ok: bool | None
    detail: str


@dataclass(frozen=True)
class IdentityReport:
    """The full identity check: 基本4情報, card face and the chip checks."""

    basic4: Basic4Info | None
    card_face: CardFace | None
    checks: list[Check] = field(default_factory=list)
    test_card: bool = False
    apdus: int = 0

    @property
    def genuine(self) -> bool | None:
        """``False`` if any check failed, ``None`` if one could not be decided, else ``True``."""
        results = [check.ok for check in self.checks]
        if False in results:
            return False
        if None in results:
            return None
        return True


def _plain_check(name: str, verify: Callable[[], None]) -> Check:
    try:
        verify()
    except ChipSignatureError as exc:
        return Check(name, False, str(exc))
    except MalformedResponseError as exc:
        return Check(name, False, f"chip data does not parse: {exc}")
    return Check(name, True, "verified")


def _signature_check(
    name: str, anchors: TrustAnchors | None, cv: CvCertificate, verify: Callable[[], None]
) -> Check:
    """The record signature under the CV certificate, and the certificate under its anchor."""
    record = _plain_check(name, verify)
    if record.ok is False:
        return record
    if anchors is None:
        return Check(name, None, "record signature verifies, but no trust anchors are configured")
    try:
        verify_cv_certificate(cv, anchors, f"CV certificate of issuer {cv.issuer_id}")
    except TrustAnchorError as exc:
        return Check(name, None, str(exc))
    except ChipSignatureError as exc:
        return Check(name, False, str(exc))
    return Check(name, True, f"verified up to CV issuer {cv.issuer_id}")


#: The keys one typed 照合番号B is verified against, each with its own try counter.
COLLATION_B_KEYS = (PinKind.SUPPORT_COLLATION_B, PinKind.CARD_FACE_COLLATION_B)


def identity_check(
    session: CardSession,
    collation_b: bytearray,
    anchors: TrustAnchors | None,
    *,
    basic4: bool = True,
    card_face: bool = True,
    confirm_last_try: bool | Collection[PinKind] = False,
) -> IdentityReport:
    """基本4情報 and/or the card face through 照合番号B, with their chip checks.

    With ``card_face`` the GET CHALLENGE presence check runs too (its key is in the
    card face). ``collation_b`` (14 digits typed from the card face) is wiped. The
    My Number is never read. Without ``anchors`` the CV certificates cannot be
    rooted and the signature checks report ``ok=None``.

    One typed 照合番号B is verified against two keys with their own counters: the
    入力補助 AP's (:attr:`PinKind.SUPPORT_COLLATION_B`) and the 券面 AP's
    (:attr:`PinKind.CARD_FACE_COLLATION_B`). ``confirm_last_try`` names the keys
    whose last try the clerk confirmed (``True``: both); a key at its last try that
    is not named is refused with ``LastTryNotConfirmedError`` before its VERIFY.
    """
    if not (basic4 or card_face):
        wipe(collation_b)
        raise ValueError("ask for the 基本4情報, the card face, or both")
    confirmed: frozenset[PinKind] = (
        frozenset(COLLATION_B_KEYS) if confirm_last_try is True
        else frozenset() if confirm_last_try is False else frozenset(confirm_last_try)
    )
    second = bytearray(collation_b)
    try:
        return session.run(
            lambda: _identity_check(
                session, collation_b if basic4 else None, second if card_face else None,
                anchors, confirmed,
            )
        )
    finally:
        wipe(collation_b)
        wipe(second)


def _identity_check(
    session: CardSession,
    support_key: bytearray | None,
    face_key: bytearray | None,
    anchors: TrustAnchors | None,
    confirmed: frozenset[PinKind],
) -> IdentityReport:
    start = session.apdus
    checks: list[Check] = []
    test_card = False
    info: Basic4Info | None = None
    face: CardFace | None = None
    # One short READ that may allow every later file in one extended READ each.
    session.probe_extended_length()
    if support_key is not None:
        info = read_basic4(session, support_key, confirm_last_try=(
            PinKind.SUPPORT_COLLATION_B in confirmed))
        integrity = parse_integrity_record(
            session.read_tlv_file(Application.SUPPORT, layout.SUPPORT_INTEGRITY)
        )
        cv_support = read_cv_certificate(session, Application.SUPPORT)
        test_card |= cv_support.test_hierarchy
        read_info = info
        checks.append(_signature_check(
            "support_signature", anchors, cv_support,
            lambda: verify_integrity_record(integrity, cv_support.public_key, read_info),
        ))
    if face_key is not None:
        face = read_card_face(session, face_key, confirm_last_try=(
            PinKind.CARD_FACE_COLLATION_B in confirmed))
        cv_face = read_cv_certificate(session, Application.CARD_FACE)
        test_card |= cv_face.test_hierarchy
        challenge = session.get_challenge(8)
        presence_signature = session.internal_sign(
            Application.CARD_FACE, SHA256_DIGEST_INFO + hashlib.sha256(challenge).digest()
        )
        read_face = face
        checks.append(_signature_check(
            "card_face_signature", anchors, cv_face,
            lambda: verify_card_face(read_face, cv_face.public_key),
        ))
        checks.append(_plain_check(
            "presence",
            lambda: verify_challenge_signature(read_face, challenge, presence_signature),
        ))
    return IdentityReport(
        basic4=info,
        card_face=face,
        checks=checks,
        test_card=test_card,
        apdus=session.apdus - start,
    )
