"""What the counter reads from a card: tap-to-ready, the identity check, certificates.

The order of reads is chosen so that each application is selected once: 共通AP
(expiry record, 住基 PIN), JPKI-AP (token, certificate flags, two PINs), then
入力補助AP (extended-length advertisement, PIN), which is where the identity
check continues. That is 15 APDUs for tap-to-ready on a My Number card and 29
for the full identity check (reference §7.2/§9.2 count 19+ for jpki/myna).
"""

from __future__ import annotations

import datetime as dt
import enum
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


class CheckReason(enum.Enum):
    """Why a chip check ended as it did: codes ``card read`` prints and the TUI translates.

    ``ok=True`` comes with ``VERIFIED`` only; ``ok=False`` (偽造カードの疑い) with the
    two ``*_SIGNATURE_INVALID``; every other reason means ``ok=None``: the card cannot
    be shown genuine (真正性を確認できない), which never counts as a match either.
    """

    VERIFIED = "verified"
    #: The record's (or the presence) signature does not verify, or covers other data.
    SIGNATURE_INVALID = "signature_invalid"
    #: The CV certificate's signature does not verify under the configured issuer key.
    CV_SIGNATURE_INVALID = "cv_signature_invalid"
    #: No trust anchors are configured at all.
    NO_ANCHORS = "no_anchors"
    #: The CV certificate names an issuer no configured anchor belongs to.
    ISSUER_UNKNOWN = "issuer_unknown"
    #: EF 0004 is absent or its READ was refused (``6A82``, ``6986``, …).
    CV_MISSING = "cv_missing"
    #: EF 0004 does not parse as a CV certificate.
    CV_MALFORMED = "cv_malformed"
    #: A signed record (or the data it covers) is absent or its READ was refused.
    RECORD_MISSING = "record_missing"
    #: A signed record does not parse, or lacks a signed field.
    RECORD_MALFORMED = "record_malformed"
    #: The card would not give a challenge or sign it (presence check).
    PRESENCE_REFUSED = "presence_refused"


@dataclass(frozen=True)
class Check:
    """The outcome of one chip check: ``ok`` is ``None`` when it could not be decided."""

    name: str
    ok: bool | None
    detail: str
    reason: CheckReason = CheckReason.VERIFIED


@dataclass(frozen=True)
class IdentityReport:
    """The full identity check: 基本4情報, card face and the chip checks.

    ``unreadable`` names each piece the card did not give (``basic4``,
    ``card_face``, ``name_image``, ``address_image``, ``photo``) with why; what
    was read is still reported.
    """

    basic4: Basic4Info | None
    card_face: CardFace | None
    checks: list[Check] = field(default_factory=list)
    test_card: bool = False
    apdus: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def genuine(self) -> bool | None:
        """``False`` if any check failed, ``None`` if one could not be decided, else ``True``."""
        results = [check.ok for check in self.checks]
        if False in results:
            return False
        if None in results or not results:
            return None
        return True


