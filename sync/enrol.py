"""Device enrolment: make the key and CSR on the device, get them signed by the server."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec

from madoguchi.schema import ShapeError, convert
from sync import pki, wire
from sync.client import DEVICE_CERT, DEVICE_KEY, SERVER_CA, tls_context
from sync.errors import EnrolmentError


def enrol_device(server_url: str, token: str, server_ca: Path, tls_dir: Path) -> str:
    """Enrol this device; returns the device id the server assigned.

    The private key never leaves the device: only the CSR is sent, over TLS that
    trusts ``server_ca`` only. The key, the certificate and the CA are written to
    ``tls_dir`` (the key with mode 0600).
    """
    key = pki.new_key()
    csr = pki.make_csr(key)
    csr_pem = pki.csr_pem(csr)
    try:
        with httpx.Client(verify=tls_context(server_ca), timeout=30.0) as http:
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
        raise EnrolmentError(f"the server answered {response.status_code} without JSON") from exc
    if response.status_code != 200 or not isinstance(doc, dict):
        detail = doc.get("detail", "") if isinstance(doc, dict) else ""
        raise EnrolmentError(f"enrolment refused ({response.status_code}): {detail}")
    try:
        answer = convert(doc, wire.EnrolmentAnswer, "the server's enrolment answer")
    except ShapeError as exc:
        raise EnrolmentError(str(exc)) from None
    cert_pem, device_id = answer.certificate_pem, answer.device_id
    pki.write_private(tls_dir / DEVICE_KEY, pki.key_pem(key))
    pki.write_public(tls_dir / DEVICE_CERT, cert_pem.encode())
    pki.write_public(tls_dir / SERVER_CA, server_ca.read_bytes())
    return device_id
