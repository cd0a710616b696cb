"""Keys and certificates for mutual TLS, made with ``cryptography``.

The server holds a small CA, whose key lives only on the host that signs
enrolments (:func:`init_server_pki`, once); every other server host holds the CA
certificate and its own TLS certificate from that signer (:func:`issue_host_pki`),
verifies devices and ingests, and signs nothing (:func:`load_server_pki`). A device
makes its own EC P-256 key and a CSR (:func:`make_csr`); the server signs it with the
device id the enrolment token was issued for (:func:`sign_device_csr`) — the device
never names itself. The server maps the client certificate's serial number to the
device on every request, so a revoked device is refused even while its certificate
is unexpired.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from device.private_files import private_dir
from madoguchi.errors import ConfigError
from sync.errors import EnrolmentError

PrivateKey = ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "madoguchi"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def new_key() -> PrivateKey:
    """A new EC P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(
    common_name: str = "madoguchi central CA", days: int = 3650
) -> tuple[PrivateKey, x509.Certificate]:
    """A self-signed CA key and certificate."""
    key = new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    *,
    usage: x509.ObjectIdentifier,
    days: int,
    hosts: Sequence[str] = (),
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def make_server_cert(
    ca_key: PrivateKey, ca_cert: x509.Certificate, hosts: Sequence[str], days: int = 825
) -> tuple[PrivateKey, x509.Certificate]:
    """A server key and certificate for ``hosts`` (names or IP addresses)."""
    key = new_key()
    cert = _leaf(
        ca_key,
        ca_cert,
        _name(hosts[0]),
        key.public_key(),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        days=days,
        hosts=hosts,
    )
    return key, cert


def make_csr(key: PrivateKey, hint: str = "madoguchi device") -> x509.CertificateSigningRequest:
    """The device's certificate signing request (its subject is only a hint)."""
    return (
        x509.CertificateSigningRequestBuilder().subject_name(_name(hint)).sign(key, hashes.SHA256())
    )


def sign_device_csr(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    csr: x509.CertificateSigningRequest,
    device_id: str,
    days: int = 825,
) -> x509.Certificate:
    """A client certificate for ``device_id`` over the CSR's public key."""
    if not csr.is_signature_valid:
        raise EnrolmentError("the CSR's signature does not verify")
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise EnrolmentError("the CSR must carry an EC key")
    return _leaf(
        ca_key,
        ca_cert,
        _name(device_id),
        public_key,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        days=days,
    )


def sign_test_certificate(
    ca_key: PrivateKey, ca_cert: x509.Certificate, public_key: CertificatePublicKeyTypes, kind: str
) -> x509.Certificate:
    """A *test* JPKI-style certificate for the virtual card (simulation only)."""
    usage = (
        ExtendedKeyUsageOID.CLIENT_AUTH if kind == "auth" else ExtendedKeyUsageOID.EMAIL_PROTECTION
    )
    return _leaf(
        ca_key, ca_cert, _name(f"TEST JPKI {kind} certificate"), public_key, usage=usage, days=365
    )


def device_id_of(cert: x509.Certificate) -> str:
    """The device id a client certificate was issued for (its common name)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def serial_of(cert: x509.Certificate) -> str:
    """The certificate serial as lowercase hex (how the server keys devices)."""
    return format(cert.serial_number, "x")


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    """PEM of a CSR."""
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM (the file itself is mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """PEM of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (0600, its new folder 0700), atomically.

    The modes hold whatever the umask; a leftover temporary file is tightened too.
    """
    if not path.parent.exists():
        private_dir(path.parent)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def write_public(path: Path, data: bytes) -> None:
    """Write a non-secret file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def load_key(path: Path) -> PrivateKey:
    """An EC private key from PEM."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise EnrolmentError(f"{path} is not an EC private key")
    return key


def load_cert(path: Path) -> x509.Certificate:
    """A certificate from PEM."""
    return x509.load_pem_x509_certificate(path.read_bytes())


#: File names inside a server PKI directory.
CA_KEY, CA_CERT, SERVER_KEY, SERVER_CERT = "ca.key", "ca.crt", "server.key", "server.crt"
#: The simulated issuing authority's CA (simulation only).
ISSUING_KEY, ISSUING_CERT = "issuing-ca.key", "issuing-ca.crt"


def init_issuing_ca(directory: Path) -> None:
    """Create the simulated issuing authority's test CA in ``directory`` (if absent)."""
    if (directory / ISSUING_CERT).exists():
        return
    key, cert = make_ca("TEST JPKI issuing authority (simulation)")
    write_private(directory / ISSUING_KEY, key_pem(key))
    write_public(directory / ISSUING_CERT, cert_pem(cert))


