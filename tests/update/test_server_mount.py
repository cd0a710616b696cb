"""One central server for sync and update delivery: the update endpoints
(``updater.server.create_app``) mounted under ``/updates`` of the sync server
(``sync.server.app.build_app``), on a real uvicorn with mutual TLS on loopback.

The update endpoints keep their own trust model through the mount (signed
bundles, a bearer token to publish); the sync API still wants an enrolled
device certificate.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from madoguchi.bench.update import ReleaseSet
from sync import pki
from sync.client import tls_context
from sync.localserver import LocalServer
from sync.pgcluster import free_port
from sync.server.app import UPDATES_PREFIX, build_app
from sync.server.run import _options, make_context
from updater.download import UpdateClient
from updater.keys import load_public_keys
from updater.server import UpdateServerConfig, create_app

TOKEN = "publish-secret"


@dataclass
class Central:
    url: str
    db: str
    pki_dir: Path

    def trust(self) -> ssl.SSLContext:
        """TLS that trusts only this server's CA, with no client certificate."""
        return tls_context(self.pki_dir / pki.CA_CERT)


@contextmanager
def _serving(app: ASGIApp, pki_dir: Path) -> Iterator[str]:
    """``app`` on a real uvicorn with the production TLS set-up (CERT_OPTIONAL, the
    peer certificate in the scope); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, **_options("127.0.0.1", port, pki_dir)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "server exited"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def central(tmp_path: Path, releases: ReleaseSet) -> Iterator[Central]:
    pki_dir, db = tmp_path / "pki", str(tmp_path / "server.sqlite3")
    ctx = make_context(db, pki_dir, simulate=False)
    updates = create_app(
        UpdateServerConfig(tmp_path / "updates", load_public_keys(releases.public_key), TOKEN)
    )
    try:
        with _serving(build_app(ctx, updates=updates), pki_dir) as url:
            yield Central(url, db, pki_dir)
    finally:
        ctx.repo.close()


def test_one_server_publishes_serves_and_tracks_updates(
    central: Central, releases: ReleaseSet, tmp_path: Path
) -> None:
    bundle = releases.bundles["1.1.0"]
    updates = f"{central.url}{UPDATES_PREFIX}"
    with httpx.Client(verify=central.trust(), timeout=60) as it:
        # IT has no device certificate: the bearer token is what lets it publish
        refused = it.put(f"{updates}/bundles/{bundle.name}", content=bundle.read_bytes())
        assert refused.status_code == 401, refused.text
        published = it.put(
            f"{updates}/bundles/{bundle.name}",
            params={"channel": "stable"},
            content=bundle.read_bytes(),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert published.status_code == 201, published.text
    device = UpdateClient(updates, client=httpx.Client(verify=central.trust(), timeout=60))
    try:
        release = device.latest("stable")
        assert release is not None
        assert release.version == "1.1.0"
        downloaded = device.download(release, tmp_path / "downloads")
        assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == release.sha256
        device.report(
            "counter-01",
            [
                {
                    "state": "committed",
                    "version": "1.1.0",
                    "running": "1.1.0",
                    "at": "2026-11-25T10:00:00Z",
                }
            ],
        )
    finally:
        device.close()
    fleet = httpx.get(f"{updates}/fleet", verify=central.trust(), timeout=10).json()["devices"]
    assert [(d["device_id"], d["running"], d["state"]) for d in fleet] == [
        ("counter-01", "1.1.0", "committed")
    ]


def test_the_sync_api_still_wants_an_enrolled_device(central: Central, tmp_path: Path) -> None:
    anonymous = httpx.get(f"{central.url}/v1/time", verify=central.trust(), timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "client_certificate_required"
    # A prefix look-alike is not the mount.
    lookalike = httpx.get(f"{central.url}{UPDATES_PREFIX}-x/fleet", verify=central.trust())
    assert lookalike.status_code == 401
    local = LocalServer(central.db, central.pki_dir, port=int(central.url.rpartition(":")[2]))
    device_id = local.enrol(tmp_path / "tls", "counter-02")
    tls = tmp_path / "tls"
    with_cert = tls_context(tls / pki.CA_CERT, tls / "device.crt", tls / "device.key")
    me = httpx.get(f"{central.url}/v1/devices/me", verify=with_cert, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["device_id"] == device_id == "counter-02"


def test_without_the_update_app_nothing_under_the_prefix_is_open(tmp_path: Path) -> None:
    pki_dir = tmp_path / "pki"
    ctx = make_context(str(tmp_path / "server.sqlite3"), pki_dir, simulate=False)
    try:
        with _serving(build_app(ctx), pki_dir) as url:
            trust = tls_context(pki_dir / pki.CA_CERT)
            response = httpx.get(f"{url}{UPDATES_PREFIX}/fleet", verify=trust, timeout=10)
        assert response.status_code == 401
        assert response.json()["error"] == "client_certificate_required"
    finally:
        ctx.repo.close()
