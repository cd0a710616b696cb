"""Values of the card operation-status (運用状況) and certificate-status registries."""

from __future__ import annotations

import enum


class OperationStatus(enum.Enum):
    """A My Number card's 運用状況 as the registry holds it."""

    IN_OPERATION = "in_operation"  # 運用中
    SUSPENDED = "suspended"  # 一時停止 (e.g. reported lost)
    ABOLISHED = "abolished"  # 廃止

    @property
    def label(self) -> str:
        """The Japanese term shown to clerks."""
        return _OPERATION_LABELS[self]


_OPERATION_LABELS = {
    OperationStatus.IN_OPERATION: "運用中",
    OperationStatus.SUSPENDED: "一時停止",
    OperationStatus.ABOLISHED: "廃止",
}


class CertificateStatus(enum.Enum):
    """An electronic certificate's status as the registry holds it."""

    VALID = "valid"  # 有効
    TEMPORARY_HOLD = "temporary_hold"  # 一時保留 (its card is suspended)
    REVOKED = "revoked"  # 失効

    @property
    def label(self) -> str:
        """The Japanese term shown to clerks."""
        return _CERT_LABELS[self]


_CERT_LABELS = {
    CertificateStatus.VALID: "有効",
    CertificateStatus.TEMPORARY_HOLD: "一時保留",
    CertificateStatus.REVOKED: "失効",
}

#: How a certificate action in a transaction record changes the registry.
ACTION_STATUS = {
    "issued": CertificateStatus.VALID,
    "renewed": CertificateStatus.VALID,
    "revoked": CertificateStatus.REVOKED,
}

#: The certificate status state machine (issue 13): a certificate is registered 有効 or
#: 失効, goes on 一時保留 while its card is suspended, comes back to 有効 or is revoked;
#: 失効 is final. ``None`` is "not in the registry yet".
CERTIFICATE_TRANSITIONS: dict[CertificateStatus | None, frozenset[CertificateStatus]] = {
    None: frozenset({CertificateStatus.VALID, CertificateStatus.REVOKED}),
    CertificateStatus.VALID: frozenset(
        {CertificateStatus.VALID, CertificateStatus.TEMPORARY_HOLD, CertificateStatus.REVOKED}
    ),
    CertificateStatus.TEMPORARY_HOLD: frozenset(
        {CertificateStatus.TEMPORARY_HOLD, CertificateStatus.VALID, CertificateStatus.REVOKED}
    ),
    CertificateStatus.REVOKED: frozenset({CertificateStatus.REVOKED}),
}


def certificate_move_refused(
    before: CertificateStatus | None, after: CertificateStatus, *, by_record: bool
) -> str | None:
    """Why a certificate may not go from ``before`` to ``after`` (None: it may).

    ``by_record``: the change comes from a transaction record (ingest). A record may
    register, confirm or revoke a certificate, never lift a 一時保留: only the card's
    運用状況 (``PUT .../operation-status``) does that.
    """
    if after not in CERTIFICATE_TRANSITIONS[before]:
        was = before.label if before is not None else "未登録"
        why = "失効 is final" if before is CertificateStatus.REVOKED else "no such transition"
        return f"a certificate cannot go from {was} to {after.label} ({why})"
    lifted = before is CertificateStatus.TEMPORARY_HOLD and after is CertificateStatus.VALID
    if by_record and lifted:
        return "a certificate on 一時保留 returns to 有効 only through its card's 運用状況"
    return None
