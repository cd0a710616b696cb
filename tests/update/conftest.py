"""Fixtures for the updater tests: real signed bundles of this source tree, real installs.

Bundles are built once per session (app wheel + pip; installed against this
venv's site-packages through ``extra_site``). Installing 1.0.0 takes seconds,
so it is done once into a fixed path and copied back before each test that
changes the tree — a virtualenv only works at the path it was made at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from update_helpers import EXTRA_SITE, update_dir

from madoguchi.bench.update import ReleaseSet, make_release_set
from updater.engine import Updater
from updater.health import HealthCheck
from updater.keys import load_public_keys
from updater.layout import InstallTree
from updater.status import StatusStore


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> ReleaseSet:
    """1.0.0, 1.1.0, 1.2.0 (good) and 1.3.0 (its self-test fails), signed by "IT"."""
    return make_release_set(
        tmp_path_factory.mktemp("releases"), ("1.0.0", "1.1.0", "1.2.0"), broken=("1.3.0",)
    )


def make_updater(root: Path, state: Path, releases: ReleaseSet) -> Updater:
    return Updater(
        tree=InstallTree(root),
        status=StatusStore(update_dir(state)),
        state_dir=state,
        trusted_keys=load_public_keys(releases.public_key),
        health=HealthCheck(timeout_s=60, settle_s=0),
        extra_site=EXTRA_SITE,
    )


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory, releases: ReleaseSet) -> tuple[Path, Path]:
    """(live path, pristine copy) of a tree with 1.0.0 installed and committed."""
    base = tmp_path_factory.mktemp("tree")
    live, state = base / "root", base / "state"
    make_updater(live, state, releases).apply(releases.bundles["1.0.0"])
    copy = base / "pristine"
    shutil.copytree(live, copy, symlinks=True)
    return live, copy


@pytest.fixture
def fresh_root(pristine: tuple[Path, Path]) -> Iterator[Path]:
    """The install root, reset to "1.0.0 installed" for this test."""
    live, copy = pristine
    shutil.rmtree(live, ignore_errors=True)
    shutil.copytree(copy, live, symlinks=True)
    return live


@pytest.fixture
def updater(fresh_root: Path, _private_state: Path, releases: ReleaseSet) -> Updater:
    return make_updater(fresh_root, _private_state, releases)


@pytest.fixture
def state(_private_state: Path) -> Path:
    """This test's private state directory (``$MADOGUCHI_STATE_DIR``)."""
    return _private_state
