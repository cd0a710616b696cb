"""The update lock: no update is activated while a counter transaction is open.

It is one file, ``update.lock`` in the state directory, used with ``flock(2)``:
each open transaction holds a *shared* lock (:func:`transaction_guard`, used by
the TUI around a procedure), and the updater needs an *exclusive* lock
(:func:`update_lock`) for installing, switching and restarting. The kernel drops
a lock when its holder dies, so a crashed TUI never leaves a stale lock, and
downloading needs no lock at all::

    from updater.lock import transaction_guard

    with transaction_guard():      # raises UpdateLockedError while an update activates
        run_procedure(...)
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from madoguchi.config import default_state_dir
from updater.errors import UpdateLockedError

__all__ = ["LOCK_NAME", "lock_path", "transaction_guard", "transaction_open", "update_lock"]

LOCK_NAME = "update.lock"
_POLL_S = 0.05


def lock_path(state_dir: Path | None = None) -> Path:
    """The lock file in ``state_dir`` (default: the configured state directory)."""
    return (state_dir or default_state_dir()) / LOCK_NAME


def _open(path: Path) -> int:
    """Open the lock file read-only (enough for flock, so a root-made file works for the
    app user), never through a link: the lock lives in the app's state directory, which
    the app user can write, and root opens it too (issue 13). A symlink, FIFO or other
    non-file planted there is removed (the entry, not its target) and a plain file made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    for _ in range(3):
        try:
            fd = os.open(path, flags | os.O_CREAT, 0o664)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
        else:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode):
                return fd
            os.close(fd)
        try:
            path.unlink()  # unlink(2) removes a link itself, never what it points at
        except FileNotFoundError:
            pass
        except OSError as exc:  # a directory
            raise UpdateLockedError(f"{path} is not a lock file and cannot be replaced") from exc
    raise UpdateLockedError(f"{path} keeps being replaced by something that is not a file")


def _acquire(fd: int, operation: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
        else:
            return True


@contextmanager
def _held(state_dir: Path | None, operation: int, timeout: float, refusal: str) -> Iterator[None]:
    fd = _open(lock_path(state_dir))
    try:
        if not _acquire(fd, operation, timeout):
            raise UpdateLockedError(refusal)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def transaction_guard(
    state_dir: Path | None = None, *, timeout: float = 0.0
) -> AbstractContextManager[None]:
    """Hold the update lock (shared) for the duration of one counter transaction.

    Several transactions may hold it at once. Raises :class:`UpdateLockedError`
    when an update is being activated and does not finish within ``timeout`` seconds.
    """
    return _held(
        state_dir, fcntl.LOCK_SH, timeout, "an update is being activated; try again in a moment"
    )


def update_lock(
    state_dir: Path | None = None, *, timeout: float = 0.0
) -> AbstractContextManager[None]:
    """Hold the update lock exclusively: no transaction is open, none can start.

    Raises :class:`UpdateLockedError` when a transaction is open.
    """
    return _held(
        state_dir, fcntl.LOCK_EX, timeout, "a counter transaction is open; the update waits"
    )


def transaction_open(state_dir: Path | None = None) -> bool:
    """Whether some process holds the lock right now (a probe; it may change at once)."""
    fd = _open(lock_path(state_dir))
    try:
        return not _acquire(fd, fcntl.LOCK_EX, 0.0)
    finally:
        os.close(fd)
