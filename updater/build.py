"""Building a release on IT's machine: the app wheel, its locked wheelhouse, the bundle.

The app wheel is built from a clean copy of the source tree with the release
version stamped into ``pyproject.toml`` (so the repository is never written),
and the dependencies come from a pinned requirements file (``pip wheel`` of
exactly that set, hashes recorded by the manifest). An *app-only* bundle (no
requirements file) carries just the app wheel and installs it ``--no-deps``;
it is meant for tests and for hot-fixes that change no dependency.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from updater.bundle import build_bundle
from updater.errors import InstallError
from updater.manifest import parse_version

__all__ = ["SOURCE_IGNORE", "build_app_wheel", "build_release", "build_wheelhouse"]

#: What never goes from a source tree into a build.
SOURCE_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".run",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "node_modules",
)
#: Where Debian keeps the pip wheel python3-venv uses (a fallback source for pip).
SYSTEM_WHEELS = Path("/usr/share/python-wheels")


def _pip(*args: str) -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed pip arguments
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise InstallError(f"pip {args[0]} failed: {tail}")


def build_app_wheel(source: Path, version: str, out_dir: Path) -> Path:
    """Build the app wheel of ``version`` from a stamped copy of ``source``."""
    parse_version(version)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="madoguchi-build-") as tmp:
        tree = Path(tmp) / "src"
        shutil.copytree(source, tree, ignore=SOURCE_IGNORE, symlinks=True)
        pyproject = tree / "pyproject.toml"
        text, count = re.subn(
            r'(?m)^version\s*=\s*"[^"]*"', f'version = "{version}"', pyproject.read_text(), count=1
        )
        if count != 1:
            raise InstallError("pyproject.toml has no [project] version line to stamp")
        pyproject.write_text(text)
        _pip("wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out_dir), str(tree))
    wheels = sorted(out_dir.glob(f"madoguchi-{version}-*.whl"))
    if not wheels:
        raise InstallError(f"no wheel for madoguchi {version} was built")
    return wheels[-1]


def build_wheelhouse(requirements: Path, out_dir: Path) -> list[Path]:
    """Wheels for exactly the pinned set in ``requirements`` (builds sdists such as pyscard)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _pip("wheel", "--quiet", "-r", str(requirements), "-w", str(out_dir))
    return sorted(out_dir.glob("*.whl"))


def _pip_wheel(out_dir: Path) -> Path | None:
    for candidate in sorted(SYSTEM_WHEELS.glob("pip-*.whl")):
        target = out_dir / candidate.name
        shutil.copy2(candidate, target)
        return target
    return None


def build_release(
    *,
    source: Path,
    version: str,
    signing_key: Ed25519PrivateKey,
    out_dir: Path,
    requirements: Path | None = None,
    downgrade_from: Iterable[str] = (),
    notes: str = "",
) -> Path:
    """Build and sign ``madoguchi-<version>.bundle`` in ``out_dir``; returns its path."""
    with tempfile.TemporaryDirectory(prefix="madoguchi-wheels-") as tmp:
        wheelhouse = Path(tmp)
        payload = [build_app_wheel(source, version, wheelhouse)]
        if requirements is not None:
            payload += [p for p in build_wheelhouse(requirements, wheelhouse) if p not in payload]
        # pip travels with every bundle: the device installs with it and keeps it for the next one
        if not any(p.name.startswith("pip-") for p in payload):
            pip = _pip_wheel(wheelhouse)
            payload += [pip] if pip else []
        return build_bundle(
            version=version,
            payload=payload,
            signing_key=signing_key,
            out_dir=out_dir,
            requirements=[f"madoguchi=={version}"],
            no_deps=requirements is None,
            downgrade_from=downgrade_from,
            notes=notes,
        )
