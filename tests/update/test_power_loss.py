"""Power loss (kill -9 of the whole installer process group) at every step of an install.

The installer prints each step as it starts (``apply --progress``); the test kills
it the moment a step begins, then runs what boot would run (``update recover``)
and checks the tree is consistent and bootable: ``current`` names a complete
version whose own self-test passes, no half-written directory is left, no
install is left pending, and an interrupted install can simply be retried.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from update_helpers import DEV_BIN, EXTRA_SITE, update_dir

from madoguchi.bench.update import ReleaseSet
from updater.layout import InstallTree
from updater.status import StatusStore

# "restart" is left out: with no units configured it is the same point as "check".
STEPS = ("verify", "extract", "venv", "pip", "finish", "switch", "check", "commit", "rollback")
BEFORE_SWITCH = {"verify", "extract", "venv", "pip", "finish", "switch"}


def _env(tmp_path: Path, root: Path, state: Path, releases: ReleaseSet) -> dict[str, str]:
    config = tmp_path / "madoguchi.toml"
    config.write_text(
        f'[update]\nroot = "{root}"\nkeys = "{releases.public_key}"\nunits = []\n'
        f'extra_site = "{EXTRA_SITE}"\nhealth_timeout_s = 60\n'
    )
    return {**os.environ, "MADOGUCHI_CONFIG": str(config), "MADOGUCHI_STATE_DIR": str(state)}


def _madoguchi(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEV_BIN / "madoguchi"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
    )


@pytest.mark.parametrize("step", STEPS)
def test_kill_at_each_step_leaves_a_bootable_consistent_tree(
    step: str, fresh_root: Path, state: Path, releases: ReleaseSet, tmp_path: Path
) -> None:
    env = _env(tmp_path, fresh_root, state, releases)
    installer = subprocess.Popen(
        [
            str(DEV_BIN / "madoguchi"),
            "update",
            "apply",
            "--progress",
            # the rollback step only happens for a release whose health check fails
            str(releases.bundles["1.3.0" if step == "rollback" else "1.1.0"]),
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
        start_new_session=True,
    )
    assert installer.stdout is not None
    seen = []
    for line in installer.stdout:
        seen.append(line.strip())
        if line.strip() == f"step {step}":
            os.killpg(installer.pid, signal.SIGKILL)  # the power goes, pip and all
            break
    installer.wait(30)
    assert installer.returncode == -signal.SIGKILL, seen

    recovered = _madoguchi(env, "update", "recover")
    assert recovered.returncode == 0, recovered.stderr

    tree = InstallTree(fresh_root)
    current = tree.current_version()
    assert current in ("1.0.0", "1.1.0")
    assert tree.incomplete_dirs() == []
    assert StatusStore(update_dir(state)).read_pending() is None
    booted = subprocess.run(
        [str(fresh_root / "current" / "bin" / "madoguchi"), "update", "selftest"],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
    )
    assert booted.returncode == 0, booted.stderr
    status = StatusStore(update_dir(state)).read()
    if step == "verify":  # nothing was written yet, so there is nothing to report
        assert current == "1.0.0"
        assert status["state"] == "idle"
    elif step == "rollback":  # recovery finished going back
        assert current == "1.0.0"
        assert status["state"] == "rolled_back"
        assert "1.3.0" in StatusStore(update_dir(state)).bad_versions()
    elif step in BEFORE_SWITCH:
        assert current == "1.0.0"
        assert status["state"] == "failed"
        assert status["reason"] == "interrupted"
    else:  # switched: recovery re-ran the health check and committed
        assert current == "1.1.0"
        assert status["state"] == "committed"

    if step == "pip":
        again = _madoguchi(env, "update", "apply", str(releases.bundles["1.1.0"]))
        assert again.returncode == 0, again.stderr
        assert tree.current_version() == "1.1.0"
