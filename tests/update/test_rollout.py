"""Channels per platform and staged rollouts, on the real ``madoguchi update serve`` (its
SQLite database, on loopback), driven by IT's real CLI and the counter's real updater.

- A channel holds one release per platform; a counter asks for its own platform and
  never downloads a foreign bundle.
- IT starts a rollout for offices and/or a percentage (a hash of the device id: a
  counter does not flip in and out as it widens), widens it, halts, resumes, aborts it;
  every change is in the audit.
- A rollout halts by itself when its threshold of counters report its version failed: a
  real counter installs a release whose self-test fails, rolls back, reports, and the
  rollout is offered to no new counter.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from update_helpers import DEV_BIN, EXTRA_SITE

from madoguchi.bench.update import ReleaseSet
from updater.bundle import build_bundle
from updater.keys import load_private_key
from updater.layout import InstallTree
from updater.manifest import Platform
from updater.rollout import bucket
from updater.trust import make_pointer

TOKEN = "rollout-publish-token-0123456789"
HERE = Platform.running()
OTHER = Platform("aarch64" if HERE.machine != "aarch64" else "x86_64", HERE.python)


@dataclass
class UpdateServer:
    url: str
    work: Path
    releases: ReleaseSet

    def it(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """One of IT's ``madoguchi update`` commands against this server."""
        return _madoguchi(
            None, "update", *argv, "--server", self.url, "--token-file",
            str(self.work / "token"),
        )

    def it_json(self, *argv: str) -> Any:
        done = self.it(*argv)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.put(f"{self.url}{path}", headers=_auth(), timeout=60, **kwargs)

    def latest(
        self, channel: str, platform: Platform | None = HERE, device: str | None = None,
        office: str | None = None,
    ) -> httpx.Response:
        params = {k: v for k, v in {"device": device, "office": office}.items() if v}
        if platform is not None:
            params.update(machine=platform.machine, python=platform.python)
        return httpx.get(f"{self.url}/releases/{channel}/latest", params=params, timeout=10)

    def offered(self, channel: str, device: str, office: str = "999999") -> str | None:
        answer = self.latest(channel, device=device, office=office)
        if answer.status_code == 204:
            return None
        doc = answer.json()
        body = json.loads(doc["signed"]) if "signed" in doc else doc
        return str(body["version"])

    def report(self, device: str, **post: Any) -> None:
        answer = httpx.post(f"{self.url}/devices/{device}/status", json=post, timeout=10)
        assert answer.status_code == 200, answer.text

    def rollouts(self) -> dict[int, dict[str, Any]]:
        listed = httpx.get(f"{self.url}/rollouts", headers=_auth(), timeout=10).json()
        return {r["rollout_id"]: r for r in listed["rollouts"]}


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def _madoguchi(env: dict[str, str] | None, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEV_BIN / "madoguchi"), *argv], capture_output=True, text=True, timeout=300,
        check=False, env=env, cwd="/",
    )


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, releases: ReleaseSet) -> Iterator[UpdateServer]:
    work = tmp_path_factory.mktemp("rollout-serve")
    (work / "token").write_text(TOKEN + "\n")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([
        str(DEV_BIN / "madoguchi"), "update", "serve", "--data", str(work / "data"),
        "--keys", str(releases.public_key), "--token-file", str(work / "token"),
        "--port", str(port),
    ])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/releases/stable/latest", timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "update serve did not start"
            time.sleep(0.1)
    try:
        yield UpdateServer(url, work, releases)
    finally:
        proc.terminate()
        proc.wait(10)


def _foreign_bundle(tmp_path: Path, releases: ReleaseSet, version: str) -> Path:
    """A signed bundle whose payload is for the other machine (a wheel tagged for it)."""
    wheels = tmp_path / f"wheels-{version}"
    wheels.mkdir()
    abi = OTHER.python
    wheel = wheels / f"pyscard-2.3.1-{abi}-{abi}-manylinux_2_17_{OTHER.machine}.whl"
    wheel.write_bytes(b"never installed: another machine's\n")
    return build_bundle(
        version=version, payload=[wheel], signing_key=load_private_key(releases.private_key),
        out_dir=tmp_path / "foreign", requirements=[f"madoguchi=={version}"],
    )


