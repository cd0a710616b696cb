"""Card I/O: APDUs, bytes, wall time through pyscard -> pcscd -> vpcd, modeled reader time.

The bench puts a ``standard`` virtual card on a vpcd slot as a client in this process
(``drivers.simcard.vpcd.VpcdCardClient``) and reads it through the real PC/SC backend:

- per operation (tap-to-ready; the full identity check = tap-to-ready + 基本4情報 + card
  face + both chip signatures + presence; the auth certificate read after them): APDUs,
  bytes each way, wall time (median of ``--iterations``);
- our stack's overhead per APDU: the same tap-to-ready APDUs replayed in a bare pyscard
  ``SCardTransmit`` loop (``drivers.transport.pcsc_bench``) in the same run, interleaved;
- modeled time on a real contactless reader (see :func:`modeled_ms`);
- the sequence jpki/myna sends for the same information (reference §7.2 B, §9.2, §11.3),
  replayed through the same transport, and the ratios.
"""

from __future__ import annotations

import argparse
import importlib
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from device.card import apdu, layout
from device.card.chip import TrustAnchors
from device.card.data import CardFace
from device.card.face_images import decode_card_face
from device.card.layout import Application
from device.card.reading import identity_check, read_certificate, tap_to_ready
from device.card.session import CardSession
from drivers import open_reader
from drivers.transport.base import CardPresence, CardReader, CardTransport, RApdu
from madoguchi.errors import ReaderError

#: PC/SC SCARD_E_SHARING_VIOLATION.
SHARING_VIOLATION = 0x8010000B
#: Per-APDU reader overhead assumed by the model (USB/CCID round trip, reader firmware).
READER_OVERHEAD_MS = 4.0
#: ISO/IEC 14443 frame: max 256 bytes incl. PCB + 2-byte CRC (FSC 256 from the ATQB, §12).
FRAME_PAYLOAD = 253
#: Characters of overhead per frame: PCB, CRC x2, plus SOF and EOF (~1 character each).
FRAME_OVERHEAD_CHARS = 5
#: One Type-B character is about 10 etu; 1 etu = 128 / 13.56 MHz at 106 kbit/s.
ETU_106K_S = 128 / 13.56e6


def modeled_ms(exchanges: Sequence[tuple[int, int]], kbps: int) -> float:
    """Model the time of ``(command bytes, response bytes)`` exchanges on a real reader.

    Per APDU: :data:`READER_OVERHEAD_MS` plus air time of both directions, each split
    in frames of :data:`FRAME_PAYLOAD` bytes with :data:`FRAME_OVERHEAD_CHARS` per frame
    and one 3-character chaining acknowledgement per extra frame, at 10 etu per
    character. Card compute time (e.g. an RSA signature) is not modeled.
    """
    etu = ETU_106K_S * 106 / kbps
    total = 0.0
    for sent, received in exchanges:
        chars = 0
        for size in (sent, received):
            frames = max(1, math.ceil(size / FRAME_PAYLOAD))
            chars += size + frames * FRAME_OVERHEAD_CHARS + (frames - 1) * 3
        total += READER_OVERHEAD_MS + chars * 10 * etu * 1000
    return total


class RecordingTransport(CardTransport):
    """Passes exchanges to another transport and keeps the commands and response sizes."""

    def __init__(self, inner: CardTransport) -> None:
        super().__init__(reader_name=inner.reader_name, atr=inner.atr)
        self.inner = inner
        self.log: list[tuple[bytes, int]] = []

    def _transmit_raw(self, command: bytes | bytearray) -> bytes:
        response = self.inner.transmit(command)
        raw = response.data + response.sw.to_bytes(2, "big")
        # Benchmarks run on the virtual card only, whose test PINs may be kept here.
        self.log.append((bytes(command), len(raw)))
        return raw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--iterations", type=int, default=30, help="timed runs (default 30)")
    parser.add_argument("--port", type=int, default=35963, help="vpcd port (default 35963)")
    parser.add_argument("--pki-dir", type=Path, help="test PKI directory (default: temporary)")


