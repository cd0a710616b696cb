"""The test PKI: generated once, cached on disk, trust anchors exportable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from drivers.simcard import pki as pki_module
from drivers.simcard.pki import KEY_SLOTS, TestPki, default_pki_dir


def test_second_load_reads_the_cache_instead_of_generating(
    sim_pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**_: object) -> rsa.RSAPrivateKey:
        raise AssertionError("a cached PKI must not generate keys")

    monkeypatch.setattr(pki_module.rsa, "generate_private_key", refuse)
    monkeypatch.delitem(pki_module._cache, sim_pki.directory)  # as if a new process
    again = TestPki.load_or_create(sim_pki.directory)
    assert again is not sim_pki
    for slot in KEY_SLOTS:
        assert again.key(slot).private_numbers() == sim_pki.key(slot).private_numbers()
    assert again.ca_certificate("auth") == sim_pki.ca_certificate("auth")


def test_key_files_are_private(sim_pki: TestPki) -> None:
    for slot in KEY_SLOTS:
        mode = (sim_pki.directory / f"{slot}.key.pem").stat().st_mode
        assert stat.S_IMODE(mode) == 0o600


def test_default_directory_follows_the_state_dir(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("MADOGUCHI_STATE_DIR", str(tmp_path))
    assert default_pki_dir() == tmp_path / "sim-pki"
    monkeypatch.delenv("MADOGUCHI_STATE_DIR")
    assert default_pki_dir() == Path.home() / ".cache" / "madoguchi" / "sim-pki"


def test_export_trust_anchors(sim_pki: TestPki, tmp_path: Path) -> None:
    paths = sim_pki.export_trust_anchors(tmp_path / "anchors")
    assert sorted(p.name for p in paths) == [
        "cv-6000023.pem", "cv-6000033.pem", "jpki-auth-ca.pem", "jpki-sign-ca.pem",
    ]
    ca = x509.load_pem_x509_certificate((tmp_path / "anchors" / "jpki-auth-ca.pem").read_bytes())
    assert ca.subject == ca.issuer
    assert ca.signature_hash_algorithm is not None
    assert ca.signature_hash_algorithm.name == "sha256"
    assert ca.public_key().key_size == 2048
    cv = serialization.load_pem_public_key((tmp_path / "anchors" / "cv-6000023.pem").read_bytes())
    assert cv == sim_pki.key("cv-issuer").public_key()
