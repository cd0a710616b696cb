"""Apply, commit, automatic rollback on a failed health check, rollback on request, the lock."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from update_helpers import snapshot

from madoguchi.bench.update import ReleaseSet
from updater.bundle import build_bundle, verify_bundle
from updater.engine import Updater
from updater.errors import (
    BundleRejectedError,
    InstallError,
    NothingToDoError,
    UpdateLockedError,
)
from updater.keys import load_private_key
from updater.layout import MARKER


def test_apply_installs_switches_and_commits(updater: Updater, releases: ReleaseSet) -> None:
    result = updater.apply(releases.bundles["1.1.0"])
    assert (result.state, result.version, result.previous) == ("committed", "1.1.0", "1.0.0")
    tree = updater.tree
    assert tree.current_version() == "1.1.0"
    assert tree.previous_version() == "1.0.0"
    assert (tree.current_link.readlink()).as_posix() == "versions/1.1.0"
    assert updater.status.read_pending() is None
    status = updater.status.read()
    assert status["state"] == "committed"
    assert status["running"] == "1.1.0"
    # the new version really is the one that runs: its own interpreter reports its version
    out = subprocess.run(
        [
            str(tree.current_link / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('madoguchi'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout.strip()
    assert out == "1.1.0"
    # the wheelhouse is not kept; the manifest and marker are
    version_dir = tree.version_dir("1.1.0")
    assert not (version_dir / "wheelhouse").exists()
    assert json.loads((version_dir / MARKER).read_text())["version"] == "1.1.0"
    states = [r["state"] for r in updater.status.pending_reports()]
    assert states[-2:] == ["installed", "committed"]


def test_failing_health_check_rolls_back_by_itself(updater: Updater, releases: ReleaseSet) -> None:
    result = updater.apply(releases.bundles["1.3.0"])  # its self-test fails at import
    assert result.state == "rolled_back"
    assert result.previous == "1.0.0"
    assert "health check failed" in result.reason
    assert "exited" in result.reason
    assert updater.tree.current_version() == "1.0.0"
    status = updater.status.read()
    assert status["state"] == "rolled_back"
    assert status["reason"] == "health-check-failed"
    assert "deliberately broken" in status["detail"] or "exited" in status["detail"]
    assert "1.3.0" in updater.status.bad_versions()
    assert updater.status.read_pending() is None
    # the device is healthy again on the old version
    subprocess.run(
        [str(updater.tree.current_link / "bin" / "madoguchi"), "update", "selftest"],
        check=True,
        capture_output=True,
    )


def test_rollback_on_request_and_then_nothing_left(updater: Updater, releases: ReleaseSet) -> None:
    updater.apply(releases.bundles["1.1.0"])
    result = updater.rollback()
    assert (result.version, result.previous) == ("1.1.0", "1.0.0")
    assert updater.tree.current_version() == "1.0.0"
    assert "1.1.0" in updater.status.bad_versions()
    with pytest.raises(NothingToDoError):
        updater.rollback()


def test_signed_rollback_allowance(updater: Updater, releases: ReleaseSet, tmp_path: Path) -> None:
    updater.apply(releases.bundles["1.2.0"])
    # IT re-signs 1.0.0's payload with an explicit allowance to replace 1.2.0
    original = verify_bundle(releases.bundles["1.0.0"], updater.trusted_keys, None)
    payload_dir = tmp_path / "payload"
    from updater.bundle import extract_payload

    files = extract_payload(original, payload_dir)
    allowed = build_bundle(
        version="1.0.0",
        payload=files,
        signing_key=load_private_key(releases.private_key),
        out_dir=tmp_path / "out",
        requirements=original.manifest.requirements,
        no_deps=original.manifest.no_deps,
        downgrade_from=["1.2.0"],
    )
    result = updater.apply(allowed)
    assert result.state == "committed"
    assert updater.tree.current_version() == "1.0.0"
    # ...and that allowance is no blanket permission: from 1.1.0 it would be refused
    with pytest.raises(BundleRejectedError) as info:
        verify_bundle(allowed, updater.trusted_keys, "1.1.0")
    assert info.value.reason == "downgrade"


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from updater.lock import transaction_guard
    with transaction_guard(Path(sys.argv[1])):
        print("holding", flush=True)
        sys.stdin.readline()
    """
)


def test_open_transaction_defers_the_update_and_nothing_changes(
    updater: Updater, releases: ReleaseSet, fresh_root: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(updater.state_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "holding"
        before = snapshot(fresh_root)
        with pytest.raises(UpdateLockedError):
            updater.apply(releases.bundles["1.1.0"])
        assert snapshot(fresh_root) == before
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
    assert updater.apply(releases.bundles["1.1.0"]).state == "committed"


def test_old_versions_are_collected(updater: Updater, releases: ReleaseSet) -> None:
    updater.keep_versions = 2
    updater.apply(releases.bundles["1.1.0"])
    updater.apply(releases.bundles["1.2.0"])
    assert sorted(updater.tree.installed_versions()) == ["1.1.0", "1.2.0"]
    assert updater.tree.previous_version() == "1.1.0"


def test_a_failing_install_leaves_the_running_version(
    updater: Updater, releases: ReleaseSet, tmp_path: Path, fresh_root: Path
) -> None:
    # A correctly signed bundle whose requirement its own wheelhouse cannot satisfy.
    original = verify_bundle(releases.bundles["1.1.0"], updater.trusted_keys, None)
    from updater.bundle import extract_payload

    files = extract_payload(original, tmp_path / "payload")
    unsatisfiable = build_bundle(
        version="1.4.0",
        payload=files,
        signing_key=load_private_key(releases.private_key),
        out_dir=tmp_path / "out",
        requirements=["madoguchi==1.4.0"],
        no_deps=True,
    )
    before = snapshot(fresh_root)
    with pytest.raises(InstallError, match="pip install failed"):
        updater.apply(unsatisfiable)
    assert snapshot(fresh_root) == before
    status = updater.status.read()
    assert status["state"] == "failed"
    assert status["reason"] == "install-failed"
    assert updater.status.read_pending() is None