def init_server_pki(directory: Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> bool:
    """Make the server's CA (the one signer) and this host's TLS certificate in
    ``directory``; True when made, False when ``directory`` already has a CA (it is
    never replaced: every device certificate hangs on it)."""
    if (directory / CA_CERT).exists() or (directory / CA_KEY).exists():
        return False
    ca_key, ca_cert = make_ca()
    server_key, server_cert = make_server_cert(ca_key, ca_cert, hosts)
    write_private(directory / CA_KEY, key_pem(ca_key))
    write_public(directory / CA_CERT, cert_pem(ca_cert))
    write_private(directory / SERVER_KEY, key_pem(server_key))
    write_public(directory / SERVER_CERT, cert_pem(server_cert))
    return True


def issue_host_pki(signer_dir: Path, hosts: Sequence[str], out_dir: Path) -> None:
    """On the signer: another server host's PKI directory in ``out_dir``: the CA
    certificate, and a TLS key and certificate for that host's ``hosts``, signed by
    the CA; never the CA key, so that host verifies devices but signs nothing."""
    if not (signer_dir / CA_KEY).exists():
        raise ConfigError(
            f"{signer_dir} has no CA key ({CA_KEY}): issue host certificates on the host"
            " that signs enrolments"
        )
    if not hosts:
        raise ConfigError("name the host: --host NAME (repeatable: its DNS names and addresses)")
    ca_key, ca_cert = load_key(signer_dir / CA_KEY), load_cert(signer_dir / CA_CERT)
    key, cert = make_server_cert(ca_key, ca_cert, hosts)
    if out_dir.exists():
        out_dir.chmod(0o700)
    write_private(out_dir / SERVER_KEY, key_pem(key))
    write_public(out_dir / SERVER_CERT, cert_pem(cert))
    write_public(out_dir / CA_CERT, cert_pem(ca_cert))


@dataclass(frozen=True)
class ServerPki:
    """What a server host holds: the CA certificate (to verify devices), and the CA key
    only on the host that signs enrolments (None elsewhere)."""

    ca_cert: x509.Certificate
    ca_key: PrivateKey | None

    @property
    def signer(self) -> bool:
        """Whether this host signs enrolments."""
        return self.ca_key is not None


def load_server_pki(directory: Path) -> ServerPki:
    """The host's PKI, checked before the server starts; a directory without the CA
    certificate or this host's certificate is refused with one line saying what IT
    copies there (a server never makes a CA by itself: a second CA would split the
    fleet)."""
    ca_path, key_path = directory / CA_CERT, directory / CA_KEY
    if not ca_path.exists():
        raise ConfigError(
            f"{directory} has no {CA_CERT}: on the first server host run `madoguchi server"
            f" pki init --host NAME`; on another host copy there what `madoguchi server pki"
            f" host-cert --host NAME --out DIR` makes on the signer ({CA_CERT}, {SERVER_CERT},"
            f" {SERVER_KEY})"
        )
    for name in (SERVER_CERT, SERVER_KEY):
        if not (directory / name).exists():
            raise ConfigError(
                f"{directory} has no {name}: copy there what `madoguchi server pki host-cert"
                f" --host NAME --out DIR` makes on the signer"
            )
    ca_cert = load_cert(ca_path)
    server_cert = load_cert(directory / SERVER_CERT)
    try:
        server_cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise ConfigError(
            f"{directory / SERVER_CERT} is not issued by {ca_path}: issue it again on the"
            " signer (`madoguchi server pki host-cert`)"
        ) from exc
    ca_key = load_key(key_path) if key_path.exists() else None
    if ca_key is not None and ca_key.public_key() != ca_cert.public_key():
        raise ConfigError(f"{key_path} is not the key of {ca_path}")
    return ServerPki(ca_cert=ca_cert, ca_key=ca_key)
