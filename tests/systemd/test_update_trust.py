"""The root updater under real systemd against the app user (issue 13, part 1).

One nspawn boot (the container tooling of ``test_nspawn.py``, its own driver
``nspawn/update_trust_driver.py``): the counter installs 1.0.0; IT publishes a
key list signed by its root key and 1.1.0 behind a signed channel pointer on a
``madoguchi update serve`` in the container. Then, as the app user ``madoguchi``,
everything issue 13 found is planted where the updater used to keep its state
(a traversal ``pending.json`` pointing at planted code, a ``bad-versions.json``
naming the next fixes, a symlink for every file root wrote, the update lock a
symlink) and ``madoguchi-update.service`` runs: nothing outside the updater's own
state is written, the planted code never runs, 1.1.0 installs. The server then
hands out a replayed and an expired pointer (refused, nothing installed), and
finally a fresh pointer to 1.2.0 — the security update the app user tried to
block — installs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_nspawn import (  # the container tooling, shared (one boot at a time, binds)
    BOOT_TIMEOUT_S,
    CONTAINER_SITE,
    _free_port,
    _interpreter_binds,
    _one_boot_at_a_time,
    sysconfig_purelib,
)

from madoguchi.bench.update import make_release_set
from updater.bundle import sha256_file
from updater.keys import load_private_key
from updater.trust import make_key_list, make_pointer

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TOKEN = "nspawn-trust-publish-token"
E2E = """[Unit]
Description=madoguchi updater trust scenarios (test only)
After=basic.target systemd-sysusers.service systemd-tmpfiles-setup.service

[Service]
Type=oneshot
ExecStart={python} {root}/tests/systemd/nspawn/update_trust_driver.py /out/results.json {port}
ExecStopPost=/bin/systemctl poweroff --no-block
TimeoutStartSec=400
"""


def _config(port: int) -> str:
    return f"""
