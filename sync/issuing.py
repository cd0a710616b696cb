"""The device's side of certificate issuance against the simulated issuing authority.

In a municipality the 機構 (J-LIS) issues the certificates; the demo and the tests
use the central server's stand-in (``madoguchi server run --simulate``,
``POST /v1/sim/issuing-authority/certificates``), reached with the device's own
mutual-TLS identity. A real card makes its key pair on the chip; the virtual card
cannot, so the key pair is made here, only its public half is sent, and the
private half is dropped at once: the simulation is about the serials that the
transaction record and the server's registry carry, not about the card's keys.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from madoguchi.errors import SyncError
from sync.client import SyncClient
from sync.errors import IssuingAuthorityError

#: The certificate kinds, as the clerk reads them in an error.
KIND_LABELS = {"sign": "署名用 (signature)", "auth": "利用者証明用 (user authentication)"}


class SimulatedIssuingAuthority:
    """Issues test certificates through one central server started with ``--simulate``.

    Args:
        base_url: the central server, e.g. ``https://127.0.0.1:8765``.
        tls_dir: the enrolled device's key, certificate and the server's CA.
        timeout_s: how long one request may take.
    """

    def __init__(self, base_url: str, tls_dir: Path, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url
        self.tls_dir = tls_dir
        self.timeout_s = timeout_s

    def issue(self, kind: str) -> str:
        """Blocking: issue one ``kind`` (``"sign"``/``"auth"``) certificate; its serial.

        Raises :class:`~sync.errors.IssuingAuthorityError` with the reason when the
        authority cannot be reached or refuses.
        """
        label = KIND_LABELS.get(kind)
        if label is None:
            raise IssuingAuthorityError(f"unknown certificate kind {kind!r} (sign or auth)")
        # JPKI certificates are RSA-2048, as the card's own keys are.
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        del key
        try:
            with SyncClient(self.base_url, self.tls_dir, timeout_s=self.timeout_s) as client:
                return client.request_certificate(kind, pem)
        except SyncError as exc:
            raise IssuingAuthorityError(
                f"the issuing authority did not issue the {label} certificate: {exc}"
            ) from exc
