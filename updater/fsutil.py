"""Crash-safe file primitives: every on-disk change the updater makes goes through these.

A write is durable and atomic when the data is fsynced, renamed over the old
name, and the directory holding it is fsynced; a power cut then leaves either
the old or the new file, never a mix. Temporary names are random and made with
``O_EXCL | O_NOFOLLOW``: a file or link planted under a guessable name (issue 13:
``.status.json.tmp-<pid>``) makes the write fail, never lets it follow.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["atomic_symlink", "atomic_write", "fsync_dir"]


def fsync_dir(path: Path) -> None:
    """Make renames and new entries in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(8)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` in one rename: readers see the old or the new target."""
    tmp = link.with_name(f".{link.name}.new-{secrets.token_hex(8)}")
    os.symlink(target, tmp)  # fails on anything already there
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(link.parent)