def _pointer(releases: ReleaseSet, channel: str, release: dict[str, Any]) -> dict[str, Any]:
    fields = {k: release[k] for k in ("version", "bundle", "size", "sha256")}
    return make_pointer(
        load_private_key(releases.private_key), channel=channel,
        valid_for=timedelta(days=1), **fields,
    )


def _counter_env(tmp: Path, server: UpdateServer, root: Path, channel: str, device: str,
                 office: str) -> dict[str, str]:
    config = tmp / "device.toml"
    config.write_text(
        f'[sync]\ndevice_id = "{device}"\noffice_code = "{office}"\n'
        f'[update]\nserver_url = "{server.url}"\nchannel = "{channel}"\nroot = "{root}"\n'
        f'keys = "{server.releases.public_key}"\nunits = []\nextra_site = "{EXTRA_SITE}"\n'
        "health_timeout_s = 60\n"
    )
    return {**os.environ, "MADOGUCHI_CONFIG": str(config),
            "MADOGUCHI_STATE_DIR": str(tmp / "state")}


def test_a_channel_holds_a_release_per_platform_and_a_counter_gets_its_own(
    serve: UpdateServer, releases: ReleaseSet, tmp_path: Path
) -> None:
    foreign = _foreign_bundle(tmp_path, releases, "1.5.0")
    for bundle in (releases.bundles["1.1.0"], foreign):
        published = serve.put(f"/bundles/{bundle.name}", params={"channel": "platforms"},
                              content=bundle.read_bytes())
        assert published.status_code == 201, published.text
    assert published.json()["platform"] == str(OTHER)
    # each platform is told its own release; the app-only bundle runs anywhere
    mine = serve.latest("platforms")
    assert (mine.json()["version"], mine.headers["madoguchi-platform"]) == ("1.1.0", "any/any")
    theirs = serve.latest("platforms", OTHER)
    assert (theirs.json()["version"], theirs.headers["madoguchi-platform"]) == (
        "1.5.0", str(OTHER))

    # the real counter asks for its platform: 1.1.0 is downloaded, the foreign 1.5.0 never
    env = _counter_env(tmp_path, serve, tmp_path / "root", "platforms", "counter-p1", "131016")
    fetched = _madoguchi(env, "update", "fetch")
    assert fetched.returncode == 0, fetched.stderr
    downloads = tmp_path / "state-update" / "downloads"
    assert sorted(p.name for p in downloads.iterdir()) == ["madoguchi-1.1.0.bundle"]

    # a channel with only another platform's release has nothing for this counter
    only = serve.put(f"/bundles/{foreign.name}", params={"channel": "foreign-only"},
                     content=foreign.read_bytes())
    assert only.status_code == 201, only.text
    assert serve.latest("foreign-only").status_code == 204
    (tmp_path / "b").mkdir()
    env = _counter_env(tmp_path / "b", serve, tmp_path / "root-b", "foreign-only", "counter-p2",
                       "131016")
    fetched = _madoguchi(env, "update", "fetch")
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.strip() == "up to date"
    assert not (tmp_path / "b" / "state-update" / "downloads").exists() or not any(
        (tmp_path / "b" / "state-update" / "downloads").iterdir())

    # the fleet knows each counter's channel, platform and last contact
    fleet = httpx.get(f"{serve.url}/fleet", headers=_auth(), timeout=10).json()["devices"]
    by_id = {d["device_id"]: d for d in fleet}
    assert by_id["counter-p1"]["channel"] == "platforms"
    assert by_id["counter-p1"]["platform"] == str(HERE)
    assert by_id["counter-p1"]["state"] == "downloaded"
    assert by_id["counter-p2"]["last_contact"] is not None


