"""Sync errors (leaves of :class:`madoguchi.errors.SyncError`).

The uploader sorts every failure into *retry later* (network, TLS, 5xx, a
garbled answer, a refused device) or *quarantine this record* (a 4xx about the
record itself). Nothing is ever dropped.
"""

from __future__ import annotations

from madoguchi.errors import SyncError


class RetryableSyncError(SyncError):
    """The batch was not delivered; keep it and try again after a backoff."""


class ServerUnreachableError(RetryableSyncError, ConnectionError):
    """No connection to the central server (down, network, timeout)."""


class TlsTrustError(RetryableSyncError):
    """The TLS handshake failed: the server's certificate is not signed by the
    configured CA, or the server refused this device's certificate."""


class ServerFailureError(RetryableSyncError):
    """The server answered 5xx."""


class ProtocolError(RetryableSyncError, ValueError):
    """The server's answer is not the protocol (garbage, wrong shape)."""


class DeviceRefusedError(RetryableSyncError, PermissionError):
    """The server refused this device (401 not enrolled, 403 revoked)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class BatchRejectedError(SyncError, ValueError):
    """The server refused the request itself (4xx other than 401/403).

    The uploader splits the batch to find the record at fault and quarantines it.
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class EnrolmentError(SyncError):
    """Device enrolment failed (bad token, server refused the CSR)."""


class RepositoryError(SyncError):
    """The server's database failed or refused an operation."""


class ConflictError(SyncError, ValueError):
    """A request conflicts with what the server already holds (HTTP 409)."""


class NotFoundError(SyncError, LookupError):
    """The named device, card or certificate is unknown (HTTP 404)."""


class IssuingAuthorityError(SyncError):
    """The issuing authority did not issue a certificate (unreachable, refused or not
    running); nothing was recorded, and the clerk may try again."""


class NotAllowedError(SyncError, PermissionError):
    """The principal may not change this registry entry (HTTP 403): another office's
    card or certificate (docs/security.md, the authorization matrix)."""


class RegistryRuleError(ConflictError):
    """The change breaks a registry rule (HTTP 409), e.g. a 失効 certificate made valid."""
