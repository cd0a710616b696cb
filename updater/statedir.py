"""The updater's own state directory, and file access in it that trusts no other user.

The updater runs as root; the app runs as ``madoguchi``. Anything the app user can
write is input an attacker controls (issue 13), so the updater keeps its state —
``status.json``, ``pending.json``, ``reports.jsonl``, ``bad-versions.json``, the
accepted key list and channel-pointer serials, ``downloads/`` — in a directory
of its own: ``/var/lib/madoguchi-update`` (``StateDirectory=madoguchi-update``,
mode 0700, in ``madoguchi-update.service``), beside the app's state, never inside it.

:class:`PrivateDir` checks, before using it, that the directory and every directory
above it can be changed by no one but root and the updater's own user (a sticky
``/tmp`` is allowed: others cannot rename entries there), then works through one
directory file descriptor: every open is ``O_NOFOLLOW``, every new file is made
with ``O_EXCL`` under a random name and renamed into place, so a planted symlink,
FIFO or hard-linked file is refused or replaced, never followed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from madoguchi.config import default_state_dir
from madoguchi.errors import UpdateError

__all__ = ["MAX_STATE_FILE", "PrivateDir", "UnsafeStateError", "update_state_dir"]

#: No state file of the updater's is larger; a bigger one is not read (an attack or damage).
MAX_STATE_FILE = 1 << 20
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeStateError(UpdateError):
    """The updater's state directory, or a file in it, could be changed by another user."""

    reason = "unsafe-state"


def update_state_dir() -> Path:
    """Where the updater keeps its state.

    ``$MADOGUCHI_UPDATE_DIR`` (the unit sets it), else beside the app's state
    directory: ``/var/lib/madoguchi`` → ``/var/lib/madoguchi-update``.
    """
    explicit = os.environ.get("MADOGUCHI_UPDATE_DIR")
    if explicit:
        return Path(explicit)
    app = default_state_dir()
    return app.with_name(f"{app.name}-update")


def _check_ancestors(path: Path) -> None:
    """No directory above ``path`` may let another user swap what lies below it."""
    me = os.geteuid()
    for parent in reversed(path.parents):
        info = os.lstat(parent)
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeStateError(f"{parent} is a symlink; the update state must not pass one")
        others_write = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if info.st_uid not in (0, me) or (others_write and not info.st_mode & stat.S_ISVTX):
            raise UnsafeStateError(
                f"{parent} can be changed by another user (uid {info.st_uid}, mode "
                f"{stat.S_IMODE(info.st_mode):o}); the update state cannot live below it"
            )


class PrivateDir:
    """A directory only the updater's user can change, used through one descriptor."""

    def __init__(self, path: Path) -> None:
        self.path = Path(os.path.abspath(path))
        _check_ancestors(self.path)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.path, 0o700)
        self.fd = self._open_checked(self.path, None)

    @staticmethod
    def _open_checked(name: str | Path, dir_fd: int | None) -> int:
        try:
            fd = os.open(name, _OPEN_DIR, dir_fd=dir_fd)
        except OSError as exc:
            raise UnsafeStateError(f"cannot open {name} as a plain directory: {exc}") from exc
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            os.close(fd)
            raise UnsafeStateError(
                f"{name} belongs to uid {info.st_uid}, not to the updater (uid {os.geteuid()}): "
                "run the updater's commands as root"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, 0o700)  # ours, only too open (e.g. made under another umask)
        return fd

    def subdir(self, name: str) -> PrivateDir:
        """A private directory inside this one (made when missing)."""
        _check_name(name)
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=self.fd)
        sub = PrivateDir.__new__(PrivateDir)
        sub.path = self.path / name
        sub.fd = self._open_checked(name, self.fd)
        return sub

    def read(self, name: str) -> bytes | None:
        """The bytes of regular file ``name``, or None when it is missing or not a plain file."""
        _check_name(name)
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.fd
            )
        except FileNotFoundError:
            return None
        except OSError as exc:  # ELOOP: a symlink sits there
            raise UnsafeStateError(f"{self.path / name} is not a plain file: {exc}") from exc
        with os.fdopen(fd, "rb") as src:
            info = os.fstat(src.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                raise UnsafeStateError(f"{self.path / name} is not a plain file of the updater's")
            if info.st_size > MAX_STATE_FILE:
                raise UnsafeStateError(f"{self.path / name} is implausibly large")
            return src.read(MAX_STATE_FILE + 1)

    def write(self, name: str, data: bytes) -> None:
        """Replace ``name`` atomically and durably (a planted link is replaced, not followed)."""
        _check_name(name)
        tmp = f".{name}.tmp-{secrets.token_hex(8)}"
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=self.fd,
        )
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            self.unlink(tmp)
            raise
        os.fsync(self.fd)

    def append(self, name: str, data: bytes) -> None:
        """Append ``data`` to regular file ``name`` (made when missing) and fsync it."""
        _check_name(name)
        try:
            fd = os.open(
                name,
                os.O_WRONLY
                | os.O_APPEND
                | os.O_CREAT
                | os.O_NOFOLLOW
                | os.O_NONBLOCK
                | os.O_CLOEXEC,
                0o600,
                dir_fd=self.fd,
            )
        except OSError as exc:
            raise UnsafeStateError(f"{self.path / name} is not a plain file: {exc}") from exc
        with os.fdopen(fd, "ab") as out:
            info = os.fstat(out.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                raise UnsafeStateError(f"{self.path / name} is not a plain file of the updater's")
            out.write(data)
            out.flush()
            os.fsync(out.fileno())

    def open_new(self, name: str, *, append: bool) -> int:
        """A descriptor to write ``name``: appended to when it is a plain file, else made anew."""
        _check_name(name)
        flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        if append:
            try:
                fd = os.open(name, flags | os.O_APPEND, dir_fd=self.fd)
            except OSError:  # missing, or a link (ELOOP): start a new file
                pass
            else:
                info = os.fstat(fd)
                if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                    return fd
                os.close(fd)
        self.unlink(name)
        return os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=self.fd)

    def size(self, name: str) -> int | None:
        """The size of regular file ``name`` (not following a link), or None."""
        _check_name(name)
        try:
            info = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def unlink(self, name: str) -> None:
        """Remove entry ``name`` (a link itself, never its target); missing is fine."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass
        except IsADirectoryError as exc:
            raise UnsafeStateError(f"{self.path / name} is a directory") from exc

    def rename(self, old: str, new: str) -> None:
        """Rename within this directory, durably."""
        _check_name(old)
        _check_name(new)
        os.replace(old, new, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        os.fsync(self.fd)

    def names(self) -> list[str]:
        """The entries of this directory."""
        return os.listdir(self.fd)


def _check_name(name: str) -> None:
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise UnsafeStateError(f"{name!r} is not a plain file name")
