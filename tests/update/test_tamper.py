"""Every tamper case is refused with its reason, and the install tree is left exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from update_helpers import snapshot

from madoguchi.bench.update import ReleaseSet, tamper_cases
from updater.bundle import verify_bundle
from updater.engine import Updater
from updater.errors import BundleRejectedError
from updater.keys import load_public_keys

#: (case name, bundle path, expected refusal reason)
Case = tuple[str, Path, str]


@pytest.fixture(scope="module")
def cases(releases: ReleaseSet, tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    # Against a device running 1.1.0: 1.2.0 is the genuine newer bundle to tamper with.
    return tamper_cases(
        releases.bundles["1.2.0"],
        releases.bundles["1.0.0"],
        releases.wrong_private_key,
        tmp_path_factory.mktemp("tamper"),
    )


def test_the_tamper_set_covers_every_required_case(cases: list[Case]) -> None:
    reasons = {reason for _, _, reason in cases}
    assert {
        "hash-mismatch",
        "bad-signature",
        "missing-file",
        "extra-file",
        "downgrade",
        "truncated",
        "unsigned",
        "malformed",
    } <= reasons
    # a flipped byte in every file of the bundle (manifest, signature, app wheel, pip wheel),
    # at its start, middle and end
    flipped = [name for name, _, _ in cases if name.startswith("flipped byte (")]
    assert len(flipped) == 3 * 4
    for member in ("manifest.json", "manifest.sig", "payload/madoguchi-1.2.0", "payload/pip-"):
        assert any(member in name for name in flipped), member


def test_every_tamper_case_is_rejected_and_nothing_changes(
    updater: Updater,
    releases: ReleaseSet,
    cases: list[Case],
    fresh_root: Path,
) -> None:
    assert updater.apply(releases.bundles["1.1.0"]).state == "committed"
    before = snapshot(fresh_root)
    for name, path, reason in cases:
        with pytest.raises(BundleRejectedError) as info:
            updater.apply(path)
        assert info.value.reason == reason, f"{name}: {info.value}"
        assert snapshot(fresh_root) == before, f"{name} changed the install tree"
        status = updater.status.read()
        assert status["state"] == "failed", name
        assert status["reason"] == reason, name
    assert updater.tree.current_version() == "1.1.0"


def test_replayed_current_bundle_is_refused(updater: Updater, releases: ReleaseSet) -> None:
    with pytest.raises(BundleRejectedError) as info:
        updater.apply(releases.bundles["1.0.0"])
    assert info.value.reason == "already-installed"


def test_device_without_keys_refuses_everything(updater: Updater, releases: ReleaseSet) -> None:
    updater.trusted_keys = {}
    with pytest.raises(BundleRejectedError) as info:
        updater.apply(releases.bundles["1.1.0"])
    assert info.value.reason == "unsigned"


@pytest.fixture(scope="module")
def genuine(releases: ReleaseSet) -> bytes:
    return releases.bundles["1.2.0"].read_bytes()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_any_flipped_bit_anywhere_is_refused(
    genuine: bytes, scratch: Path, releases: ReleaseSet, where: float, bit: int
) -> None:
    data = bytearray(genuine)
    data[int(where * len(data))] ^= 1 << bit
    path = scratch / "fuzz.bundle"
    path.write_bytes(data)
    with pytest.raises(BundleRejectedError):
        verify_bundle(path, load_public_keys(releases.public_key), "1.1.0")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(where=st.floats(0, 1, exclude_max=True))
def test_any_truncation_is_refused(
    genuine: bytes, scratch: Path, releases: ReleaseSet, where: float
) -> None:
    path = scratch / "cut.bundle"
    path.write_bytes(genuine[: int(where * len(genuine))])
    with pytest.raises(BundleRejectedError):
        verify_bundle(path, load_public_keys(releases.public_key), "1.1.0")
