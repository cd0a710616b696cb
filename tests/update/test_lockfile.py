"""The hashed lock files in locks/ match pyproject.toml (scripts/lock rewrites them).

The first test is the guard: it fails as soon as a dependency is added, removed or
its range changed in pyproject.toml without ``scripts/lock`` having been run. The
others show the check can fail, on copies of the tree with a dependency changed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from updater.lockfile import TARGETS, LockTarget, check_locks, inputs_digest, read_pins

ROOT = Path(__file__).resolve().parents[2]


def test_the_locks_match_pyproject() -> None:
    problems = check_locks(ROOT)
    assert problems == [], "\n".join(problems)


def test_every_shipped_target_has_a_fully_hashed_lock() -> None:
    names = {t.filename for t in TARGETS}
    assert names == {
        "counter-cp311-aarch64.txt",
        "counter-cp311-x86_64.txt",
        "server-cp311-x86_64.txt",
    }
    for target in TARGETS:
        pins = read_pins(ROOT / "locks" / target.filename)
        assert "pyscard" in pins
        assert "textual" in pins
        assert all(hashes > 0 for _, hashes in pins.values())
        # the Pi's pin factory only where the marker says so; the server alone has starlette
        assert ("lgpio" in pins) == (target.machine == "aarch64")
        assert ("starlette" in pins) == (target.role == "server")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "locks", tmp_path / "locks")
    return tmp_path


def _edit(tree: Path, old: str, new: str) -> None:
    pyproject = tree / "pyproject.toml"
    text = pyproject.read_text()
    assert old in text
    pyproject.write_text(text.replace(old, new, 1))


def test_a_new_dependency_is_caught(tree: Path) -> None:
    # a package no lock holds, not even as another's dependency
    _edit(tree, '"httpx>=0.27",', '"httpx>=0.27",\n    "tomli-w>=1.0",')
    problems = check_locks(tree)
    # every lock: resolved from other inputs, and the new package is not pinned
    assert sum("run scripts/lock" in p for p in problems) == len(TARGETS)
    assert sum("does not pin tomli-w" in p for p in problems) == len(TARGETS)


def test_a_server_extra_touches_only_the_server_lock(tree: Path) -> None:
    _edit(tree, '"uvicorn>=0.29",', '"uvicorn>=0.29",\n    "orjson>=3.9",')
    problems = check_locks(tree)
    assert problems
    assert all("server-cp311-x86_64.txt" in p for p in problems), problems


def test_a_raised_lower_bound_the_pin_misses_is_named(tree: Path) -> None:
    _edit(tree, '"httpx>=0.27",', '"httpx>=99",')
    problems = check_locks(tree)
    assert any("pins httpx==" in p and "outside >=99" in p for p in problems), problems


def test_a_hand_edit_that_drops_hashes_is_caught(tree: Path) -> None:
    lock = tree / "locks" / "counter-cp311-x86_64.txt"
    lines = lock.read_text().splitlines()
    kept = [line for line in lines if "--hash=" not in line or "textual" in line]
    lock.write_text("\n".join(kept) + "\n")
    assert any("has no hash" in p for p in check_locks(tree))


def test_the_digest_depends_on_the_platform() -> None:
    digests = {inputs_digest(ROOT, t) for t in TARGETS}
    assert len(digests) == len(TARGETS)
    assert inputs_digest(ROOT, LockTarget("counter", "aarch64", "3.12")) not in digests
