"""Update delivery from the central server: the real ``madoguchi server run`` (a child
process, configured by ``[sync] server_update_keys`` …) serves the update endpoints
under ``/updates`` over mutual TLS on loopback; IT publishes and reads the fleet with
``madoguchi update publish|fleet`` and its token; devices pull with ``madoguchi update
fetch|poll``, through the uploader's TLS client (``sync.tls``: the server's CA only,
the device certificate).

Devices need their enrolled, unrevoked certificate under ``/updates`` as everywhere
else; a device reports only under its own id; a device that does not trust the
server's certificate stops with a clear error and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from update_helpers import DEV_BIN, snapshot

from madoguchi.bench.update import ReleaseSet
from sync import pki
from sync.localserver import LocalServer
from sync.server.app import UPDATES_PREFIX
from sync.server.repository import open_repository
from sync.tls import DEVICE_CERT, DEVICE_KEY, SERVER_CA, device_http_client, tls_context
from updater.download import Release, UpdateClient
from updater.errors import DownloadError
from updater.statedir import PrivateDir

TOKEN = "it-publish-token-0123456789"


@dataclass
class Central:
    server: LocalServer
    work: Path

    @property
    def updates(self) -> str:
        return f"{self.server.url}{UPDATES_PREFIX}"

    @property
    def ca(self) -> Path:
        return self.server.pki_dir / pki.CA_CERT

    def it(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """One of IT's ``madoguchi update`` commands against this server, with its token."""
        return _madoguchi(
            "update",
            *argv,
            "--server",
            self.updates,
            "--token-file",
            str(self.work / "publish.token"),
            "--server-ca",
            str(self.ca),
        )

    def fleet(self) -> dict[str, dict[str, str]]:
        listed = self.it("fleet", "--json")
        assert listed.returncode == 0, listed.stderr
        return {d["device_id"]: d for d in json.loads(listed.stdout)}

    def enrol(self, tls_dir: Path, device_id: str) -> str:
        return self.server.enrol(tls_dir, device_id)


def _madoguchi(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEV_BIN / "madoguchi"), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory, releases: ReleaseSet) -> Iterator[Central]:
    work = tmp_path_factory.mktemp("central")
    (work / "publish.token").write_text(TOKEN + "\n")
    config = work / "server.toml"
    config.write_text(
        "[sync]\n"
        f'server_update_keys = "{releases.public_key}"\n'
        f'server_publish_token_file = "{work / "publish.token"}"\n'
        f'server_updates_dir = "{work / "updates"}"\n'
    )
    server = LocalServer(str(work / "server.sqlite3"), work / "pki", simulate=False)
    with pytest.MonkeyPatch.context() as env:
        # the real `madoguchi server run`, configured only by its configuration file
        env.setenv("MADOGUCHI_CONFIG", str(config))
        server.start()
    try:
        central = Central(server, work)
        for version, channel in (("1.1.0", "stable"), ("1.2.0", "resume")):
            published = central.it("publish", str(releases.bundles[version]), "--channel", channel)
            assert published.returncode == 0, published.stderr
        yield central
    finally:
        server.stop()


def _device_env(central: Central, tmp_path: Path, tls_dir: Path, root: Path) -> dict[str, str]:
    """A counter's configuration: the central server's /updates, reached over HTTPS."""
    config = tmp_path / "device.toml"
    config.write_text(
        "[sync]\n"
        f'server_url = "{central.server.url}"\n'
        f'tls_dir = "{tls_dir}"\n'
        # what the config says is not what the server files reports under: the certificate is
        'device_id = "not-my-id"\n'
        "[update]\n"
        f'root = "{root}"\n'
        f'keys = "{central.work / "no-keys"}"\n'
    )
    return {
        **os.environ,
        "MADOGUCHI_CONFIG": str(config),
        "MADOGUCHI_STATE_DIR": str(tmp_path / "state"),
    }


def test_server_run_delivers_updates_to_an_enrolled_device(
    central: Central, releases: ReleaseSet, tmp_path: Path
) -> None:
    tls = tmp_path / "tls"
    central.enrol(tls, "counter-10")
    env = _device_env(central, tmp_path, tls, tmp_path / "root")
    fetched = _madoguchi("update", "fetch", env=env)
    assert fetched.returncode == 0, fetched.stderr
    bundle = Path(fetched.stdout.strip())
    assert bundle == tmp_path / "state-update" / "downloads" / "madoguchi-1.1.0.bundle"
    assert bundle.read_bytes() == releases.bundles["1.1.0"].read_bytes()
    # the report went in under the certificate's device id, and IT sees it
    counter = central.fleet()["counter-10"]
    assert (counter["state"], counter["version"]) == ("downloaded", "1.1.0")
    assert "not-my-id" not in central.fleet()
    listed = central.it("fleet")
    assert listed.stdout.startswith("counter-10: running -, downloaded 1.1.0; channel stable,")


