"""The device's TLS material, and the one HTTPS client every device-side caller uses.

An enrolled device keeps ``device.key``, ``device.crt`` and the server's
``ca.crt`` in ``[sync] tls_dir`` (``madoguchi device enroll`` writes them). The
uploader (:class:`sync.client.SyncClient`) and the update poller
(``madoguchi update poll``) both talk to the central server through
:func:`device_http_client`: it trusts that CA only, presents the device
certificate, and turns a failed handshake into a sentence IT can act on.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from sync import pki
from sync.errors import TlsTrustError

__all__ = [
    "DEVICE_CERT",
    "DEVICE_KEY",
    "SERVER_CA",
    "TlsConnectError",
    "device_http_client",
    "enrolled_device_id",
    "tls_context",
    "tls_failure",
]

#: File names inside the device's TLS directory.
DEVICE_KEY, DEVICE_CERT, SERVER_CA = "device.key", "device.crt", "ca.crt"


def tls_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """Trust only ``ca``; present the device certificate when given."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def _require_enrolled(tls_dir: Path) -> None:
    for name in (DEVICE_KEY, DEVICE_CERT, SERVER_CA):
        if not (tls_dir / name).exists():
            raise TlsTrustError(
                f"{tls_dir / name} is missing: enrol this device first (madoguchi device enroll)"
            )


def enrolled_device_id(tls_dir: Path) -> str:
    """The device id the server put in this device's certificate."""
    _require_enrolled(tls_dir)
    return pki.device_id_of(pki.load_cert(tls_dir / DEVICE_CERT))


def tls_failure(exc: BaseException) -> str | None:
    """Why a connection failed in its TLS handshake, as one sentence; None if it did not."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                "the server's certificate is not signed by the configured CA "
                f"(wrong CA or wrong server?): {cause.verify_message}"
            )
        if isinstance(cause, ssl.SSLError):
            return (
                "TLS handshake failed (the server may not accept this device's certificate): "
                f"{cause}"
            )
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"the server's certificate is not signed by the configured CA (wrong CA?): {text}"
    if "SSL" in text or "TLS" in text:
        return f"TLS handshake failed: {text}"
    return None


class TlsConnectError(httpx.ConnectError):
    """A connection refused in the TLS handshake; the message says why (see :func:`tls_failure`)."""


class _ExplainingTransport(httpx.HTTPTransport):
    """Raises :class:`TlsConnectError` with a clear sentence for handshake failures, so a
    caller that only prints the httpx error (the update poller) still says what is wrong."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.ConnectError as exc:
            why = tls_failure(exc)
            if why is None or isinstance(exc, TlsConnectError):
                raise
            raise TlsConnectError(why, request=request) from exc


def device_http_client(tls_dir: Path, *, base_url: str = "", timeout_s: float) -> httpx.Client:
    """An HTTPS client that trusts only the server's CA and presents this device's certificate.

    Raises :class:`~sync.errors.TlsTrustError` when the device is not enrolled yet.
    """
    _require_enrolled(tls_dir)
    context = tls_context(tls_dir / SERVER_CA, tls_dir / DEVICE_CERT, tls_dir / DEVICE_KEY)
    return httpx.Client(
        base_url=base_url,
        transport=_ExplainingTransport(verify=context),
        timeout=httpx.Timeout(timeout_s),
    )
