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
