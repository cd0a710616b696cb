"""Writing a verified bundle into a new version directory.

Steps (each reported to ``progress`` before it starts, so tests can cut power
at every one): ``extract`` the wheelhouse, create the ``venv``, ``pip`` install
from the wheelhouse only (no index, no network), ``finish`` by writing the
release marker. The directory is ``versions/<version>`` from the start — a
virtualenv cannot be moved after creation, its scripts name their interpreter
by absolute path — and it counts as installed only once the marker exists.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from updater.bundle import VerifiedBundle, extract_payload
from updater.errors import InstallError
from updater.layout import InstallTree
from updater.manifest import MANIFEST_NAME

__all__ = ["Progress", "install_bundle"]

#: Called with a step name before the step runs.
Progress = Callable[[str], None]
_PIP_TIMEOUT_S = 900


def _base_python() -> str:
    # A venv made from inside a venv must start from the real interpreter.
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def _run(argv: list[str], what: str) -> None:
    try:
        result = subprocess.run(  # noqa: S603 - interpreter and pip paths we created
            argv, capture_output=True, text=True, check=False, timeout=_PIP_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"{what} failed: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise InstallError(f"{what} failed (exit {result.returncode}): {tail}")


def _pip_argv(target_python: Path, wheelhouse: Path) -> list[str]:
    # Prefer the pip wheel the bundle carries (run straight from the .whl, a
    # supported way to bootstrap pip); fall back to the running interpreter's pip.
    pip_wheels = sorted(wheelhouse.glob("pip-*.whl"))
    if pip_wheels:
        return [str(target_python), str(pip_wheels[-1] / "pip")]
    return [sys.executable, "-m", "pip", "--python", str(target_python)]


def install_bundle(
    bundle: VerifiedBundle,
    tree: InstallTree,
    *,
    extra_site: Path | None = None,
    python: str | None = None,
    progress: Progress = lambda step: None,
) -> Path:
    """Install ``bundle`` as ``versions/<version>`` and return that directory.

    ``python`` is the interpreter the new virtualenv is based on (default: the
    one running this). ``extra_site`` (development and tests only) appends a site-packages
    directory through a ``.pth`` file, for bundles that carry just the app wheel.
    On failure the half-written directory is removed and :class:`InstallError` raised.
    """
    manifest = bundle.manifest
    target = tree.version_dir(manifest.version)
    if target.exists():
        tree.remove_version(target)  # a crashed or superseded install of the same version
    wheelhouse = target / "wheelhouse"
    try:
        progress("extract")
        extract_payload(bundle, wheelhouse)
        progress("venv")
        _run(
            [python or _base_python(), "-m", "venv", "--without-pip", str(target)],
            "creating the venv",
        )
        venv_python = target / "bin" / "python"
        progress("pip")
        # pip itself is not installed: every bundle brings the pip that installs it.
        requirements = list(manifest.requirements)
        argv = [
            *_pip_argv(venv_python, wheelhouse),
            "install",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--quiet",
        ]
        if manifest.no_deps:
            argv.append("--no-deps")
        _run([*argv, *requirements], "pip install")
        if extra_site is not None:
            purelib = _venv_purelib(target)
            (purelib / "_madoguchi_extra_site.pth").write_text(f"{extra_site}\n")
        progress("finish")
        shutil.rmtree(wheelhouse)
        (target / MANIFEST_NAME).write_bytes(manifest.to_json())
        tree.write_marker(
            manifest.version,
            {
                "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "signer": bundle.signer,
            },
        )
    except OSError as exc:  # disk full, permissions: the running version stays
        tree.remove_version(target)
        raise InstallError(f"installing {manifest.version} failed: {exc}") from exc
    except BaseException:
        tree.remove_version(target)
        raise
    return target


def _venv_purelib(venv: Path) -> Path:
    return Path(sysconfig.get_path("purelib", scheme="venv", vars={"base": str(venv)}))
