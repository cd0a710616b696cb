"""A J-LIS-like *test* PKI for the virtual card, made with ``cryptography`` at first use.

Nothing here is ever committed: the keys live in a cache directory (default
``$MADOGUCHI_STATE_DIR/sim-pki``, else ``~/.cache/madoguchi/sim-pki``) as PKCS#8 PEM files with
mode 0600. Generating RSA keys takes seconds, so every key is generated once and read back on
later starts; certificates are rebuilt from the keys on each start, which is fast and
deterministic (fixed names, validity and serial numbers; PKCS#1 v1.5 signatures are deterministic).

See ``docs/virtual-card.md`` for what each key is for.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

#: Key slot -> modulus size in bits.
KEY_SLOTS: dict[str, int] = {
    "jpki-auth-ca": 2048,
    "jpki-sign-ca": 2048,
    "cv-issuer": 2048,
    "card-auth": 2048,
    "card-sign": 2048,
    "juki-auth": 1024,
    "juki-sign": 1024,
    "support-ap": 2048,
    "support-session": 2048,
    "face-ap": 2048,
    "record-signer": 2048,
    "counterfeit-signer": 2048,
}

#: OIDs of the holder attributes in the signature certificate's subjectAltName (reference §3).
HOLDER_OIDS: dict[str, str] = {
    "name": "1.2.392.200149.8.5.5.1",
    "name_alt": "1.2.392.200149.8.5.5.2",
    "sex": "1.2.392.200149.8.5.5.3",
    "birth": "1.2.392.200149.8.5.5.4",
    "address": "1.2.392.200149.8.5.5.5",
    "address_alt": "1.2.392.200149.8.5.5.6",
}

#: CV issuer key ids of the JPKI test hierarchy (reference §5): 券面AP and 入力補助AP.
CV_KEY_IDS: tuple[str, str] = ("6000023", "6000033")

_CA_NOT_BEFORE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
_CA_NOT_AFTER = dt.datetime(2045, 1, 1, tzinfo=dt.UTC)
_ORG = "JPKI-TEST"
_CA_UNITS = {
    "auth": ("JPKI-TEST for user authentication", "JPKI-TEST Auth CA", "jpki-auth-ca"),
    "sign": ("JPKI-TEST for digital signature", "JPKI-TEST Sign CA", "jpki-sign-ca"),
}

_cache: dict[Path, TestPki] = {}
_cache_lock = threading.Lock()


def default_pki_dir() -> Path:
    """``$MADOGUCHI_STATE_DIR/sim-pki``, else ``~/.cache/madoguchi/sim-pki``."""
    state = os.environ.get("MADOGUCHI_STATE_DIR")
    if state:
        return Path(state) / "sim-pki"
    return Path.home() / ".cache" / "madoguchi" / "sim-pki"


@dataclass(frozen=True)
class HolderAttributes:
    """The 4 attributes a signature certificate carries in its subjectAltName."""

    name: str
    sex: str
    birth: str  # YYYYMMDD
    address: str


def _der_string(tag: int, text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) < 0x80:
        return bytes([tag, len(raw)]) + raw
    if len(raw) <= 0xFF:
        return bytes([tag, 0x81, len(raw)]) + raw
    return bytes([tag, 0x82]) + len(raw).to_bytes(2, "big") + raw


def _utf8(text: str) -> bytes:
    return _der_string(0x0C, text)


def _printable(text: str) -> bytes:
    return _der_string(0x13, text)


class TestPki:
    """The CAs, the CV issuer key and the card keys, cached in one directory."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path, keys: dict[str, rsa.RSAPrivateKey]) -> None:
        self.directory = directory
        self._keys = keys
        self._ca_certs = {kind: self._make_ca(kind) for kind in _CA_UNITS}

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def load_or_create(cls, directory: Path | None = None) -> TestPki:
        """Read the PKI from ``directory``, generating whatever is missing (once per process)."""
        directory = (directory or default_pki_dir()).expanduser().resolve()
        with _cache_lock:
            cached = _cache.get(directory)
            if cached is not None:
                return cached
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Two processes starting at once (a vpcd card and a test run) must not each
            # generate a different key for the same slot.
            with open(directory / ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                keys = {slot: _load_or_generate(directory, slot, bits)
                        for slot, bits in KEY_SLOTS.items()}
            pki = cls(directory, keys)
            _cache[directory] = pki
            return pki

    def key(self, slot: str) -> rsa.RSAPrivateKey:
        """The private key in ``slot`` (see :data:`KEY_SLOTS`)."""
        return self._keys[slot]

    # -- certificates --------------------------------------------------------------------------

    def _ca_name(self, kind: str) -> x509.Name:
        unit, common, _ = _CA_UNITS[kind]
        return x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ])

    def _make_ca(self, kind: str) -> x509.Certificate:
        key = self._keys[_CA_UNITS[kind][2]]
        name = self._ca_name(kind)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1 if kind == "auth" else 2)
            .not_valid_before(_CA_NOT_BEFORE)
            .not_valid_after(_CA_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )

    def ca_certificate(self, kind: str) -> x509.Certificate:
        """The ``"auth"`` or ``"sign"`` CA certificate."""
        return self._ca_certs[kind]

    def issue_certificate(
        self,
        kind: str,
        public_key: rsa.RSAPublicKey,
        *,
        serial: str,
        not_before: dt.date,
        not_after: dt.date,
        holder: HolderAttributes | None = None,
    ) -> x509.Certificate:
        """An end-entity certificate under the ``"auth"`` or ``"sign"`` CA.

        ``serial`` is the card serial; the certificate serial number is derived from it, so the
        same card gets the same certificate bytes every time.
        """
        ca_key = self._keys[_CA_UNITS[kind][2]]
        prefix = "A" if kind == "auth" else "S"
        attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "JP")]
        if kind == "sign":
            attributes += [
                x509.NameAttribute(NameOID.LOCALITY_NAME, "東京都"),
                x509.NameAttribute(NameOID.LOCALITY_NAME, "千代田区"),
            ]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, prefix + serial))
        number = int.from_bytes(hashlib.sha256(f"{kind}:{serial}".encode()).digest()[:12], "big")
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self._ca_name(kind))
            .public_key(public_key)
            .serial_number(number | 1)
            .not_valid_before(dt.datetime.combine(not_before, dt.time(), dt.UTC))
            .not_valid_after(dt.datetime.combine(not_after, dt.time(23, 59, 59), dt.UTC))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=kind == "sign",
                    key_encipherment=False, data_encipherment=False, key_agreement=False,
                    key_cert_sign=False, crl_sign=False, encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if holder is not None:
            values = {
                "name": _utf8(holder.name),
                "name_alt": _utf8(holder.name),
                "sex": _printable(holder.sex),
                "birth": _printable(holder.birth),
                "address": _utf8(holder.address),
                "address_alt": _utf8(holder.address),
            }
            names = [
                x509.OtherName(x509.ObjectIdentifier(HOLDER_OIDS[field]), values[field])
                for field in HOLDER_OIDS
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    # -- trust anchors -------------------------------------------------------------------------

    def trust_anchors(self) -> dict[str, x509.Certificate | rsa.RSAPublicKey]:
        """What a verifier configures: the two CA certificates and the CV issuer key by id."""
        anchors: dict[str, x509.Certificate | rsa.RSAPublicKey] = {
            "jpki-auth-ca": self._ca_certs["auth"],
            "jpki-sign-ca": self._ca_certs["sign"],
        }
        for key_id in CV_KEY_IDS:
            anchors[f"cv-{key_id}"] = self._keys["cv-issuer"].public_key()
        return anchors

    def export_trust_anchors(self, directory: Path) -> list[Path]:
        """Write the trust anchors as PEM files into ``directory``; returns their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, anchor in self.trust_anchors().items():
            path = directory / f"{name}.pem"
            if isinstance(anchor, x509.Certificate):
                pem = anchor.public_bytes(serialization.Encoding.PEM)
            else:
                pem = anchor.public_bytes(
                    serialization.Encoding.PEM,
                    serialization.PublicFormat.SubjectPublicKeyInfo,
                )
            path.write_bytes(pem)
            paths.append(path)
        return paths


def _load_or_generate(directory: Path, slot: str, bits: int) -> rsa.RSAPrivateKey:
    path = directory / f"{slot}.key.pem"
    if path.exists():
        # Our own cache file: skip the slow RSA consistency check (it dominates start-up).
        key = serialization.load_pem_private_key(
            path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
        )
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size == bits:
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.replace(tmp, path)
    return key
