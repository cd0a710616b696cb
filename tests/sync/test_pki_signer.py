"""One CA signer for every server host (issue 15): ``madoguchi server pki init`` makes the
CA once; a host never makes one by itself (an empty PKI directory is refused with one
line saying what to copy); a host without the CA key verifies devices and ingests, and
refuses enrolment (421) without spending the token; each host's TLS certificate is the
signer's, for that host's names. Real ``madoguchi server run`` processes, real files."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from device.store import Store
from sync import pki
from sync.client import SyncClient, tls_context
from sync.enrol import enrol_device
from sync.errors import EnrolmentError
from sync.localserver import LocalServer
from sync.server.app import enrolment_expiry, token_hash
from sync.server.repository import open_repository
from sync.uploader import Uploader
from tests.sync.conftest import PYTHONPATH, ROOT
from tests.sync.sync_support import make_record


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "server", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": PYTHONPATH},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def _files(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_pki_init_makes_the_ca_once(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    made = _cli("pki", "init", "--pki-dir", str(directory), "--host", "ingest-a.example.lg.jp")
    assert made.returncode == 0, made.stderr
    assert "CA made" in made.stdout
    first = _files(directory)
    assert set(first) == {pki.CA_KEY, pki.CA_CERT, pki.SERVER_KEY, pki.SERVER_CERT}
    assert (directory / pki.CA_KEY).stat().st_mode & 0o777 == 0o600
    cert = pki.load_cert(directory / pki.SERVER_CERT)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["ingest-a.example.lg.jp"]
    again = _cli("pki", "init", "--pki-dir", str(directory))
    assert again.returncode == 0, again.stderr
    assert "already has a CA: nothing made" in again.stdout
    assert _files(directory) == first  # the same CA, the same host certificate
    # the old spelling does the same
    old = _cli("init-pki", "--pki-dir", str(directory))
    assert old.returncode == 0
    assert _files(directory) == first


def test_an_empty_pki_directory_is_refused_with_what_to_copy(tmp_path: Path) -> None:
    empty = tmp_path / "pki"
    empty.mkdir()
    started = _cli(
        "run",
        "--db",
        str(tmp_path / "server.sqlite3"),
        "--pki-dir",
        str(empty),
        "--listen",
        "127.0.0.1:1",
    )
    assert started.returncode == 2
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1, started.stderr
    assert f"{empty} has no ca.crt" in lines[0]
    assert "madoguchi server pki init" in lines[0]
    assert "madoguchi server pki host-cert" in lines[0]
    assert _files(empty) == {}  # never a new CA
    assert not (tmp_path / "server.sqlite3").exists()  # refused before anything is opened


def test_a_host_with_the_ca_but_not_its_own_certificate_is_refused(tmp_path: Path) -> None:
    signer = tmp_path / "signer"
    pki.init_server_pki(signer)
    other = tmp_path / "other"
    other.mkdir()
    (other / pki.CA_CERT).write_bytes((signer / pki.CA_CERT).read_bytes())
    started = _cli(
        "run",
        "--db",
        str(tmp_path / "s.sqlite3"),
        "--pki-dir",
        str(other),
        "--listen",
        "127.0.0.1:1",
    )
    assert started.returncode == 2
    assert "has no server.crt" in started.stderr
    assert "host-cert" in started.stderr


def test_a_host_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    signer, rogue = tmp_path / "signer", tmp_path / "rogue"
    pki.init_server_pki(signer)
    pki.init_server_pki(rogue)
    other = tmp_path / "other"
    other.mkdir()
    (other / pki.CA_CERT).write_bytes((signer / pki.CA_CERT).read_bytes())
    for name in (pki.SERVER_CERT, pki.SERVER_KEY):
        (other / name).write_bytes((rogue / name).read_bytes())
    started = _cli(
        "run",
        "--db",
        str(tmp_path / "s.sqlite3"),
        "--pki-dir",
        str(other),
        "--listen",
        "127.0.0.1:1",
    )
    assert started.returncode == 2
    assert "server.crt is not issued by" in started.stderr


def test_host_cert_needs_the_ca_key(tmp_path: Path) -> None:
    signer = tmp_path / "signer"
    pki.init_server_pki(signer)
    second = tmp_path / "second"
    made = _cli(
        "pki",
        "host-cert",
        "--pki-dir",
        str(signer),
        "--host",
        "ingest-b.example.lg.jp",
        "--host",
        "10.0.0.12",
        "--out",
        str(second),
    )
    assert made.returncode == 0, made.stderr
    assert set(_files(second)) == {pki.CA_CERT, pki.SERVER_CERT, pki.SERVER_KEY}  # no CA key
    assert (second / pki.SERVER_KEY).stat().st_mode & 0o777 == 0o600
    assert _files(second)[pki.CA_CERT] == _files(signer)[pki.CA_CERT]
    cert = pki.load_cert(second / pki.SERVER_CERT)
    cert.verify_directly_issued_by(pki.load_cert(signer / pki.CA_CERT))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["ingest-b.example.lg.jp"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.12"]
    # the second host cannot issue: it has no CA key
    refused = _cli(
        "pki",
        "host-cert",
        "--pki-dir",
        str(second),
        "--host",
        "x",
        "--out",
        str(tmp_path / "third"),
    )
    assert refused.returncode == 2
    assert "has no CA key" in refused.stderr
    assert not (tmp_path / "third").exists()


def _token(db_url: str, device_id: str) -> str:
    token = uuid.uuid4().hex
    repo = open_repository(db_url)
    try:
        repo.add_enrolment_token(
            token_hash(token), device_id, "131016", enrolment_expiry(datetime.now(UTC))
        )
    finally:
        repo.close()
    return token


def test_a_host_without_the_ca_key_verifies_and_ingests_but_does_not_sign(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "server.sqlite3")
    signer = LocalServer(db, tmp_path / "a" / "pki", simulate=False)
    pki.init_server_pki(signer.pki_dir)
    pki.issue_host_pki(signer.pki_dir, ("127.0.0.1",), tmp_path / "b" / "pki")
    second = LocalServer(db, tmp_path / "b" / "pki", simulate=False, init_pki=False)
    signer.start()
    second.start()
    try:
        ca = signer.pki_dir / pki.CA_CERT
        token = _token(db, "counter-b")
        # the second host refuses enrolment with the reason, and the token stays usable
        with pytest.raises(EnrolmentError, match=r"\(421\).*does not sign enrolments"):
            enrol_device(second.url, token, ca, tmp_path / "tls")
        assert not (tmp_path / "tls" / "device.crt").exists()
        refusal = httpx.post(
            second.url + "/v1/enrolment",
            json={"token": token, "csr_pem": "x"},
            verify=tls_context(ca),
            timeout=10,
        )
        assert refusal.status_code == 421
        assert refusal.json()["error"] == "not_the_signer"
        assert enrol_device(signer.url, token, ca, tmp_path / "tls") == "counter-b"
        # the device's certificate (the signer's) is verified by the second host
        store = Store(tmp_path / "device.sqlite3")
        for i in range(5):
            store.record_transaction(make_record(i))
        client = SyncClient(second.url, tmp_path / "tls")
        try:
            assert Uploader(store, client).drain() == 5
        finally:
            client.close()
        me = httpx.get(
            second.url + "/v1/devices/me",
            timeout=10,
            verify=tls_context(
                ca, tmp_path / "tls" / "device.crt", tmp_path / "tls" / "device.key"
            ),
        )
        assert me.status_code == 200
        assert me.json()["high_water"] == 5
        # a certificate from another CA is refused during the handshake on this host too
        rogue_key, rogue_ca = pki.make_ca("rogue CA")
        key = pki.new_key()
        cert = pki.sign_device_csr(rogue_key, rogue_ca, pki.make_csr(key), "counter-b")
        rogue = tmp_path / "rogue"
        pki.write_private(rogue / "device.key", pki.key_pem(key))
        pki.write_public(rogue / "device.crt", pki.cert_pem(cert))
        with pytest.raises(httpx.HTTPError):
            httpx.get(
                second.url + "/v1/devices/me",
                verify=tls_context(ca, rogue / "device.crt", rogue / "device.key"),
                timeout=10,
            )
        # the second host's TLS certificate is the signer's, for its own name
        served = pki.load_cert(second.pki_dir / pki.SERVER_CERT)
        served.verify_directly_issued_by(pki.load_cert(ca))
    finally:
        second.stop()
        signer.stop()