def test_it_needs_its_token_to_publish_and_to_see_the_fleet(
    central: Central, releases: ReleaseSet, tmp_path: Path
) -> None:
    bundle = releases.bundles["1.1.0"]
    trust = tls_context(central.ca)
    with httpx.Client(verify=trust, timeout=30) as anyone:
        put = anyone.put(f"{central.updates}/bundles/{bundle.name}", content=bundle.read_bytes())
        assert put.status_code == 401, put.text
        wrong = anyone.get(f"{central.updates}/fleet", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    # an enrolled device's certificate is not IT's credential either
    tls = tmp_path / "tls"
    central.enrol(tls, "counter-11")
    with device_http_client(tls, timeout_s=30) as device:
        assert device.get(f"{central.updates}/fleet").status_code == 401
    (tmp_path / "bad.token").write_text("not-the-publish-token\n")
    refused = _madoguchi(
        "update",
        "publish",
        str(bundle),
        "--server",
        central.updates,
        "--token-file",
        str(tmp_path / "bad.token"),
        "--server-ca",
        str(central.ca),
    )
    assert refused.returncode == 2
    assert "refused (401)" in refused.stderr


def test_a_device_reports_only_under_its_own_id(central: Central, tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    central.enrol(tls, "counter-12")
    client = UpdateClient(central.updates, client=device_http_client(tls, timeout_s=30))
    report = {"state": "committed", "version": "1.1.0", "running": "1.1.0", "at": _now()}
    try:
        with pytest.raises(DownloadError, match=r"403.*counter-12, not counter-10"):
            client.report("counter-10", [report])
        client.report("counter-12", [report])
    finally:
        client.close()
    assert central.fleet()["counter-12"]["running"] == "1.1.0"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _device_requests(client: UpdateClient, tmp_path: Path) -> list[str]:
    """Every device request, each answered with a DownloadError; their messages."""
    errors = []
    for attempt in (
        lambda: client.latest("stable"),
        lambda: client.download(_release_of(), PrivateDir(tmp_path / "downloads")),
        lambda: client.report("counter-13", [{"state": "idle", "at": _now()}]),
    ):
        with pytest.raises(DownloadError) as caught:
            attempt()
        errors.append(str(caught.value))
    return errors


def _release_of() -> Release:
    return Release("1.1.0", "madoguchi-1.1.0.bundle", 10, "0" * 64)


def test_a_device_without_a_valid_client_certificate_is_refused(
    central: Central, tmp_path: Path
) -> None:
    # No certificate at all: TLS that trusts the server, nothing to present.
    anonymous = UpdateClient(
        central.updates,
        client=httpx.Client(verify=tls_context(central.ca), timeout=10),
        attempts=1,
    )
    try:
        errors = _device_requests(anonymous, tmp_path)
    finally:
        anonymous.close()
    assert all("401" in e and "client certificate is required" in e for e in errors), errors
    # A certificate from another CA (a look-alike device): refused in the handshake.
    other = tmp_path / "other-ca"
    pki.init_server_pki(other)
    key = pki.new_key()
    cert = pki.sign_device_csr(
        pki.load_key(other / pki.CA_KEY),
        pki.load_cert(other / pki.CA_CERT),
        pki.make_csr(key),
        "counter-13",
    )
    tls = tmp_path / "foreign"
    tls.mkdir()
    pki.write_private(tls / DEVICE_KEY, pki.key_pem(key))
    pki.write_public(tls / DEVICE_CERT, pki.cert_pem(cert))
    pki.write_public(tls / SERVER_CA, central.ca.read_bytes())
    foreign = UpdateClient(
        central.updates, client=device_http_client(tls, timeout_s=10), attempts=1, backoff_s=0
    )
    try:
        errors = _device_requests(foreign, tmp_path)
    finally:
        foreign.close()
    assert all("answered" not in e for e in errors), errors  # no HTTP answer at all
    assert not any((tmp_path / "downloads").iterdir())  # nothing of a bundle was written


def test_a_revoked_device_is_refused(central: Central, tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    central.enrol(tls, "counter-14")
    client = UpdateClient(central.updates, client=device_http_client(tls, timeout_s=10), attempts=1)
    try:
        assert client.latest("stable") is not None  # enrolled: served
        repo = open_repository(central.server.db_url)
        try:
            repo.revoke_device("counter-14", _now())
        finally:
            repo.close()
        errors = _device_requests(client, tmp_path)
    finally:
        client.close()
    assert all("403" in e and "counter-14 is revoked" in e for e in errors), errors
    assert not any((tmp_path / "downloads").iterdir())


def test_the_device_trusts_only_the_server_ca(
    central: Central, tmp_path: Path, fresh_root: Path
) -> None:
    tls = tmp_path / "tls"
    central.enrol(tls, "counter-15")
    other = tmp_path / "other-ca"
    pki.init_server_pki(other)
    (tls / SERVER_CA).write_bytes((other / pki.CA_CERT).read_bytes())  # not this server's CA
    env = _device_env(central, tmp_path, tls, fresh_root)
    before = snapshot(fresh_root)
    polled = _madoguchi("update", "poll", "--apply", env=env)
    assert polled.returncode == 2, polled
    assert "not signed by the configured CA" in polled.stderr, polled.stderr
    assert snapshot(fresh_root) == before
    downloads = tmp_path / "state-update" / "downloads"
    assert not downloads.exists() or not any(downloads.iterdir())
    status = _madoguchi("update", "status", "--json", env=env)
    recorded = json.loads(status.stdout)
    assert recorded["state"] == "failed"
    assert "not signed by the configured CA" in recorded["detail"]
    # enrolled, so the fleet lists it, but it never got through to report
    assert central.fleet()["counter-15"]["last_contact"] is None


def test_an_unenrolled_device_is_told_to_enrol(central: Central, tmp_path: Path) -> None:
    env = _device_env(central, tmp_path, tmp_path / "no-tls", tmp_path / "root")
    fetched = _madoguchi("update", "fetch", env=env)
    assert fetched.returncode == 2
    assert "enrol this device first" in fetched.stderr


def test_a_cut_download_resumes_with_range_over_mutual_tls(
    central: Central, releases: ReleaseSet, tmp_path: Path
) -> None:
    tls = tmp_path / "tls"
    central.enrol(tls, "counter-16")
    data = releases.bundles["1.2.0"].read_bytes()
    downloads = PrivateDir(tmp_path / "downloads")
    part = downloads.path / "madoguchi-1.2.0.bundle.part"
    part.write_bytes(data[: len(data) // 2])  # what a cut connection left
    http = device_http_client(tls, timeout_s=30)
    answers: list[tuple[str | None, int, str | None]] = []

    def seen(response: httpx.Response) -> None:
        if "/bundles/" in response.request.url.path:
            answers.append(
                (
                    response.request.headers.get("range"),
                    response.status_code,
                    response.headers.get("content-range"),
                )
            )

    http.event_hooks["response"].append(seen)
    client = UpdateClient(central.updates, client=http)
    try:
        release = client.latest("resume")
        assert release is not None
        path = client.download(release, downloads)
    finally:
        client.close()
    half = len(data) // 2
    assert answers == [(f"bytes={half}-", 206, f"bytes {half}-{len(data) - 1}/{len(data)}")]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == release.sha256
    assert not part.exists()


def test_the_sync_api_is_untouched_by_the_mount(central: Central, tmp_path: Path) -> None:
    trust = tls_context(central.ca)
    anonymous = httpx.get(f"{central.server.url}/v1/time", verify=trust, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "client_certificate_required"
    # a prefix look-alike is not the mount, and IT's paths are exactly IT's
    for path in (f"{UPDATES_PREFIX}-x/fleet", f"{UPDATES_PREFIX}/fleet/x", f"{UPDATES_PREFIX}/"):
        answer = httpx.get(f"{central.server.url}{path}", verify=trust, timeout=10)
        assert answer.status_code == 401, path
        assert answer.json()["error"] == "client_certificate_required", path
    tls = tmp_path / "tls"
    central.enrol(tls, "counter-17")
    with device_http_client(tls, timeout_s=10) as device:
        me = device.get(f"{central.server.url}/v1/devices/me")
    assert me.status_code == 200, me.text
    assert me.json()["device_id"] == "counter-17"


def test_without_update_keys_the_server_delivers_no_updates(tmp_path: Path) -> None:
    server = LocalServer(str(tmp_path / "server.sqlite3"), tmp_path / "pki", simulate=False)
    server.start()
    try:
        tls = tmp_path / "tls"
        server.enrol(tls, "counter-18")
        with device_http_client(tls, timeout_s=10) as device:
            answer = device.get(f"{server.url}{UPDATES_PREFIX}/releases/stable/latest")
        trust = tls_context(server.pki_dir / pki.CA_CERT)
        fleet = httpx.get(f"{server.url}{UPDATES_PREFIX}/fleet", verify=trust, timeout=10)
    finally:
        server.stop()
    assert answer.status_code == 404
    assert fleet.status_code == 401


def test_update_delivery_without_a_token_does_not_start(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text(f'[sync]\nserver_update_keys = "{tmp_path / "it.pem"}"\n')
    started = _madoguchi(
        "--config",
        str(config),
        "server",
        "run",
        "--db",
        str(tmp_path / "s.sqlite3"),
        "--pki-dir",
        str(tmp_path / "pki"),
        "--listen",
        "127.0.0.1:9",
    )
    assert started.returncode == 2
    assert "server_publish_token_file" in started.stderr


def test_every_worker_process_delivers_updates(
    central: Central, releases: ReleaseSet, tmp_path: Path
) -> None:
    # --workers 2: each uvicorn worker builds the app from what the parent passed on
    server = LocalServer(central.server.db_url, central.server.pki_dir, simulate=False, workers=2)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MADOGUCHI_CONFIG", str(central.work / "server.toml"))
        server.start()
    try:
        tls = tmp_path / "tls"
        server.enrol(tls, "counter-19")
        with device_http_client(tls, timeout_s=30) as device:
            answers = [
                device.get(
                    f"{server.url}{UPDATES_PREFIX}/releases/stable/latest",
                    headers={"Connection": "close"},  # new connections: both workers answer
                )
                for _ in range(6)
            ]
    finally:
        server.stop()
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["version"] for a in answers} == {"1.1.0"}
