"""Bundles know their platform: the manifest records the machine and CPython ABI of the
payload's wheels, and a counter refuses a bundle for another platform before it writes
anything — with the reason in one sentence and the install tree as it was.

The bundles are real and signed by "IT" (``build_bundle``); the foreign ones carry a wheel
whose tags say another machine or Python, as ``pip wheel`` on that platform names it
(lgpio, which only has an sdist, is built on the Pi as ``linux_aarch64``).
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import pytest
from update_helpers import snapshot

from madoguchi.bench.update import ReleaseSet
from updater.bundle import build_bundle, verify_bundle
from updater.engine import Updater
from updater.errors import BundleRejectedError
from updater.keys import load_private_key, load_public_keys
from updater.lockfile import TARGETS, lock_for, running_target
from updater.manifest import ANY, Manifest, Platform

ROOT = Path(__file__).resolve().parents[2]
HERE = Platform.running()
OTHER_MACHINE = "aarch64" if HERE.machine != "aarch64" else "x86_64"
ABI = f"cp{sys.version_info[0]}{sys.version_info[1]}"
OTHER_WHEEL = f"pyscard-2.3.1-{ABI}-{ABI}-manylinux_2_17_{OTHER_MACHINE}.whl"


def _wheel(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_bytes(b"not installed: the platform is refused before pip runs\n")
    return path


def _bundle(tmp_path: Path, releases: ReleaseSet, version: str, *wheels: str) -> Path:
    payload_dir = tmp_path / f"payload-{version}"
    payload_dir.mkdir()
    payload = [_wheel(payload_dir, name) for name in wheels]
    return build_bundle(
        version=version,
        payload=payload,
        signing_key=load_private_key(releases.private_key),
        out_dir=tmp_path / "bundles",
        requirements=[f"madoguchi=={version}"],
    )


def _manifest(bundle: Path) -> dict[str, object]:
    import tarfile

    with tarfile.open(bundle) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        data: dict[str, object] = json.loads(member.read())
    return data


def test_the_platform_is_read_from_the_wheel_tags() -> None:
    assert Platform.of_wheels(
        [
            "madoguchi-1.0.0-py3-none-any.whl",
            "pip-24.0-py3-none-any.whl",
            "pyscard-2.3.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "cryptography-44.0.0-cp39-abi3-manylinux_2_34_x86_64.whl",
        ]
    ) == Platform("x86_64", "cp311")
    assert Platform.of_wheels(
        ["lgpio-0.2.2.0-cp311-cp311-linux_aarch64.whl", "textual-8.0.0-py3-none-any.whl"]
    ) == Platform("aarch64", "cp311")
    # app-only: nothing binds it
    assert Platform.of_wheels(["madoguchi-1.0.0-py3-none-any.whl"]) == Platform(ANY, ANY)


def test_a_wheelhouse_that_mixes_platforms_is_refused_before_signing(
    tmp_path: Path, releases: ReleaseSet
) -> None:
    with pytest.raises(BundleRejectedError) as caught:
        _bundle(
            tmp_path, releases, "4.0.0",
            "pyscard-2.3.1-cp311-cp311-manylinux_2_17_x86_64.whl",
            "lgpio-0.2.2.0-cp311-cp311-linux_aarch64.whl",
        )  # fmt: skip
    assert caught.value.reason == "mixed-platform"
    assert "aarch64" in str(caught.value)
    assert not (tmp_path / "bundles").exists()


def test_the_manifest_records_the_platform_and_it_round_trips(
    tmp_path: Path, releases: ReleaseSet
) -> None:
    bundle = _bundle(
        tmp_path, releases, "4.0.0",
        "madoguchi-4.0.0-py3-none-any.whl",
        f"pyscard-2.3.1-{ABI}-{ABI}-manylinux_2_17_{OTHER_MACHINE}.whl",
    )  # fmt: skip
    assert _manifest(bundle)["platform"] == {"machine": OTHER_MACHINE, "python": ABI}
    # the signed bytes parse back to the same platform on the device
    manifest = Manifest.from_json(
        Manifest(
            version="4.0.0", files={}, requirements=(), platform=Platform(OTHER_MACHINE, ABI)
        ).to_json()
    )
    assert manifest.platform == Platform(OTHER_MACHINE, ABI)
    # the server keeps bundles for every platform: it verifies without one
    assert verify_bundle(bundle, load_public_keys(releases.public_key), None).manifest.platform


def test_a_bad_platform_field_does_not_parse() -> None:
    good = json.loads(Manifest(version="4.0.0", files={}, requirements=()).to_json())
    for bad in (
        {"machine": "x86_64"},
        {"machine": "../x", "python": ABI},
        {"machine": 1, "python": ABI},
    ):
        with pytest.raises(BundleRejectedError) as caught:
            Manifest.from_json(json.dumps({**good, "platform": bad}).encode())
        assert caught.value.reason == "malformed"


@pytest.mark.parametrize(
    ("wheel", "why"),
    [
        (
            f"pyscard-2.3.1-{ABI}-{ABI}-manylinux_2_17_{OTHER_MACHINE}.whl",
            f"machine {OTHER_MACHINE}",
        ),
        (f"pyscard-2.3.1-cp399-cp399-manylinux_2_17_{HERE.machine}.whl", "Python cp399"),
    ],
)
def test_a_counter_refuses_a_bundle_for_another_platform_and_writes_nothing(
    updater: Updater, fresh_root: Path, tmp_path: Path, releases: ReleaseSet, wheel: str, why: str
) -> None:
    bundle = _bundle(tmp_path, releases, "4.0.0", "madoguchi-4.0.0-py3-none-any.whl", wheel)
    before = snapshot(fresh_root)
    with pytest.raises(BundleRejectedError) as caught:
        updater.apply(bundle)
    assert caught.value.reason == "wrong-platform"
    message = str(caught.value)
    assert why in message, message
    assert f"this counter is {HERE}" in message
    assert snapshot(fresh_root) == before  # no version directory, current untouched
    assert updater.tree.current_version() == "1.0.0"
    status = updater.status.read()
    assert status["state"] == "failed", status
    assert status["reason"] == "wrong-platform"


def test_a_bundle_for_this_platform_passes_the_check(tmp_path: Path, releases: ReleaseSet) -> None:
    bundle = _bundle(
        tmp_path, releases, "4.0.0",
        "madoguchi-4.0.0-py3-none-any.whl",
        f"pyscard-2.3.1-{ABI}-{ABI}-manylinux_2_17_{platform.machine()}.whl",
    )  # fmt: skip
    verified = verify_bundle(bundle, load_public_keys(releases.public_key), "1.0.0", HERE)
    assert verified.manifest.platform == HERE


def test_a_manifest_from_before_platforms_is_taken_only_when_app_only() -> None:
    old = Manifest(version="4.0.0", files={}, requirements=(), no_deps=True)
    old.check_platform(HERE)
    full = Manifest(version="4.0.0", files={}, requirements=(), no_deps=False)
    with pytest.raises(BundleRejectedError) as caught:
        full.check_platform(HERE)
    assert caught.value.reason == "wrong-platform"
    assert "does not say which platform" in str(caught.value)


def test_bundles_are_built_from_the_lock_of_their_platform() -> None:
    # `madoguchi update build --locked` on the counters' platform takes this lock
    target = running_target("counter")
    if target.filename in {t.filename for t in TARGETS}:
        assert lock_for(ROOT, target).name == f"counter-{ABI}-{HERE.machine}.txt"
    else:
        with pytest.raises(FileNotFoundError, match="no lock for"):
            lock_for(ROOT, target)
