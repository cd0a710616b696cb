"""Every profile's distinguishing behaviour through the real stack: pyscard -> pcscd -> vpcd.

pyscard is used directly (readers(), createConnection, transmit), so nothing of madoguchi's
own reader code sits between the test and pcscd. Needs the pcscd that ./scripts/test starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from smartcard import scard
from smartcard.CardConnection import CardConnection
from smartcard.Exceptions import CardConnectionException
from smartcard.System import readers

from drivers.simcard.pki import TestPki
from drivers.simcard.vpcd import VpcdCardClient
from tests.support.vpcd import AttachedCard, pcsc_context, reader_name_for, vpcd_port, wait_for_slot

from . import apdus as A
from .conftest import ApduSender, CardDriver, big_file_card

pytestmark = pytest.mark.pcsc

Attach = Callable[..., AttachedCard]


class Pyscard(ApduSender):
    """A pyscard connection."""

    def __init__(self, connection: CardConnection) -> None:
        self.connection = connection

    def __call__(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw1, sw2 = self.connection.transmit(list(apdu))
        return bytes(data), (sw1 << 8) | sw2

    def read_file(self, fid: int) -> bytes:
        """SELECT, read 4 bytes for the length as OpenSC does, then 256-byte chunks."""
        self.ok(A.select_ef(fid))
        head = self.ok(A.read_binary(0, 4))
        total = int.from_bytes(head[2:4], "big") + 4 if head[1] == 0x82 else None
        out = head
        while total is None or len(out) < total:
            data, sw = self(A.read_binary(len(out), 0))
            if sw == 0x6B00:
                break
            assert sw == 0x9000
            out += data
            if total is None and len(data) < 256:
                break
        return out


@contextmanager
def pyscard(where: AttachedCard | str) -> Iterator[Pyscard]:
    """A pyscard connection to the card of an attached card (or in the named reader)."""
    name = where if isinstance(where, str) else where.reader_name
    [reader] = [r for r in readers() if str(r) == name]
    connection = reader.createConnection()
    connection.connect()
    try:
        yield Pyscard(connection)
    finally:
        with suppress(CardConnectionException):  # the card went away (flaky)
            connection.disconnect()


def _public(value: bytes) -> rsa.RSAPublicKey:
    parts = A.tlv_children(value)
    return rsa.RSAPublicNumbers(int.from_bytes(parts[0x90], "big"),
                                int.from_bytes(parts[0x91], "big")).public_key()


def test_standard_reads_certificates_and_signs(vpcd_card: Attach) -> None:
    handle = vpcd_card("standard")
    with pyscard(handle) as card:
        assert bytes(card.connection.getATR()) == bytes.fromhex("3BE000FF8131FE4514")
        card.ok(A.select_aid(A.JPKI))
        assert card.read_file(0x0006)[:15] == b"JPKIAPICCTOKEN2"
        cert = x509.load_der_x509_certificate(card.read_file(0x000A))
        card.ok(A.select_ef(0x0018))
        assert card.sw(A.verify()) == 0x63C3
        assert card.sw(A.verify("0000")) == 0x63C2  # a wrong PIN costs exactly one try
        assert handle.card.retry_counter("jpki_auth") == 2
        card.ok(A.verify("1234"))
        card.ok(A.select_ef(0x0017))
        message = b"through pcscd"
        signature = card.ok(A.compute_signature(A.digest_info(message)))
        public = cert.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        assert card.sw(A.select_aid(bytes.fromhex("A000000063504B43532D3135"))) == 0x6A82


def test_face_auth_has_no_pins_no_sign_cert_and_the_stamp(vpcd_card: Attach) -> None:
    handle = vpcd_card("face-auth")
    with pyscard(handle) as card:
        card.ok(A.select_aid(A.JPKI))
        card.ok(A.select_ef(0x0018))
        assert card.sw(A.verify()) == 0x6984
        assert card.sw(A.select_ef(0x0001)) == 0x6A82
        card.ok(A.select_aid(A.FACE))
        card.ok(A.select_ef(0x0012))
        card.ok(A.verify(handle.card.facts.verification_code_b))
        face = A.tlv_children(A.unwrap(card.read_file(0x0002))[1])
        assert face[0xDF2B].decode() == "顔認証"


def test_expired_card_reports_a_past_expiry(vpcd_card: Attach) -> None:
    handle = vpcd_card("expired", expired_days=10)
    with pyscard(handle) as card:
        expiry = card.ok(A.get_data(0x00F2)).decode()
        assert expiry == handle.card.facts.expiry_date.strftime("%Y%m%d")
        assert expiry < time.strftime("%Y%m%d")


@pytest.mark.parametrize(
    ("blocked", "aid", "fid"),
    [("jpki_auth", A.JPKI, 0x0018), ("jpki_sign", A.JPKI, 0x001B),
     ("support", A.SUPPORT, 0x0011), ("juki", A.COMMON, 0x001C)],
    ids=["jpki_auth", "jpki_sign", "support", "juki"],
)
def test_pin_blocked(vpcd_card: Attach, blocked: str, aid: bytes, fid: int) -> None:
    handle = vpcd_card("pin-blocked", blocked_pin=blocked)
    with pyscard(handle) as card:
        card.ok(A.select_aid(aid))
        card.ok(A.select_ef(fid))
        assert card.sw(A.verify()) == 0x63C0
        assert card.sw(A.verify(handle.card.facts.pins[blocked])) == 0x6984


def test_under_15_has_no_signature_certificate(vpcd_card: Attach) -> None:
    with pyscard(vpcd_card("under-15")) as card:
        card.ok(A.select_aid(A.JPKI))
        assert card.ok(A.select_ef(0x0008)) == b""
        assert card.ok(A.read_binary(0, 3))[0] != 0x8F
        assert card.sw(A.select_ef(0x0001)) == 0x6A82


def test_juki_card_token_rsa_1024_and_no_card_face_aps(vpcd_card: Attach) -> None:
    with pyscard(vpcd_card("juki-card")) as card:
        card.ok(A.select_aid(A.JPKI))
        assert card.read_file(0x0006)[:32] == b"JPKIAPICCTOKEN".ljust(32)
        card.ok(A.select_ef(0x0018))
        card.ok(A.verify("1234"))
        card.ok(A.select_ef(0x0017))
        assert len(card.ok(A.compute_signature(A.digest_info(b"juki")))) == 128
        assert card.sw(A.select_aid(A.FACE)) == 0x6A82
        assert card.sw(A.select_aid(A.SUPPORT)) == 0x6A82


def test_android_auth_cert_behind_the_pin(vpcd_card: Attach) -> None:
    with pyscard(vpcd_card("android")) as card:
        assert bytes(card.connection.getATR()) == bytes.fromhex("3B80800101")
        card.ok(A.select_aid(A.JPKI))
        assert card.read_file(0x0006)[:15] == b"JPKIAPGPSETOKEN"
        card.ok(A.select_ef(0x000A))
        assert card.sw(A.read_binary(0, 4)) == 0x6982
        card.ok(A.select_ef(0x0018))
        card.ok(A.verify("1234"))
        x509.load_der_x509_certificate(card.read_file(0x000A))
        assert card.sw(A.select_aid(A.FACE)) == 0x6A82


def test_counterfeit_chip_data_fails_against_its_cv_certificate(
    vpcd_card: Attach, sim_pki: TestPki
) -> None:
    with pyscard(vpcd_card("counterfeit")) as card:
        card.ok(A.select_aid(A.SUPPORT))
        card.ok(A.select_ef(0x0011))
        card.ok(A.verify("1234"))
        cv = A.tlv_children(A.unwrap(card.read_file(0x0004))[1])
        anchor = sim_pki.trust_anchors()["cv-6000033"]
        assert isinstance(anchor, rsa.RSAPublicKey)
        anchor.verify(cv[0x5F37], cv[0x5F4E], padding.PKCS1v15(), hashes.SHA256())
        signer = _public(cv[0x5F4E][32:])
        record = A.unwrap(card.read_file(0x0003))[1]
        covered = b"".join(raw for tag, raw, _ in A.tlv_raw(record) if tag != 0xDF33)
        with pytest.raises(InvalidSignature):
            signer.verify(A.tlv_children(record)[0xDF33], covered, padding.PKCS1v15(),
                          hashes.SHA256())


def _seconds_per_apdu(handle: AttachedCard, count: int) -> float:
    with pyscard(handle) as card:
        started = time.perf_counter()
        for _ in range(count):
            card.ok(A.select_aid(A.JPKI))
        return (time.perf_counter() - started) / count


def test_slow_card_is_slower_than_standard_in_the_same_run(vpcd_card: Attach) -> None:
    baseline = _seconds_per_apdu(vpcd_card("standard"), 5)
    slow = _seconds_per_apdu(vpcd_card("slow", apdu_delay_s=0.1), 5)
    assert slow >= 0.1  # sleep() never returns early
    assert slow / baseline > 5


def test_flaky_card_drops_mid_command_and_comes_back(vpcd_card: Attach) -> None:
    handle = vpcd_card("flaky", drop_after=3)
    with pyscard(handle) as card:
        card.ok(A.select_aid(A.JPKI))
        card.ok(A.select_ef(0x0018))
        assert card.sw(A.verify()) == 0x63C3
        with pytest.raises(CardConnectionException):
            card(A.verify("9999"))
    handle.wait_present(False)
    handle.wait_present(True)  # the client reconnects after staying away 1 s
    assert handle.client.connections == 2
    with pyscard(handle) as card:
        card.ok(A.select_aid(A.JPKI))
        card.ok(A.select_ef(0x0018))
        assert card.sw(A.verify()) == 0x63C2  # the dropped VERIFY was executed


@contextmanager
def own_slot() -> Iterator[tuple[int, str]]:
    """(PC/SC context, reader name) of the test slot, for tests that attach a card themselves.

    The slot is empty on entry, and waited for to be empty again on a normal exit.
    """
    name = reader_name_for(vpcd_port())
    context = pcsc_context(name)
    try:
        wait_for_slot(context, name, present=False, timeout=10)
        yield context, name
        wait_for_slot(context, name, present=False, timeout=10)
    finally:
        scard.SCardReleaseContext(context)


def test_cli_serves_a_card_until_sigterm(sim_pki: TestPki) -> None:
    with own_slot() as (context, name):
        process = subprocess.Popen(
            [sys.executable, "-m", "madoguchi.cli", "sim", "card", "--profile", "juki-card",
             "--port", str(vpcd_port()), "--pki-dir", str(sim_pki.directory)],
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_slot(context, name, present=True, timeout=15)
            with pyscard(name) as card:
                card.ok(A.select_aid(A.JPKI))
                assert card.read_file(0x0006)[:14] == b"JPKIAPICCTOKEN"
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr.decode()
        assert b"juki-card" in stderr




def test_largest_extended_answer_crosses_vpcd(std: CardDriver) -> None:
    """A 65,533-byte R-APDU is the most one vpcd frame carries; it must arrive whole."""
    client = VpcdCardClient(big_file_card(std), port=vpcd_port())
    with own_slot() as (context, name):
        client.start()
        try:
            wait_for_slot(context, name, present=True, timeout=10)
            with pyscard(name) as card:
                card.ok(A.select_aid(A.JPKI))
                card.ok(A.select_ef(0x0100))
                data = card.ok(A.read_binary_extended(0, 0))
        finally:
            client.stop()
        assert len(data) == 65_533
        assert data[:256] == bytes(range(256))


def test_fixture_fails_clearly_without_pcscd(tmp_path: Path) -> None:
    """No pcscd must be a failure with a hint, never a skip (the suite must not pass empty)."""
    (tmp_path / "test_needs_card.py").write_text(
        "def test_needs_card(vpcd_card):\n    vpcd_card('standard')\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.vpcd", "-p", "no:cacheprovider",
         "-q", "-rE", str(tmp_path / "test_needs_card.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(root),
             "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")},
    )
    assert result.returncode == 1, result.stdout
    assert "pcscd is not running" in result.stdout
    assert "scripts/pcscd start or run ./scripts/test" in result.stdout
    assert "skipped" not in result.stdout