class _Gap(Exception):
    """A piece of the chip could not be read or parsed: why, as a reason and a detail."""

    def __init__(self, reason: CheckReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _piece(read: Callable[[], _T], missing: CheckReason, malformed: CheckReason) -> _T:
    """``read()``, with a refused or absent file and unparsable data turned into a :class:`_Gap`.

    Transport errors (the card left, the link dropped) are not gaps: they still end
    the check. No VERIFY runs inside ``read``, so no PIN outcome is swallowed here.
    """
    try:
        return read()
    except StatusWordError as exc:
        raise _Gap(missing, str(exc)) from None
    except MalformedResponseError as exc:
        raise _Gap(malformed, str(exc)) from None


def _plain_check(name: str, verify: Callable[[], None]) -> Check:
    try:
        verify()
    except ChipSignatureError as exc:
        return Check(name, False, str(exc), CheckReason.SIGNATURE_INVALID)
    except MalformedResponseError as exc:
        return Check(name, None, f"chip data does not parse: {exc}", CheckReason.RECORD_MALFORMED)
    return Check(name, True, "verified")


def _signature_check(
    name: str, anchors: TrustAnchors | None, cv: CvCertificate, verify: Callable[[], None]
) -> Check:
    """The record signature under the CV certificate, and the certificate under its anchor."""
    record = _plain_check(name, verify)
    if record.ok is not True:
        return record
    if anchors is None:
        return Check(name, None, "record signature verifies, but no trust anchors are configured",
                     CheckReason.NO_ANCHORS)
    try:
        verify_cv_certificate(cv, anchors, f"CV certificate of issuer {cv.issuer_id}")
    except TrustAnchorError as exc:
        return Check(name, None, str(exc), CheckReason.ISSUER_UNKNOWN)
    except ChipSignatureError as exc:
        return Check(name, False, str(exc), CheckReason.CV_SIGNATURE_INVALID)
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
    unreadable: dict[str, str] = {}
    test_card = False
    info: Basic4Info | None = None
    face: CardFace | None = None
    # One short READ that may allow every later file in one extended READ each.
    session.probe_extended_length()
    if support_key is not None:
        # The VERIFY's outcomes (wrong, blocked, last try) end the check as before; what
        # follows is read piece by piece, and a missing piece is reported, not raised.
        session.verify(PinKind.SUPPORT_COLLATION_B, support_key,
                       confirm_last_try=PinKind.SUPPORT_COLLATION_B in confirmed)
        try:
            info = _piece(lambda: parse_basic4(
                session.read_tlv_file(Application.SUPPORT, layout.SUPPORT_BASIC4)),
                CheckReason.RECORD_MISSING, CheckReason.RECORD_MALFORMED)
        except _Gap as gap:
            unreadable["basic4"] = gap.detail
        check, cv_support = _support_check(session, anchors, info)
        checks.append(check)
        test_card |= cv_support is not None and cv_support.test_hierarchy
    if face_key is not None:
        session.verify(PinKind.CARD_FACE_COLLATION_B, face_key,
                       confirm_last_try=PinKind.CARD_FACE_COLLATION_B in confirmed)
        try:
            face = _piece(lambda: parse_card_face(
                session.read_tlv_file(Application.CARD_FACE, layout.CARD_FACE_DATA)),
                CheckReason.RECORD_MISSING, CheckReason.RECORD_MALFORMED)
        except _Gap as gap:
            unreadable["card_face"] = gap.detail
        else:
            for missing in face.missing:
                if missing in ("name_image", "address_image", "photo"):
                    unreadable[missing] = "absent from the card face (券面AP EF 0002)"
        check, cv_face = _face_check(session, anchors, face)
        checks.append(check)
        test_card |= cv_face is not None and cv_face.test_hierarchy
        checks.append(_presence_check(session, face))
    return IdentityReport(
        basic4=info,
        card_face=face,
        checks=checks,
        test_card=test_card,
        apdus=session.apdus - start,
        unreadable=unreadable,
    )


def _read_cv(session: CardSession, app: Application) -> CvCertificate:
    return _piece(lambda: read_cv_certificate(session, app),
                  CheckReason.CV_MISSING, CheckReason.CV_MALFORMED)


def _support_check(
    session: CardSession, anchors: TrustAnchors | None, info: Basic4Info | None
) -> tuple[Check, CvCertificate | None]:
    """入力補助: the integrity record over the 基本4情報, under the AP's CV certificate."""
    name = "support_signature"
    try:
        integrity = _piece(lambda: parse_integrity_record(
            session.read_tlv_file(Application.SUPPORT, layout.SUPPORT_INTEGRITY)),
            CheckReason.RECORD_MISSING, CheckReason.RECORD_MALFORMED)
    except _Gap as gap:
        integrity_gap: _Gap | None = gap
    else:
        integrity_gap = None
    try:
        cv = _read_cv(session, Application.SUPPORT)
    except _Gap as gap:
        return Check(name, None, f"CV certificate (EF 0004): {gap.detail}", gap.reason), None
    if integrity_gap is not None:
        return Check(name, None, f"integrity record (EF 0003): {integrity_gap.detail}",
                     integrity_gap.reason), cv
    if info is None:
        return Check(name, None, "the 基本4情報 the record signs could not be read",
                     CheckReason.RECORD_MISSING), cv
    return _signature_check(
        name, anchors, cv, lambda: verify_integrity_record(integrity, cv.public_key, info)
    ), cv


def _face_check(
    session: CardSession, anchors: TrustAnchors | None, face: CardFace | None
) -> tuple[Check, CvCertificate | None]:
    """券面: DF28 over the card face, under the AP's CV certificate."""
    name = "card_face_signature"
    try:
        cv = _read_cv(session, Application.CARD_FACE)
    except _Gap as gap:
        return Check(name, None, f"CV certificate (EF 0004): {gap.detail}", gap.reason), None
    if face is None:
        return Check(name, None, "the card face (EF 0002) could not be read",
                     CheckReason.RECORD_MISSING), cv
    return _signature_check(name, anchors, cv, lambda: verify_card_face(face, cv.public_key)), cv


def _presence_check(session: CardSession, face: CardFace | None) -> Check:
    """GET CHALLENGE, then the 券面AP's own signature over it, under the card face's key."""
    name = "presence"
    if face is None:
        return Check(name, None, "the card face (EF 0002) holding the card key could not be read",
                     CheckReason.RECORD_MISSING)
    try:
        challenge = session.get_challenge(8)
        signature = session.internal_sign(
            Application.CARD_FACE, SHA256_DIGEST_INFO + hashlib.sha256(challenge).digest()
        )
    except StatusWordError as exc:
        return Check(name, None, f"the card would not sign a challenge: {exc}",
                     CheckReason.PRESENCE_REFUSED)
    return _plain_check(name, lambda: verify_challenge_signature(face, challenge, signature))
