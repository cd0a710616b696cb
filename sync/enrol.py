"""Device enrolment: make the key and CSR on the device, get them signed by the server."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec

from madoguchi.schema import ShapeError, convert
from sync import pki, wire
from sync.client import DEVICE_CERT, DEVICE_KEY, SERVER_CA, tls_context
from sync.errors import EnrolmentError


class EnrolmentRefusedError(EnrolmentError):
    """The server answered and refused the enrolment (``status``: its HTTP status;
    403 is a token that is unknown, already used or expired, 429 too many attempts)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class EnrolledDevice:
    """What one enrolment gave this device, still in memory (nothing written yet)."""

    device_id: str
    #: The office the server enrolled the device for (empty from an older server).
    office_code: str
    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes

    def write(self, tls_dir: Path) -> None:
        """Store the key (0600), the certificate and the CA in ``tls_dir``."""
        pki.write_private(tls_dir / DEVICE_KEY, self.key_pem)
        pki.write_public(tls_dir / DEVICE_CERT, self.cert_pem)
        pki.write_public(tls_dir / SERVER_CA, self.ca_pem)


def request_certificate(
    server_url: str, token: str, trust: ssl.SSLContext, ca_pem: bytes, *, timeout_s: float = 30.0
) -> EnrolledDevice:
    """Make a key and CSR here, have the server sign the CSR; nothing is written.

    The private key never leaves the device: only the CSR is sent, over TLS that
    trusts ``trust`` only (the server's CA, ``ca_pem``).

    Raises:
        EnrolmentRefusedError: the server answered with a refusal.
        EnrolmentError: the server could not be reached (the cause is chained) or
            answered something that is not an enrolment.
    """
    key = pki.new_key()
    csr_pem = pki.csr_pem(pki.make_csr(key))
    try:
        with httpx.Client(verify=trust, timeout=timeout_s) as http:
            response = http.post(
                server_url.rstrip("/") + "/v1/enrolment",
                content=msgspec.json.encode(wire.EnrolmentRequest(token, csr_pem)),
                headers={"Content-Type": "application/json"},
            )
    except httpx.HTTPError as exc:
        raise EnrolmentError(f"cannot reach the server to enrol: {exc}") from exc
    try:
        doc = response.json()
    except ValueError as exc:
        raise EnrolmentRefusedError(
            f"the server answered {response.status_code} without JSON", response.status_code
        ) from exc
    if response.status_code != 200 or not isinstance(doc, dict):
        detail = doc.get("detail", "") if isinstance(doc, dict) else ""
        raise EnrolmentRefusedError(
            f"enrolment refused ({response.status_code}): {detail}", response.status_code
        )
    try:
        answer = convert(doc, wire.EnrolmentAnswer, "the server's enrolment answer")
    except ShapeError as exc:
        raise EnrolmentError(str(exc)) from None
    return EnrolledDevice(
        device_id=answer.device_id,
        office_code=answer.office_code,
        key_pem=pki.key_pem(key),
        cert_pem=answer.certificate_pem.encode(),
        ca_pem=ca_pem,
    )


def enrol_device(server_url: str, token: str, server_ca: Path, tls_dir: Path) -> str:
    """Enrol this device; returns the device id the server assigned.

    The key, the certificate and the CA are written to ``tls_dir`` (the key with
    mode 0600); see :func:`request_certificate`.
    """
    enrolled = request_certificate(
        server_url, token, tls_context(server_ca), server_ca.read_bytes()
    )
    enrolled.write(tls_dir)
    return enrolled.device_id