def test_a_tampered_upload_loses_nothing_and_a_name_is_never_reused(
    serve: UpdateServer, releases: ReleaseSet
) -> None:
    good = releases.bundles["1.2.0"]
    assert serve.put(f"/bundles/{good.name}", params={"channel": "tamper"},
                     content=good.read_bytes()).status_code == 201
    before = serve.latest("tamper").json()
    bad = bytearray(good.read_bytes())
    bad[len(bad) // 2] ^= 0x01
    refused = serve.put(f"/bundles/{good.name}", params={"channel": "tamper"}, content=bytes(bad))
    assert refused.status_code == 422, refused.text
    # what was published is still offered, byte for byte, and downloads as it was
    assert serve.latest("tamper").json() == before
    served = httpx.get(f"{serve.url}/bundles/{good.name}", timeout=60)
    assert served.content == good.read_bytes()
    assert not list((serve.work / "data" / "bundles").glob(".upload-*"))


def _ids_by_bucket(below: int, count: int, *, above: bool = False) -> list[str]:
    found = []
    n = 0
    while len(found) < count:
        device = f"counter-b{n:04d}"
        if (bucket(device) >= below) if above else (bucket(device) < below):
            found.append(device)
        n += 1
    return found


def test_a_staged_rollout_widens_halts_by_itself_resumes_and_aborts(
    serve: UpdateServer, releases: ReleaseSet
) -> None:
    channel = "staged"
    base = releases.bundles["1.1.0"]
    release = serve.put(f"/bundles/{base.name}", params={"channel": channel},
                        content=base.read_bytes()).json()
    assert serve.put(f"/releases/{channel}", json=_pointer(releases, channel, release)
                     ).status_code == 201
    started = serve.it_json(
        "rollout", "start", str(releases.bundles["1.2.0"]), "--channel", channel,
        "--pointer-key", str(releases.private_key), "--office", "131016", "--halt-after", "2",
    )
    rollout_id = started["rollout_id"]
    assert (started["state"], started["offices"], started["percent"]) == (
        "active", ["131016"], 0)
    # staging the bundle did not move the channel: everyone else stays on 1.1.0
    assert serve.offered(channel, "counter-x", office="131016") == "1.2.0"
    assert serve.offered(channel, "counter-y", office="272051") == "1.1.0"

    low, high = _ids_by_bucket(30, 3), _ids_by_bucket(30, 2, above=True)
    assert all(serve.offered(channel, d) == "1.1.0" for d in low + high)
    widened = serve.it_json("rollout", "widen", str(rollout_id), "--percent", "30")
    assert widened["percent"] == 30
    assert all(serve.offered(channel, d) == "1.2.0" for d in low)
    assert all(serve.offered(channel, d) == "1.1.0" for d in high)
    # never narrower: halting or aborting is how a rollout stops
    narrower = serve.it("rollout", "widen", str(rollout_id), "--percent", "10")
    assert narrower.returncode != 0
    assert "halt or abort" in narrower.stderr

    # two of its counters fail on 1.2.0: it halts by itself
    now = datetime.now(UTC).isoformat(timespec="seconds")
    serve.report(low[0], running="1.2.0", channel=channel, reports=[
        {"state": "committed", "version": "1.2.0", "reason": "", "at": now}])
    serve.report(low[1], running="1.1.0", channel=channel, reports=[
        {"state": "rolled_back", "version": "1.2.0", "reason": "health-check-failed", "at": now}])
    assert serve.rollouts()[rollout_id]["state"] == "active"  # one failure: under threshold
    serve.report(low[2], running="1.1.0", channel=channel, reports=[
        {"state": "failed", "version": "1.2.0", "reason": "install-failed", "at": now}])
    halted = serve.rollouts()[rollout_id]
    assert (halted["state"], halted["failures"]) == ("halted", 2)
    assert "2 counters failed on 1.2.0" in halted["halted_reason"]
    # offered to no new counter; the one already running it is told it is up to date
    assert serve.offered(channel, "counter-new", office="131016") == "1.1.0"
    assert serve.offered(channel, low[1]) == "1.1.0"
    assert serve.offered(channel, low[0]) == "1.2.0"

    resumed = serve.it_json("rollout", "resume", str(rollout_id), "--reason", "fixed the Pi")
    assert (resumed["state"], resumed["failures"]) == ("active", 0)
    assert serve.offered(channel, "counter-new", office="131016") == "1.2.0"
    aborted = serve.it_json("rollout", "abort", str(rollout_id), "--reason", "bad release")
    assert aborted["state"] == "aborted"
    assert serve.offered(channel, "counter-new", office="131016") == "1.1.0"
    assert serve.it("rollout", "resume", str(rollout_id)).returncode != 0  # aborted is final

    audit = httpx.get(f"{serve.url}/audit", headers=_auth(), timeout=10).json()["audit"]
    actions = [(a["actor"], a["action"]) for a in reversed(audit) if a["channel"] == channel]
    assert actions == [
        ("it", "publish"), ("it", "pointer"), ("it", "stage-bundle"), ("it", "rollout-start"),
        ("it", "rollout-widen"), ("server", "rollout-halted"), ("it", "rollout-resume"),
        ("it", "rollout-abort"),
    ]
    listed = serve.it("rollout", "list")
    assert f"{rollout_id}: {channel} 1.2.0" in listed.stdout
    # without IT's token nothing about rollouts is answered
    assert httpx.get(f"{serve.url}/rollouts", timeout=10).status_code == 401
    assert httpx.post(f"{serve.url}/rollouts/{rollout_id}/resume", json={},
                      timeout=10).status_code == 401


def test_a_real_counter_that_fails_a_rollout_halts_it(
    serve: UpdateServer, releases: ReleaseSet, fresh_root: Path, state: Path, tmp_path: Path
) -> None:
    channel = "canary"
    base = releases.bundles["1.1.0"]
    release = serve.put(f"/bundles/{base.name}", params={"channel": channel},
                        content=base.read_bytes()).json()
    assert serve.put(f"/releases/{channel}", json=_pointer(releases, channel, release)
                     ).status_code == 201
    rollout = serve.it_json(
        "rollout", "start", str(releases.bundles["1.3.0"]), "--channel", channel,
        "--pointer-key", str(releases.private_key), "--office", "131016", "--halt-after", "1",
    )
    config = tmp_path / "device.toml"
    config.write_text(
        '[sync]\ndevice_id = "counter-canary"\noffice_code = "131016"\n'
        f'[update]\nserver_url = "{serve.url}"\nchannel = "{channel}"\nroot = "{fresh_root}"\n'
        f'keys = "{releases.public_key}"\nunits = []\nextra_site = "{EXTRA_SITE}"\n'
        "health_timeout_s = 60\n"
    )
    env = {**os.environ, "MADOGUCHI_CONFIG": str(config), "MADOGUCHI_STATE_DIR": str(state)}
    polled = _madoguchi(env, "update", "poll", "--apply")
    # 1.3.0's self-test fails: the counter rolls back by itself and says so
    assert polled.returncode == 3, (polled.stdout, polled.stderr)
    assert InstallTree(fresh_root).current_version() == "1.0.0"
    halted = serve.rollouts()[rollout["rollout_id"]]
    assert halted["state"] == "halted", halted
    assert halted["failures"] == 1
    # the next counter of that office is not offered 1.3.0
    assert serve.offered(channel, "counter-next", office="131016") == "1.1.0"
    fleet = httpx.get(f"{serve.url}/fleet", headers=_auth(), timeout=10).json()["devices"]
    canary = {d["device_id"]: d for d in fleet}["counter-canary"]
    assert (canary["state"], canary["health"], canary["running"]) == (
        "rolled_back", "failing", "1.0.0")


def test_a_completed_rollout_is_the_channel_release_for_everyone(
    serve: UpdateServer, releases: ReleaseSet
) -> None:
    channel = "finish"
    base = releases.bundles["1.1.0"]
    release = serve.put(f"/bundles/{base.name}", params={"channel": channel},
                        content=base.read_bytes()).json()
    assert serve.put(f"/releases/{channel}", json=_pointer(releases, channel, release)
                     ).status_code == 201
    started = serve.it_json(
        "rollout", "start", str(releases.bundles["1.2.0"]), "--channel", channel,
        "--pointer-key", str(releases.private_key), "--office", "131016",
    )
    assert serve.offered(channel, "counter-far", office="472018") == "1.1.0"
    done = serve.it_json("rollout", "complete", str(started["rollout_id"]))
    assert done["state"] == "complete"
    # everyone now, as IT signed it for the rollout; a second rollout of it is refused
    assert serve.offered(channel, "counter-far", office="472018") == "1.2.0"
    again = serve.it(
        "rollout", "start", str(releases.bundles["1.2.0"]), "--channel", channel,
        "--pointer-key", str(releases.private_key), "--percent", "50",
    )
    assert again.returncode != 0
    assert "not newer" in again.stderr
