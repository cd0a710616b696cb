"""The uploader against misbehaving servers (real TLS sockets on loopback): garbage,
slow answers, 5xx, request-level 4xx (bisect + quarantine), and the backoff."""

from __future__ import annotations

import itertools
import json
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from device.store import Store
from sync import pki
from sync.client import DEVICE_CERT, DEVICE_KEY, SERVER_CA, SyncClient
from sync.uploader import Backoff, Uploader
from tests.sync.sync_support import make_record

Behaviour = Callable[[BaseHTTPRequestHandler, dict[str, object]], None]


@pytest.fixture
def device_tls(tmp_path: Path) -> tuple[Path, Path]:
    """A CA, a server certificate and an enrolled device's files (made now)."""
    server_dir, tls = tmp_path / "srv", tmp_path / "tls"
    pki.init_server_pki(server_dir)
    ca_key = pki.load_key(server_dir / pki.CA_KEY)
    ca_cert = pki.load_cert(server_dir / pki.CA_CERT)
    key = pki.new_key()
    cert = pki.sign_device_csr(ca_key, ca_cert, pki.make_csr(key), "dev-test")
    pki.write_private(tls / DEVICE_KEY, pki.key_pem(key))
    pki.write_public(tls / DEVICE_CERT, pki.cert_pem(cert))
    pki.write_public(tls / SERVER_CA, pki.cert_pem(ca_cert))
    return server_dir, tls


@pytest.fixture
def fake_server(device_tls: tuple[Path, Path]) -> Iterator[Callable[[Behaviour], str]]:
    """Start a TLS HTTP server whose answers the test chooses."""
    servers: list[ThreadingHTTPServer] = []

    def start(behaviour: Behaviour) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                behaviour(self, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                behaviour(self, json.loads(self.rfile.read(length)))

            def log_message(self, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(device_tls[0] / pki.SERVER_CERT, device_tls[0] / pki.SERVER_KEY)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"https://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
    handler.send_response(status)
    handler.send_header("content-type", ctype)
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _accept_all(handler: BaseHTTPRequestHandler, doc: dict[str, object]) -> None:
    records = doc.get("records", [])
    assert isinstance(records, list)
    results = [
        {"seq": r["seq"], "transaction_id": r["transaction_id"], "status": "accepted"}
        for r in records
    ]
    body = {
        "device_id": "fake",
        "results": results,
        "high_water": 0,
        "server_time": "2026-11-25T00:00:00+00:00",
    }
    _reply(handler, 200, json.dumps(body).encode(), "application/json")


def _uploader(tmp_path: Path, url: str, tls: Path, timeout: float = 5.0) -> Uploader:
    store = Store(tmp_path / "device.sqlite3")
    for i in range(10):
        store.record_transaction(make_record(i))
    return Uploader(store, SyncClient(url, tls, timeout_s=timeout), batch_size=10)


@pytest.mark.parametrize(
    ("status", "body", "ctype", "expected"),
    [
        (200, b"<html>hello</html>", "text/html", "not JSON"),
        (200, b"[]", "application/json", "not an object"),
        (
            200,
            b'{"device_id": "d", "server_time": "2026-12-03T10:00:00+00:00", "results": [],'
            b' "high_water": 1}',
            "application/json",
            "one result per record",
        ),
        (200, b'{"results": []}', "application/json", "the server's answer: device_id is"),
        (
            200,
            b'{"device_id": "d", "server_time": "x", "results": [], "high_water": "1"}',
            "application/json",
            "the server's answer: high_water must be int, not str",
        ),
        (502, b"bad gateway", "text/plain", "server error 502"),
    ],
    ids=["html", "array", "wrong-shape", "missing-field", "wrong-type", "bad-gateway"],
)
def test_garbage_answers_are_clear_errors_and_lose_nothing(
    tmp_path: Path,
    device_tls: tuple[Path, Path],
    fake_server: Callable[[Behaviour], str],
    status: int,
    body: bytes,
    ctype: str,
    expected: str,
) -> None:
    url = fake_server(lambda h, _doc: _reply(h, status, body, ctype))
    up = _uploader(tmp_path, url, device_tls[1])
    result = up.send_round()
    assert result.error is not None
    assert expected in result.error
    assert up.store.queue_length() == 10
    status_now = up.store.uploader_status()
    assert status_now.last_error == result.error
    assert status_now.last_success is None
    assert up.store.pending(1)[0].attempts == 1


def test_a_slow_server_times_out_and_loses_nothing(
    tmp_path: Path, device_tls: tuple[Path, Path], fake_server: Callable[[Behaviour], str]
) -> None:
    def slow(handler: BaseHTTPRequestHandler, doc: dict[str, object]) -> None:
        time.sleep(1.0)
        _accept_all(handler, doc)

    up = _uploader(tmp_path, fake_server(slow), device_tls[1], timeout=0.3)
    result = up.send_round()
    assert result.error is not None
    assert "did not answer in time" in result.error
    assert up.store.queue_length() == 10
    assert not up.store.uploader_status().server_reachable


def test_a_request_level_4xx_is_bisected_to_the_bad_record_and_quarantined(
    tmp_path: Path, device_tls: tuple[Path, Path], fake_server: Callable[[Behaviour], str]
) -> None:
    seen: list[int] = []
    up_box: list[Uploader] = []

    def picky(handler: BaseHTTPRequestHandler, doc: dict[str, object]) -> None:
        if handler.command == "GET":
            body = {"server_time": "2026-11-25T00:00:00+00:00"}
            _reply(handler, 200, json.dumps(body).encode(), "application/json")
            return
        records = doc["records"]
        assert isinstance(records, list)
        seen.append(len(records))
        if any(r["seq"] == 7 for r in records):
            _reply(handler, 422, b'{"error": "x", "detail": "bad record"}', "application/json")
        else:
            _accept_all(handler, doc)

    up = _uploader(tmp_path, fake_server(picky), device_tls[1])
    up_box.append(up)
    result = up.send_round()
    assert result.error is None
    assert result.acked == 9
    assert result.quarantined == 1
    assert up.store.queue_length() == 0
    assert [q[0] for q in up.store.quarantined()] == [7]
    assert "bad record" in up.store.quarantined()[0][2]
    assert seen[0] == 10  # whole batch first, then halves


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    backoff = Backoff(base_s=1.0, cap_s=30.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(40)]
    for n, delay in enumerate(delays):
        assert 0 <= delay <= min(30.0, 2.0**n)
    assert max(delays[10:]) > 15  # reaches the cap region
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_long_backoffs_keep_feeding_the_watchdog(
    tmp_path: Path, device_tls: tuple[Path, Path]
) -> None:
    """A 300 s backoff must not starve systemd's watchdog (pinged every tick_s)."""
    store = Store(tmp_path / "device.sqlite3")
    store.record_transaction(make_record(1))
    dead = "https://127.0.0.1:9"  # discard port: nothing listens
    up = Uploader(
        store,
        SyncClient(dead, device_tls[1], timeout_s=0.5),
        backoff=Backoff(base_s=300.0, cap_s=300.0, rng=random.Random(3)),
    )
    stop = threading.Event()
    now = {"t": 0.0}
    ticks: list[float] = []
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now["t"] += seconds
        if now["t"] > 2000:
            stop.set()

    up.run(stop, sleep=fake_sleep, on_tick=lambda: ticks.append(now["t"]), tick_s=5.0)
    assert max(slept) <= 5.0
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) <= 5.0 + 1e-9
    assert store.queue_length() == 1
