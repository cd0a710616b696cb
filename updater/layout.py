"""The install tree on the device: one directory per version and two links.

::

    <root>/versions/0.3.0/     a complete virtualenv of that version
    <root>/versions/0.4.0/     being installed: no release marker yet
    <root>/current  -> versions/0.3.0     what the units run (ExecStart=<root>/current/bin/...)
    <root>/previous -> versions/0.2.0     where a rollback goes

A version directory counts only once its release marker exists; the marker is
written last, so a directory without one is a crashed install and is removed.
``current`` only ever points at a complete version, and it is switched by one
rename (:func:`updater.fsutil.atomic_symlink`) as the last step of an install.

Every version name is checked before it becomes a path (a PEP 440 version in
normal form, :func:`updater.manifest.parse_version`) and the directory must be a
real directory right inside ``versions/`` — not a link, not reached through one —
so no file the updater reads can steer ``current`` out of the tree (issue 13).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from updater.errors import BundleRejectedError
from updater.fsutil import atomic_symlink, atomic_write
from updater.manifest import parse_version

__all__ = ["MARKER", "InstallTree"]

MARKER = ".madoguchi-release.json"


@dataclass(frozen=True)
class InstallTree:
    """The versions directory and the ``current``/``previous`` links under ``root``."""

    root: Path

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    @property
    def current_link(self) -> Path:
        return self.root / "current"

    @property
    def previous_link(self) -> Path:
        return self.root / "previous"

    def version_dir(self, version: str) -> Path:
        """``versions/<version>``; raises ``malformed`` for a name that is no version."""
        parse_version(version)
        path = self.versions_dir / version
        if path.parent != self.versions_dir:  # belt and braces: the name is one component
            raise BundleRejectedError("malformed", f"version {version!r} leaves versions/")
        return path

    def is_complete(self, version: str) -> bool:
        """Whether ``version`` is fully installed: a plain directory under ``versions/``
        (no link on the way) holding its release marker as a plain file."""
        try:
            path = self.version_dir(version)
            versions = os.lstat(self.versions_dir)
            directory = os.lstat(path)
            marker = os.lstat(path / MARKER)
        except (BundleRejectedError, OSError):
            return False
        return (
            stat.S_ISDIR(versions.st_mode)
            and stat.S_ISDIR(directory.st_mode)
            and stat.S_ISREG(marker.st_mode)
        )

    def _link_version(self, link: Path) -> str | None:
        if not link.is_symlink():
            return None
        target = link.readlink()
        # the updater writes exactly "versions/<version>"; anything else is not its link
        if target.parent != Path("versions"):
            return None
        return target.name if self.is_complete(target.name) else None

    def current_version(self) -> str | None:
        """The version ``current`` points at, or None (nothing installed yet)."""
        return self._link_version(self.current_link)

    def previous_version(self) -> str | None:
        """The version a rollback would return to, or None."""
        return self._link_version(self.previous_link)

    def installed_versions(self) -> list[str]:
        """Complete versions on disk (any order)."""
        if not self.versions_dir.is_dir():
            return []
        return [p.name for p in self.versions_dir.iterdir() if self.is_complete(p.name)]

    def incomplete_dirs(self) -> list[Path]:
        """Version directories left by an interrupted install."""
        if not self.versions_dir.is_dir():
            return []
        return [
            p
            for p in self.versions_dir.iterdir()
            if not p.is_symlink() and p.is_dir() and not self.is_complete(p.name)
        ]

    def switch_current(self, version: str) -> None:
        """Atomically make ``version`` the running version (it must be complete)."""
        if not self.is_complete(version):
            raise FileNotFoundError(f"version {version} is not completely installed")
        atomic_symlink(self.current_link, f"versions/{version}")

    def set_previous(self, version: str | None) -> None:
        """Remember where a rollback goes (or forget it)."""
        if version is None:
            self.previous_link.unlink(missing_ok=True)
        else:
            atomic_symlink(self.previous_link, f"versions/{version}")

    def write_marker(self, version: str, info: dict[str, Any]) -> None:
        """Declare ``version`` complete — the last write of an install."""
        data = json.dumps({"version": version, **info}, sort_keys=True, indent=1).encode()
        atomic_write(self.version_dir(version) / MARKER, data + b"\n")

    def read_marker(self, version: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.version_dir(version) / MARKER).read_text())
        return data

    def remove_version(self, version_dir: Path) -> None:
        """Delete a version directory; the marker goes first so a crash leaves it 'incomplete'."""
        if version_dir.parent != self.versions_dir or version_dir.is_symlink():
            raise BundleRejectedError("malformed", f"{version_dir} is not a version directory")
        (version_dir / MARKER).unlink(missing_ok=True)
        shutil.rmtree(version_dir, ignore_errors=True)
