"""The update endpoints on a real uvicorn on loopback, and the device's client against them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from update_helpers import DEV_BIN

from madoguchi.bench.update import ReleaseSet, tamper_cases
from updater.download import Release, UpdateClient
from updater.errors import DownloadError
from updater.keys import load_private_key
from updater.statedir import PrivateDir
from updater.trust import make_key_list, make_pointer

TOKEN = "publish-secret-0123456789"


@pytest.fixture(scope="module")
def server(releases: ReleaseSet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("update-server")
    (work / "token").write_text(TOKEN + "\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            str(DEV_BIN / "madoguchi"),
            "update",
            "serve",
            "--data",
            str(work / "data"),
            "--keys",
            str(releases.public_key),
            "--token-file",
            str(work / "token"),
            "--port",
            str(port),
        ],
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{base}/releases/stable/latest", timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "update server did not start"
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(10)


def _publish(base: str, bundle: Path, channel: str, token: str = TOKEN) -> httpx.Response:
    return httpx.put(
        f"{base}/bundles/{bundle.name}",
        params={"channel": channel},
        content=bundle.read_bytes(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_publishing_needs_the_token(server: str, releases: ReleaseSet) -> None:
    assert _publish(server, releases.bundles["1.1.0"], "stable", token="wrong").status_code == 401


def test_the_server_refuses_to_publish_a_bad_bundle(
    server: str, releases: ReleaseSet, tmp_path: Path
) -> None:
    cases = tamper_cases(
        releases.bundles["1.1.0"], releases.bundles["1.0.0"], releases.wrong_private_key, tmp_path
    )
    for name, path, _reason in cases:
        if "older" in name:
            continue  # an older bundle is fine to publish; devices refuse it
        target = tmp_path / "upload" / releases.bundles["1.1.0"].name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(path, target)
        response = _publish(server, target, "evil")
        assert response.status_code == 422, name
    assert httpx.get(f"{server}/releases/evil/latest").status_code == 204


def test_publish_then_latest(server: str, releases: ReleaseSet) -> None:
    bundle = releases.bundles["1.2.0"]
    response = _publish(server, bundle, "stable")
    assert response.status_code == 201, response.text
    latest = httpx.get(f"{server}/releases/stable/latest").json()
    assert latest == {
        "version": "1.2.0",
        "bundle": bundle.name,
        "size": bundle.stat().st_size,
        "sha256": hashlib.sha256(bundle.read_bytes()).hexdigest(),
        "platform": "any/any",  # an app-only bundle: any machine, any interpreter
    }


def _client(requests: list[httpx.Request], attempts: int = 3) -> UpdateClient:
    return UpdateClient(
        "",
        client=httpx.Client(event_hooks={"request": [requests.append]}, timeout=10),
        attempts=attempts,
        backoff_s=0.01,
    )


def test_download_resumes_with_range(server: str, releases: ReleaseSet, tmp_path: Path) -> None:
    bundle = releases.bundles["1.2.0"]
    _publish(server, bundle, "resume")
    data = bundle.read_bytes()
    half = len(data) // 2
    dl = PrivateDir(tmp_path / "dl")
    (dl.path / f"{bundle.name}.part").write_bytes(data[:half])  # a cut connection's leftovers
    requests: list[httpx.Request] = []
    client = _client(requests)
    client.base_url = server
    release = client.latest("resume")
    assert release is not None
    path = client.download(release, dl)
    assert path.read_bytes() == data
    gets = [r for r in requests if "/bundles/" in r.url.path]
    assert [r.headers.get("range") for r in gets] == [f"bytes={half}-"]
    assert not (dl.path / f"{bundle.name}.part").exists()


def test_a_wrong_partial_file_is_detected_and_dropped(
    server: str, releases: ReleaseSet, tmp_path: Path
) -> None:
    bundle = releases.bundles["1.2.0"]
    _publish(server, bundle, "corrupt")
    data = bundle.read_bytes()
    dl = PrivateDir(tmp_path / "dl")
    part = dl.path / f"{bundle.name}.part"
    part.write_bytes(b"\xff" * (len(data) // 3))  # not a prefix of the real file
    client = _client([])
    client.base_url = server
    release = client.latest("corrupt")
    assert release is not None
    with pytest.raises(DownloadError, match="SHA-256"):
        client.download(release, dl)
    assert not part.exists()
    assert client.download(release, dl).read_bytes() == data  # next run starts clean


def test_a_404_is_final_and_not_retried(server: str, tmp_path: Path) -> None:
    requests: list[httpx.Request] = []
    client = _client(requests, attempts=5)
    client.base_url = server
    missing = Release("9.9.9", "madoguchi-9.9.9.bundle", 10, "0" * 64)
    with pytest.raises(DownloadError, match="404"):
        client.download(missing, PrivateDir(tmp_path / "dl"))
    assert len(requests) == 1


def test_unreachable_server_gives_up_after_capped_attempts(tmp_path: Path) -> None:
    requests: list[httpx.Request] = []
    client = _client(requests, attempts=3)
    client.base_url = "http://127.0.0.1:9"  # discard port: connection refused
    release = Release("1.0.0", "madoguchi-1.0.0.bundle", 10, "0" * 64)
    with pytest.raises(DownloadError, match="3 attempts"):
        client.download(release, PrivateDir(tmp_path / "dl"))
    assert len(requests) == 3


def test_reports_show_in_the_fleet_view(server: str) -> None:
    client = _client([])
    client.base_url = server
    client.report(
        "counter-07",
        [
            {
                "state": "installed",
                "version": "1.2.0",
                "running": "1.1.0",
                "at": "2026-11-25T10:00:00+00:00",
            },
            {
                "state": "committed",
                "version": "1.2.0",
                "running": "1.2.0",
                "at": "2026-11-25T10:00:05+00:00",
            },
        ],
    )
    # a late, older report does not overwrite the newer state
    client.report(
        "counter-07",
        [
            {
                "state": "downloaded",
                "version": "1.2.0",
                "running": "1.1.0",
                "at": "2026-11-25T09:59:00+00:00",
            }
        ],
    )
    assert httpx.get(f"{server}/fleet").status_code == 401  # IT's view needs IT's token
    answer = httpx.get(f"{server}/fleet", headers={"Authorization": f"Bearer {TOKEN}"})
    fleet = {d["device_id"]: d for d in answer.json()["devices"]}
    assert fleet["counter-07"]["running"] == "1.2.0"
    assert fleet["counter-07"]["state"] == "committed"
    bad = httpx.post(f"{server}/devices/bad id!/status", json={"reports": []})
    assert bad.status_code == 400


class _CuttingProxy:
    """A TCP proxy to the server that drops the first bundle download after ``cut`` bytes."""

    def __init__(self, upstream_port: int, cut: int) -> None:
        self.upstream_port, self.cut = upstream_port, cut
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        request = client.recv(65536)
        upstream.sendall(request)
        cut_this = b"GET /bundles/" in request and self.cuts == 0
        self.cuts += cut_this
        sent = 0
        with client, upstream:
            while chunk := upstream.recv(65536):
                if cut_this and sent + len(chunk) > self.cut:
                    client.sendall(chunk[: self.cut - sent])
                    return  # the connection drops mid-body
                client.sendall(chunk)
                sent += len(chunk)

    def close(self) -> None:
        self.listener.close()


def test_a_dropped_connection_is_resumed_in_the_same_run(
    server: str, releases: ReleaseSet, tmp_path: Path
) -> None:
    bundle = releases.bundles["1.2.0"]
    _publish(server, bundle, "flaky")
    proxy = _CuttingProxy(int(server.rsplit(":", 1)[1]), cut=len(bundle.read_bytes()) // 3)
    requests: list[httpx.Request] = []
    # one request per connection: the little proxy forwards only a connection's first request
    client = UpdateClient(
        f"http://127.0.0.1:{proxy.port}",
        client=httpx.Client(
            event_hooks={"request": [requests.append]},
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=10,
        ),
        attempts=3,
        backoff_s=0.01,
    )
    try:
        release = client.latest("flaky")
        assert release is not None
        path = client.download(release, PrivateDir(tmp_path / "dl"))
    finally:
        proxy.close()
    assert proxy.cuts == 1
    assert path.read_bytes() == bundle.read_bytes()
    ranges = [r.headers.get("range") for r in requests if "/bundles/" in r.url.path]
    assert len(ranges) == 2
    assert ranges[0] is None
    assert ranges[1] is not None
    assert ranges[1].startswith("bytes=")
    assert int(ranges[1].removeprefix("bytes=").rstrip("-")) > 0


# --- the key list and the signed channel pointer (issue 13) ----------------------------


def _put_json(base: str, path: str, doc: object, token: str = TOKEN) -> httpx.Response:
    return httpx.put(
        f"{base}{path}",
        content=json.dumps(doc).encode(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _fetch(
    server: str, releases: ReleaseSet, tmp_path: Path, channel: str
) -> subprocess.CompletedProcess[str]:
    """``madoguchi update fetch`` as a counter of this server (plain HTTP, ``update serve``)."""
    config = tmp_path / "device.toml"
    config.write_text(
        "[update]\n"
        f'root = "{tmp_path / "root"}"\n'
        f'keys = "{releases.public_key}"\n'
        f'server_url = "{server}"\n'
        f'channel = "{channel}"\n'
    )
    env = {**os.environ, "MADOGUCHI_CONFIG": str(config)}
    return subprocess.run(
        [str(DEV_BIN / "madoguchi"), "update", "fetch"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_it_publishes_a_key_list_and_a_signed_pointer_and_a_counter_follows_it(
    server: str, releases: ReleaseSet, tmp_path: Path
) -> None:
    root = load_private_key(releases.private_key)
    pointer_key = Ed25519PrivateKey.generate()
    key_list = make_key_list(root, [(pointer_key.public_key(), ["pointer"])], serial=5)
    assert _put_json(server, "/keys", key_list, token="wrong").status_code == 401
    forged = make_key_list(pointer_key, [(pointer_key.public_key(), ["bundle"])], serial=6)
    assert _put_json(server, "/keys", forged).status_code == 422  # not signed by a root key
    assert _put_json(server, "/keys", key_list).status_code == 201, "key list refused"
    assert httpx.get(f"{server}/keys").json() == key_list
    older = make_key_list(root, [], serial=4)
    assert _put_json(server, "/keys", older).json()["reason"] == "replayed"

    bundle = releases.bundles["1.2.0"]
    assert _publish(server, bundle, "signed-unused").status_code == 201
    release = {
        "version": "1.2.0",
        "bundle": bundle.name,
        "size": bundle.stat().st_size,
        "sha256": hashlib.sha256(bundle.read_bytes()).hexdigest(),
    }
    pointer = make_pointer(pointer_key, channel="signed", valid_for=timedelta(days=1), **release)
    assert _put_json(server, "/releases/signed", pointer, token="wrong").status_code == 401
    # a bundle key is not a pointer key; another channel's pointer does not fit; expired
    other = Ed25519PrivateKey.generate()
    for doc, reason in (
        (
            make_pointer(other, channel="signed", valid_for=timedelta(days=1), **release),
            "bad-signature",
        ),
        (
            make_pointer(pointer_key, channel="canary", valid_for=timedelta(days=1), **release),
            "wrong-channel",
        ),
        (
            make_pointer(pointer_key, channel="signed", valid_for=timedelta(days=-1), **release),
            "expired",
        ),
    ):
        answer = _put_json(server, "/releases/signed", doc)
        assert (answer.status_code, answer.json()["reason"]) == (422, reason)
    assert _put_json(server, "/releases/signed", pointer).status_code == 201
    # the server hands out the pointer exactly as signed
    assert httpx.get(f"{server}/releases/signed/latest").json() == pointer
    stale = make_pointer(
        pointer_key, channel="signed", valid_for=timedelta(days=1), serial=1, **release
    )
    assert _put_json(server, "/releases/signed", stale).json()["reason"] == "replayed"

    # a counter trusting only the root key follows the pointer through the key list
    fetched = _fetch(server, releases, tmp_path, "signed")
    assert fetched.returncode == 0, fetched.stderr
    assert Path(fetched.stdout.strip()).read_bytes() == bundle.read_bytes()
    held = json.loads((tmp_path / "state-update" / "keys.json").read_text())
    assert held == key_list
    # holding a key list, it no longer takes an unsigned answer on any channel
    assert _publish(server, releases.bundles["1.1.0"], "unsigned").status_code == 201
    refused = _fetch(server, releases, tmp_path, "unsigned")
    assert refused.returncode == 2
    assert "not a signed pointer" in refused.stderr
    assert not (tmp_path / "state-update" / "downloads" / releases.bundles["1.1.0"].name).exists()
