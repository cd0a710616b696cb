"""Cross-check the virtual card with OpenSC, a JPKI implementation nobody here wrote.

OpenSC's ``jpki`` driver talks to the card through the same pcscd and vpcd as our
own code. It must recognise the card, list and read the four JPKI certificates
byte for byte as a plain PC/SC reader sees them, sign with the user-authentication
key so that ``openssl`` verifies the signature, and lose exactly one try on a
wrong PIN.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from smartcard import scard

pytestmark = pytest.mark.pcsc

PKCS11_MODULE = next(
    (
        str(p)
        for p in (
            Path("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"),
            Path("/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so"),
            Path("/usr/lib/arm-linux-gnueabihf/opensc-pkcs11.so"),
            Path("/usr/lib/opensc-pkcs11.so"),
        )
        if p.exists()
    ),
    "opensc-pkcs11.so",
)
AUTH_TOKEN = "JPKI (User Authentication PIN)"
JPKI_AID = bytes.fromhex("D392F000260100000001")
# OpenSC certificate id -> JPKI EF
CERT_EFS = {"01": 0x000A, "02": 0x0001, "03": 0x000B, "04": 0x0002}


def _run(args: list[str], home: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    # A private HOME keeps OpenSC's file cache from one test out of the next.
    env = dict(os.environ, HOME=str(home))
    return subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=60, check=False, **kwargs
    )


def _auth_slot(reader: str, home: Path) -> str:
    """The PKCS#11 slot id of the user-authentication token on ``reader``.

    Token labels are the same for every JPKI card, so a card in another slot
    (another test run) must not be picked by label alone.
    """
    listing = _run(["pkcs11-tool", "--module", PKCS11_MODULE, "--list-slots"], home)
    assert listing.returncode == 0, listing.stderr
    slot_id = None
    for line in listing.stdout.splitlines():
        header = re.match(r"Slot \d+ \((0x[0-9a-f]+)\): (.*)$", line)
        if header:
            slot_id = header.group(1) if header.group(2).strip() == reader else None
        elif slot_id and "token label" in line and line.split(":", 1)[1].strip() == AUTH_TOKEN:
            return slot_id
    raise AssertionError(f"no {AUTH_TOKEN!r} slot on {reader!r}:\n{listing.stdout}")


def _apdu(handle: int, protocol: int, command: bytes) -> tuple[bytes, int]:
    hresult, response = scard.SCardTransmit(handle, protocol, list(command))
    assert hresult == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hresult)
    return bytes(response[:-2]), (response[-2] << 8) | response[-1]


def _raw_read_certificates(reader: str, sign_password: str) -> dict[int, bytes]:
    """Read the four certificate EFs with plain PC/SC commands (our own ground truth)."""
    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    hresult, handle, protocol = scard.SCardConnect(
        context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
    )
    assert hresult == scard.SCARD_S_SUCCESS
    try:
        assert _apdu(handle, protocol, bytes([0, 0xA4, 4, 0x0C, 10]) + JPKI_AID)[1] == 0x9000
        assert _apdu(handle, protocol, bytes.fromhex("00A4020C02001B"))[1] == 0x9000
        secret = sign_password.encode()
        assert _apdu(handle, protocol, bytes([0, 0x20, 0, 0x80, len(secret)]) + secret)[1] == 0x9000
        found: dict[int, bytes] = {}
        for ef in CERT_EFS.values():
            select_ef = bytes([0, 0xA4, 2, 0x0C, 2, ef >> 8, ef & 0xFF])
            assert _apdu(handle, protocol, select_ef)[1] == 0x9000
            head, sw = _apdu(handle, protocol, bytes.fromhex("00B0000004"))
            assert sw == 0x9000
            total = 4 + int.from_bytes(head[2:4], "big")  # 30 82 LL LL
            data = b""
            while len(data) < total:
                chunk = min(256, total - len(data))
                part, sw = _apdu(
                    handle, protocol,
                    bytes([0, 0xB0, len(data) >> 8, len(data) & 0xFF, chunk & 0xFF]),
                )
                assert sw == 0x9000
                data += part
            found[ef] = data
        return found
    finally:
        scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD)
        scard.SCardReleaseContext(context)


def test_opensc_recognises_the_card_as_jpki(vpcd_card: Any, tmp_path: Path) -> None:
    attached = vpcd_card("standard")
    result = _run(["opensc-tool", "-r", attached.reader_name, "-n"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "jpki"


def test_pkcs15_lists_and_reads_the_four_certificates_byte_identical(
    vpcd_card: Any, tmp_path: Path
) -> None:
    attached = vpcd_card("standard")
    facts = attached.card.facts
    listing = _run(
        ["pkcs15-tool", "-r", attached.reader_name, "--list-certificates", "-s"], tmp_path
    )
    assert listing.returncode == 0, listing.stderr
    assert "Card has 4 Certificate(s)." in listing.stdout
    for cert_id in CERT_EFS:
        assert f"ID:{cert_id}" in listing.stdout

    # The signature certificate is private: OpenSC cannot read it without the password.
    refused = _run(
        ["pkcs15-tool", "-r", attached.reader_name, "--read-certificate", "02",
         "-o", str(tmp_path / "refused.pem")],
        tmp_path,
    )
    assert "failed" in (refused.stdout + refused.stderr).lower()

    read_by_opensc: dict[int, bytes] = {}
    for cert_id, ef in CERT_EFS.items():
        out = tmp_path / f"{cert_id}.pem"
        extra = (
            ["--verify-pin", "--auth-id", "02", "--pin", facts.sign_password]
            if cert_id == "02" else []
        )
        result = _run(
            ["pkcs15-tool", "-r", attached.reader_name, "--read-certificate", cert_id,
             "-o", str(out), *extra],
            tmp_path,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        cert = x509.load_pem_x509_certificate(out.read_bytes())
        read_by_opensc[ef] = cert.public_bytes(serialization.Encoding.DER)

    assert read_by_opensc == _raw_read_certificates(attached.reader_name, facts.sign_password)


def test_pkcs11_signs_with_the_auth_key_and_openssl_verifies(
    vpcd_card: Any, tmp_path: Path
) -> None:
    attached = vpcd_card("standard")
    data = tmp_path / "data.bin"
    data.write_bytes(hashlib.sha256(b"madoguchi").digest() * 3)
    signature = tmp_path / "sig.bin"
    result = _run(
        ["pkcs11-tool", "--module", PKCS11_MODULE,
         "--slot", _auth_slot(attached.reader_name, tmp_path),
         "--login", "--pin", attached.card.facts.auth_pin, "--sign", "--id", "01",
         "--mechanism", "SHA256-RSA-PKCS", "-i", str(data), "-o", str(signature)],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert signature.stat().st_size == 256

    cert_pem = tmp_path / "auth.pem"
    result = _run(
        ["pkcs15-tool", "-r", attached.reader_name, "--read-certificate", "01",
         "-o", str(cert_pem)],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    pubkey = tmp_path / "auth.pub"
    pubkey.write_bytes(
        x509.load_pem_x509_certificate(cert_pem.read_bytes()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    verify = _run(
        ["openssl", "dgst", "-sha256", "-verify", str(pubkey), "-signature", str(signature),
         str(data)],
        tmp_path,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Verified OK" in verify.stdout

    # And a flipped byte does not verify.
    data.write_bytes(b"X" + data.read_bytes()[1:])
    tampered = _run(
        ["openssl", "dgst", "-sha256", "-verify", str(pubkey), "-signature", str(signature),
         str(data)],
        tmp_path,
    )
    assert tampered.returncode != 0


def test_a_wrong_pin_through_opensc_costs_exactly_one_try(
    vpcd_card: Any, tmp_path: Path
) -> None:
    attached = vpcd_card("standard")
    card = attached.card
    before = card.retry_counter("jpki_auth")
    wrong = "0000" if card.facts.auth_pin != "0000" else "9999"
    result = _run(
        ["pkcs11-tool", "--module", PKCS11_MODULE,
         "--slot", _auth_slot(attached.reader_name, tmp_path),
         "--login", "--pin", wrong, "--list-objects"],
        tmp_path,
    )
    assert "CKR_PIN_INCORRECT" in result.stdout + result.stderr
    assert card.retry_counter("jpki_auth") == before - 1
    # Asking OpenSC for the PIN status afterwards spends nothing more.
    status = _run(["pkcs15-tool", "-r", attached.reader_name, "--list-pins"], tmp_path)
    assert f"Tries left     : {before - 1}" in status.stdout
    assert card.retry_counter("jpki_auth") == before - 1
