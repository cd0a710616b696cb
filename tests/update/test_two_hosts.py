"""Two central server hosts on one PostgreSQL share every piece of update state.

Two real ``madoguchi server run`` processes, each with its own state directory (PKI copy,
no shared file but the bundles directory, which production mounts from shared storage),
on one real PostgreSQL on loopback. IT publishes through host A; a counter enrolled through
A reads its channel's latest from host B and downloads the bundle there with the real
updater; the fleet read on either host is the same; a rollout started on A and halted
through B is halted on A at once (the per-channel generation, not a timer).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from update_helpers import DEV_BIN

from madoguchi.bench.update import ReleaseSet
from sync import pki
from sync.localserver import LocalServer
from sync.pgcluster import PgCluster
from sync.server.app import UPDATES_PREFIX
from sync.tls import device_http_client
from updater.manifest import Platform

TOKEN = "two-hosts-publish-token-0123456789"


@dataclass
class Hosts:
    a: LocalServer
    b: LocalServer
    work: Path

    def it(self, host: LocalServer, *argv: str) -> subprocess.CompletedProcess[str]:
        return _madoguchi(
            None, "update", *argv, "--server", f"{host.url}{UPDATES_PREFIX}",
            "--token-file", str(self.work / "publish.token"),
            "--server-ca", str(host.pki_dir / pki.CA_CERT),
        )

    def it_json(self, host: LocalServer, *argv: str) -> Any:
        done = self.it(host, *argv)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    def fleet(self, host: LocalServer) -> dict[str, dict[str, Any]]:
        return {d["device_id"]: d for d in self.it_json(host, "fleet", "--json")}

    def rollouts(self, host: LocalServer) -> dict[int, dict[str, Any]]:
        return {r["rollout_id"]: r for r in self.it_json(host, "rollout", "list", "--json")}


def _madoguchi(env: dict[str, str] | None, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEV_BIN / "madoguchi"), *argv], capture_output=True, text=True, timeout=300,
        check=False, env=env, cwd="/",
    )


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory, releases: ReleaseSet) -> Iterator[Hosts]:
    work = tmp_path_factory.mktemp("two-hosts")
    (work / "publish.token").write_text(TOKEN + "\n")
    shared = work / "shared-updates"  # the one directory both hosts mount
    pki.init_server_pki(work / "a" / "pki")
    shutil.copytree(work / "a" / "pki", work / "b" / "pki")  # one CA, each host its own copy
    args = ("--update-keys", str(releases.public_key), "--publish-token-file",
            str(work / "publish.token"), "--updates-dir", str(shared))
    with PgCluster() as cluster:  # its own directory, which the postgres user may enter
        db = cluster.create_database("two_hosts")
        a = LocalServer(db, work / "a" / "pki", simulate=False, extra_args=args)
        b = LocalServer(db, work / "b" / "pki", simulate=False, extra_args=args, migrate=False)
        a.start()
        try:
            b.start()
            try:
                yield Hosts(a, b, work)
            finally:
                b.stop()
        finally:
            a.stop()


def _counter(host: LocalServer, keys: Path, tmp: Path, tls: Path, channel: str) -> dict[str, str]:
    config = tmp / "device.toml"
    config.write_text(
        f'[sync]\nserver_url = "{host.url}"\ntls_dir = "{tls}"\n'
        f'[update]\nchannel = "{channel}"\nroot = "{tmp / "root"}"\nkeys = "{keys}"\n'
    )
    return {**os.environ, "MADOGUCHI_CONFIG": str(config), "MADOGUCHI_STATE_DIR": str(tmp / "st")}


def test_published_on_one_host_served_and_seen_on_the_other(
    hosts: Hosts, releases: ReleaseSet, tmp_path: Path
) -> None:
    published = hosts.it(hosts.a, "publish", str(releases.bundles["1.1.0"]), "--channel", "stable",
                         "--pointer-key", str(releases.private_key))
    assert published.returncode == 0, published.stderr
    tls = tmp_path / "tls"
    hosts.a.enrol(tls, "counter-2h", office="131016")
    # the counter polls host B: the pointer IT signed through A, the bundle from B
    env = _counter(hosts.b, releases.public_key, tmp_path, tls, "stable")
    fetched = _madoguchi(env, "update", "fetch")
    assert fetched.returncode == 0, fetched.stderr
    bundle = Path(fetched.stdout.strip())
    assert bundle.read_bytes() == releases.bundles["1.1.0"].read_bytes()
    # its report went in through B; IT reads the fleet on A and on B alike
    on_a, on_b = hosts.fleet(hosts.a)["counter-2h"], hosts.fleet(hosts.b)["counter-2h"]
    assert on_a == on_b
    assert (on_a["state"], on_a["version"], on_a["channel"], on_a["office_code"]) == (
        "downloaded", "1.1.0", "stable", "131016")
    assert on_a["platform"] == str(Platform.running())
    assert on_a["last_contact"] is not None


def test_a_rollout_halted_through_one_host_is_halted_on_the_other(
    hosts: Hosts, releases: ReleaseSet, tmp_path: Path
) -> None:
    base = hosts.it(hosts.a, "publish", str(releases.bundles["1.1.0"]), "--channel", "staged",
                    "--pointer-key", str(releases.private_key))
    assert base.returncode == 0, base.stderr
    rollout = hosts.it_json(
        hosts.a, "rollout", "start", str(releases.bundles["1.2.0"]), "--channel", "staged",
        "--pointer-key", str(releases.private_key), "--office", "131016",
    )
    tls = tmp_path / "tls"
    hosts.b.enrol(tls, "counter-2r", office="131016")

    def offered(host: LocalServer) -> str:
        with device_http_client(tls, base_url=host.url, timeout_s=30) as client:
            here = Platform.running()
            answer = client.get(f"{UPDATES_PREFIX}/releases/staged/latest",
                                params={"machine": here.machine, "python": here.python})
        assert answer.status_code == 200, answer.text
        return str(json.loads(answer.json()["signed"])["version"])

    # the office is in the rollout: both hosts offer 1.2.0 (both had read the channel)
    assert (offered(hosts.a), offered(hosts.b)) == ("1.2.0", "1.2.0")
    halted = hosts.it_json(hosts.b, "rollout", "halt", str(rollout["rollout_id"]),
                           "--reason", "calls from the office")
    assert halted["state"] == "halted"
    # A sees it at once: no counter of the office is offered 1.2.0 any more, on any host
    assert hosts.rollouts(hosts.a)[rollout["rollout_id"]]["state"] == "halted"
    assert (offered(hosts.a), offered(hosts.b)) == ("1.1.0", "1.1.0")
    resumed = hosts.it_json(hosts.a, "rollout", "resume", str(rollout["rollout_id"]))
    assert resumed["state"] == "active"
    assert offered(hosts.b) == "1.2.0"


def test_nothing_about_updates_is_left_on_a_host_disk(hosts: Hosts) -> None:
    # every host keeps only its PKI; channels, pointers, keys and the fleet are rows
    for host in (hosts.a, hosts.b):
        state = host.pki_dir.parent
        left = {p.name for p in state.iterdir()}
        assert left == {"pki"}, left
    shared = hosts.work / "shared-updates"
    assert {p.name for p in shared.iterdir()} == {"bundles"}
    assert not [p for p in (shared / "bundles").iterdir() if not p.name.endswith(".bundle")]