def _wait(reader: CardReader, present: bool, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    want = CardPresence.PRESENT if present else CardPresence.ABSENT
    while reader.presence() is not want:
        if time.monotonic() > deadline:
            raise TimeoutError(f"vpcd slot did not become {want.value} in {timeout} s")
        time.sleep(0.05)


def _connect(reader: CardReader) -> CardTransport:
    """Connect, waiting out the moment a just-closed transport still holds the card."""
    deadline = time.monotonic() + 2.0
    while True:
        try:
            return reader.connect()
        except ReaderError as exc:
            if exc.code != SHARING_VIOLATION or time.monotonic() > deadline:
                raise
            time.sleep(0.001)


def _p50_ms(values: Sequence[float]) -> float:
    return round(statistics.median(values) * 1000.0, 3)


def myna_tap_to_ready_sequence() -> list[bytes]:
    """What jpki/myna sends for token, four PIN counters and expiry (reference §7.2 B, §11.3).

    ``myna pin status``: 入力補助 AID, then 0011, 0014, 0015 (SELECT EF + empty VERIFY each);
    券面AP AID, then 0013, 0012; JPKI AID, token read (SELECT 0006, READ 32), 0018, 001B.
    The 住基 PIN the TRET way (…0100 AID, 001C) and the expiry the way myna's
    ``unknown.rs`` reads the 共通AP record (AID, SELECT 0001, READ RECORD). myna has no
    certificate-presence read; that information is not in its sequence at all.
    """
    sequence: list[bytes] = []

    def counters(app: Application, fids: Sequence[int]) -> None:
        sequence.append(apdu.select_aid(app.aid))
        for fid in fids:
            sequence.extend([apdu.select_ef(fid), apdu.verify_query()])

    counters(Application.SUPPORT, (0x0011, 0x0014, 0x0015))
    counters(Application.CARD_FACE, (0x0013, 0x0012))
    sequence += [apdu.select_aid(Application.JPKI.aid), apdu.select_ef(0x0006),
                 apdu.read_binary(0, 0x20)]
    for fid in (0x0018, 0x001B):
        sequence += [apdu.select_ef(fid), apdu.verify_query()]
    counters(Application.COMMON, (0x001C,))
    sequence += [apdu.select_ef(0x0001), apdu.read_record(1)]
    return sequence


def myna_auth_cert_sequence(length: int) -> list[bytes]:
    """myna's auth certificate read: JPKI open (3), SELECT 000A, READ 7, 256-byte steps (§7.2 C)."""
    sequence = [apdu.select_aid(Application.JPKI.aid), apdu.select_ef(0x0006),
                apdu.read_binary(0, 0x20), apdu.select_ef(layout.JPKI_AUTH_CERT),
                apdu.read_binary(0, 7)]
    offset = 7
    while offset < length:
        sequence.append(apdu.read_binary(offset, min(256, length - offset)))
        offset += 256
    return sequence


def _replay(transport: CardTransport, sequence: Sequence[bytes]) -> tuple[float, list[RApdu]]:
    started = time.perf_counter()
    answers = [transport.transmit(command) for command in sequence]
    return time.perf_counter() - started, answers


def _answered(answers: Sequence[RApdu]) -> bool:
    """A replay only counts if the card answered like a client expects (9000 / 63Cx)."""
    return all(a.ok or a.sw >> 4 == 0x63C for a in answers)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the card benchmark and return its figures."""
    from drivers.simcard import make_card
    from drivers.simcard.pki import TestPki
    from drivers.simcard.vpcd import VpcdCardClient

    # By name, like drivers.open_reader: the helper is pyscard code and lives in drivers/.
    raw_transmit_runs = importlib.import_module("drivers.transport.pcsc_bench").raw_transmit_runs

    with tempfile.TemporaryDirectory(prefix="bench-card-") as scratch:
        pki = TestPki.load_or_create(args.pki_dir or Path(scratch))
        anchors = TrustAnchors.from_mapping(pki.trust_anchors())
        card = make_card("standard", pki_dir=pki.directory)
        collation_b = card.facts.verification_code_b.encode()
        reader_name = f"Virtual PCD 00 {args.port - 35963:02d}"
        reader = open_reader("pcsc", name=reader_name)
        # Never measure someone else's card: the slot must be empty before ours goes in.
        _wait(reader, False)
        client = VpcdCardClient(card, port=args.port)
        client.start()
        try:
            _wait(reader, True)
            return _measure(reader, reader_name, anchors, collation_b,
                            iterations=args.iterations, raw_runs=raw_transmit_runs)
        finally:
            client.stop()
            _wait(reader, False)
            reader.close()


@dataclass
class _Recorded:
    """One untimed pass: the commands and sizes of each operation."""

    tap_commands: list[bytes]
    tap_sizes: list[tuple[int, int]]
    full_sizes: list[tuple[int, int]]
    cert_sizes: list[tuple[int, int]]
    cert_length: int
    card_face: CardFace | None


def _record(reader: CardReader, anchors: TrustAnchors, collation_b: bytes) -> _Recorded:
    with _connect(reader) as inner:
        recorder = RecordingTransport(inner)
        session = CardSession(recorder)
        tap_to_ready(session)
        tap_log = list(recorder.log)
        face = identity_check(session, bytearray(collation_b), anchors).card_face
        mark = len(recorder.log)
        cert = read_certificate(session, layout.JPKI_AUTH_CERT)
        sizes = [(len(command), answer) for command, answer in recorder.log]
        recorder.log.clear()  # it held a 照合番号B VERIFY
    return _Recorded(
        tap_commands=[command for command, _ in tap_log],
        tap_sizes=sizes[: len(tap_log)],
        full_sizes=sizes[:mark],
        cert_sizes=sizes[mark:],
        cert_length=len(cert.public_bytes(Encoding.DER)),
        card_face=face,
    )


#: What the comparison would draw the photo at: a thumbnail, 4:5 (the decode's "scale").
PHOTO_THUMBNAIL = (96, 120)


def _decode_runs(face: CardFace | None, iterations: int) -> list[float]:
    """Seconds to decode the card face's pictures and scale the photo, once per iteration."""
    if face is None:
        return []
    seconds = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        decoded = decode_card_face(face)
        if decoded.photo is not None:
            decoded.photo.resize(PHOTO_THUMBNAIL)
        seconds.append(time.perf_counter() - t0)
    return seconds


@dataclass
class _Runs:
    """Timed figures collected over the iterations."""

    walls: dict[str, list[float]] = field(
        default_factory=lambda: {k: [] for k in ("tap", "identity", "cert", "myna", "raw")}
    )
    stats: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    myna_sizes: list[tuple[int, int]] = field(default_factory=list)
    replay_ok: bool = True


def _iteration(
    reader: CardReader, anchors: TrustAnchors, collation_b: bytes, myna: list[bytes], runs: _Runs
) -> None:
    with _connect(reader) as transport:
        session = CardSession(transport)
        s0 = _snapshot(transport)
        t0 = time.perf_counter()
        tap_to_ready(session)
        t1 = time.perf_counter()
        s1 = _snapshot(transport)
        identity_check(session, bytearray(collation_b), anchors)
        t2 = time.perf_counter()
        s2 = _snapshot(transport)
        read_certificate(session, layout.JPKI_AUTH_CERT)
        t3 = time.perf_counter()
        s3 = _snapshot(transport)
        seconds, answers = _replay(transport, myna)
    runs.replay_ok &= _answered(answers)
    runs.myna_sizes = [(len(c), len(a.data) + 2) for c, a in zip(myna, answers, strict=True)]
    runs.walls["tap"].append(t1 - t0)
    runs.walls["identity"].append(t2 - t0)
    runs.walls["cert"].append(t3 - t2)
    runs.walls["myna"].append(seconds)
    runs.stats = {"tap": _delta(s0, s1), "identity": _delta(s0, s2), "cert": _delta(s2, s3)}


def _measure(
    reader: CardReader,
    reader_name: str,
    anchors: TrustAnchors,
    collation_b: bytes,
    *,
    iterations: int,
    raw_runs: Callable[[str, Sequence[bytes], int], list[tuple[float, list[int]]]],
) -> dict[str, Any]:
    plan = _record(reader, anchors, collation_b)
    myna_tap = myna_tap_to_ready_sequence()
    myna_cert = myna_auth_cert_sequence(plan.cert_length)
    runs = _Runs()
    for _ in range(iterations):
        _iteration(reader, anchors, collation_b, myna_tap, runs)
        # Interleaved, so both see the same machine load.
        raw_seconds, words = raw_runs(reader_name, plan.tap_commands, 1)[0]
        runs.replay_ok &= all(w == 0x9000 or w >> 4 == 0x63C for w in words)
        runs.walls["raw"].append(raw_seconds)
    with _connect(reader) as transport:
        cert_seconds, cert_answers = _replay(transport, myna_cert)
    runs.replay_ok &= _answered(cert_answers)

    walls, stats = runs.walls, runs.stats
    tap_n = len(plan.tap_commands)
    overheads = [(ours - raw) / tap_n for ours, raw in zip(walls["tap"], walls["raw"], strict=True)]
    ours_tap_ms = _p50_ms(walls["tap"])
    myna_tap_ms = _p50_ms(walls["myna"])
    return {
        "reader": reader_name,
        "iterations": iterations,
        "tap_to_ready_apdus": stats["tap"][0],
        "tap_to_ready_bytes_sent": stats["tap"][1],
        "tap_to_ready_bytes_received": stats["tap"][2],
        "tap_to_ready_ms_wall_p50": ours_tap_ms,
        "tap_to_ready_ms_modeled_106k": round(modeled_ms(plan.tap_sizes, 106), 1),
        "tap_to_ready_ms_modeled_424k": round(modeled_ms(plan.tap_sizes, 424), 1),
        "identity_check_apdus": stats["identity"][0],
        "identity_check_bytes_sent": stats["identity"][1],
        "identity_check_bytes_received": stats["identity"][2],
        "identity_check_ms_wall_p50": _p50_ms(walls["identity"]),
        "identity_check_ms_modeled_106k": round(modeled_ms(plan.full_sizes, 106), 1),
        "identity_check_ms_modeled_424k": round(modeled_ms(plan.full_sizes, 424), 1),
        # The photo (JPEG 2000) and the two PNGs decoded, the photo scaled to a thumbnail.
        "card_face_decode_ms_p50": (
            _p50_ms(decodes) if (decodes := _decode_runs(plan.card_face, max(iterations, 5)))
            else None),
        "auth_cert_apdus": stats["cert"][0],
        "auth_cert_bytes_received": stats["cert"][2],
        "auth_cert_der_bytes": plan.cert_length,
        "auth_cert_ms_wall_p50": _p50_ms(walls["cert"]),
        "auth_cert_ms_modeled_106k": round(modeled_ms(plan.cert_sizes, 106), 1),
        "auth_cert_ms_modeled_424k": round(modeled_ms(plan.cert_sizes, 424), 1),
        "raw_pyscard_tap_to_ready_ms_p50": _p50_ms(walls["raw"]),
        "raw_pyscard_per_apdu_ms_p50": round(_p50_ms(walls["raw"]) / tap_n, 4),
        "overhead_per_apdu_ms_p50": round(statistics.median(overheads) * 1000.0, 4),
        "myna_tap_to_ready_apdus": len(myna_tap),
        "myna_tap_to_ready_ms_wall_p50": myna_tap_ms,
        "myna_tap_to_ready_ms_modeled_106k": round(modeled_ms(runs.myna_sizes, 106), 1),
        "myna_tap_to_ready_ms_modeled_424k": round(modeled_ms(runs.myna_sizes, 424), 1),
        "myna_auth_cert_apdus": len(myna_cert),
        "myna_auth_cert_ms_wall": round(cert_seconds * 1000.0, 3),
        "myna_ratio_apdus": round(len(myna_tap) / stats["tap"][0], 3),
        "myna_ratio_wall": round(myna_tap_ms / ours_tap_ms, 3) if ours_tap_ms else None,
        "replays_answered": runs.replay_ok,
    }


def _snapshot(transport: CardTransport) -> tuple[int, int, int]:
    s = transport.stats
    return s.apdus, s.bytes_sent, s.bytes_received


def _delta(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return b[0] - a[0], b[1] - a[1], b[2] - a[2]