[update]
root = "/opt/madoguchi"
keys = "/etc/madoguchi/update-keys"
server_url = "http://127.0.0.1:{port}"
channel = "stable"
units = []
health_timeout_s = 45
extra_site = "{CONTAINER_SITE}"
python = "/usr/bin/python3.11"
"""


def _signed_material(releases: Any, bundles: Path) -> None:
    """IT's side, done on its machine: the key list and the pointers the server misuses."""
    root = load_private_key(releases.private_key)
    pointer_key = Ed25519PrivateKey.generate()
    (bundles / "pointer.key").write_bytes(
        pointer_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_list = make_key_list(root, [(pointer_key.public_key(), ["pointer"])], serial=1)
    (bundles / "keys.json").write_text(json.dumps(key_list))

    def pointer(version: str, **kwargs: Any) -> dict[str, str]:
        bundle = releases.bundles[version]
        return make_pointer(
            pointer_key,
            channel="stable",
            version=version,
            bundle=bundle.name,
            size=bundle.stat().st_size,
            sha256=sha256_file(bundle),
            **kwargs,
        )

    # an old answer (a serial below the one the counter accepted), replayed
    (bundles / "pointer-replayed.json").write_text(
        json.dumps(pointer("1.0.0", valid_for=timedelta(days=30), serial=100))
    )
    # an answer with the highest serial but past its expiry
    yesterday = datetime.now(UTC) - timedelta(days=2)
    far = int(time.time() * 1000) + 10**9
    (bundles / "pointer-expired.json").write_text(
        json.dumps(pointer("1.1.0", valid_for=timedelta(days=1), serial=far, now=yesterday))
    )


@pytest.fixture(scope="module")
def boot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("nspawn-trust")
    releases = make_release_set(work / "releases", ("1.0.0", "1.1.0", "1.2.0"))
    port = _free_port()
    etc = work / "etc"
    system = etc / "systemd" / "system"
    system.mkdir(parents=True)
    for unit in ("madoguchi-update.service", "madoguchi-update.timer"):
        shutil.copy(ROOT / "systemd" / unit, system / unit)
    (system / "madoguchi-trust-e2e.service").write_text(
        E2E.format(python=sys.executable, root=ROOT, port=port)
    )
    config = etc / "madoguchi"
    (config / "update-keys").mkdir(parents=True)
    shutil.copy(releases.public_key, config / "update-keys" / "it.pem")  # the root key
    (config / "publish.token").write_text(TOKEN + "\n")
    (config / "madoguchi.toml").write_text(_config(port))
    (etc / "systemd" / "system-preset").mkdir()
    (etc / "systemd" / "system-preset" / "00-madoguchi-test.preset").write_text(
        "disable madoguchi-*\n"
    )
    (etc / "sysusers.d").mkdir()
    shutil.copy(ROOT / "systemd" / "madoguchi.sysusers.conf", etc / "sysusers.d" / "madoguchi.conf")
    (etc / "tmpfiles.d").mkdir()
    shutil.copy(ROOT / "systemd" / "madoguchi.tmpfiles.conf", etc / "tmpfiles.d" / "madoguchi.conf")
    bundles = work / "bundles"
    bundles.mkdir()
    for bundle in releases.bundles.values():
        shutil.copy(bundle, bundles)
    _signed_material(releases, bundles)
    out = work / "out"
    out.mkdir()
    with _one_boot_at_a_time():
        console = subprocess.run(
            [
                "timeout",
                "--kill-after=10",
                str(BOOT_TIMEOUT_S),
                "systemd-nspawn",
                "-D",
                "/",
                "--volatile=yes",
                "-b",
                "--register=no",
                "--keep-unit",
                f"--machine=madoguchi-trust-{port}",
                "-q",
                f"--bind-ro={ROOT}",
                f"--bind-ro={sysconfig_purelib()}:{CONTAINER_SITE}",
                *_interpreter_binds(),
                f"--bind={out}:/out",
                f"--bind-ro={bundles}:/bundles",
                f"--bind={system}:/etc/systemd/system",
                f"--bind-ro={config}:/etc/madoguchi",
                f"--bind-ro={etc / 'systemd' / 'system-preset'}:/etc/systemd/system-preset",
                f"--bind-ro={etc / 'sysusers.d'}:/etc/sysusers.d",
                f"--bind-ro={etc / 'tmpfiles.d'}:/etc/tmpfiles.d",
                "systemd.firstboot=off",
                "systemd.wants=madoguchi-trust-e2e.service",
            ],
            capture_output=True,
            text=True,
            timeout=BOOT_TIMEOUT_S + 30,
            check=False,
        )
    results_file = out / "results.json"
    results: dict[str, Any] = json.loads(results_file.read_text()) if results_file.exists() else {}
    results["_console"] = console.stdout[-3000:] + console.stderr[-3000:]
    return results


def _scenario(boot: dict[str, Any], name: str) -> dict[str, Any]:
    assert name in boot, f"scenario {name} did not run; console:\n{boot['_console']}"
    result: dict[str, Any] = boot[name]
    assert result["ok"], f"{result.get('error')}\njournal:\n{boot.get('journal')}"
    return result


def test_the_updater_keeps_its_state_where_only_root_can_write(boot: dict[str, Any]) -> None:
    install = _scenario(boot, "install")
    assert install["apply"]["rc"] == 0, install
    assert (install["own_dir_mode"], install["own_dir_uid"]) == ("0o700", 0)
    assert install["publish"]["rc"] == 0, install["publish"]
    planted = json.loads(_scenario(boot, "planted")["planted"]["out"])
    # the app user cannot put anything into it
    assert set(planted["own_dir"].values()) == {"PermissionError"}, planted


def test_nothing_the_app_user_planted_is_followed_or_run(boot: dict[str, Any]) -> None:
    planted = _scenario(boot, "planted")
    why = json.dumps(planted, indent=1)[-6000:]
    assert planted["planted"]["rc"] == 0, why
    assert planted["start"]["rc"] == 0, why
    # no planted link was followed, the planted code never ran (as root or at all)
    assert planted["traps"] == [], why
    assert planted["current"] == "versions/1.1.0", why
    assert planted["status"]["state"] == "committed", why
    # the lock link was replaced by a plain file; root made nothing else in the app's dir
    assert not planted["lock_is_link"], why
    assert planted["root_owned_in_app_dir"] in ([], ["/var/lib/madoguchi/update.lock"]), why


@pytest.mark.parametrize("name", ["replayed", "expired"])
def test_a_replayed_or_expired_pointer_is_refused(boot: dict[str, Any], name: str) -> None:
    refused = _scenario(boot, name)
    why = json.dumps(refused, indent=1)[-6000:]
    assert refused["start"]["rc"] != 0, why
    assert refused["status"]["state"] == "failed", why
    assert refused["status"]["reason"] == name, why
    assert refused["current"] == "versions/1.1.0", why
    assert refused["traps"] == [], why


def test_the_security_update_still_installs(boot: dict[str, Any]) -> None:
    update = _scenario(boot, "security_update")
    why = json.dumps(update, indent=1)[-6000:]
    assert update["publish"]["rc"] == 0, why
    assert update["start"]["rc"] == 0, why
    assert update["current"] == "versions/1.2.0", why
    assert update["status"]["state"] == "committed", why
    assert update["traps"] == [], why
    assert update["root_owned_in_app_dir"] in ([], ["/var/lib/madoguchi/update.lock"]), why
