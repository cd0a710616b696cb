"""Files only the counter's own user may read: 0600 files in 0700 folders, whatever the umask.

The operator accounts, the transaction store and the state folder hold password
hashes, the operator event log and the records of the day. Their modes must not
depend on the umask of whoever started the process (an administrator's shell
typically has 022, which would make a new SQLite file 0644, readable by every
local user). These helpers create with the private mode and tighten what exists.

SQLite gives the ``-wal`` and ``-shm`` files of a database the mode of the
database file itself when it creates them, so preparing the main file is enough
for new ones; leftovers from an older version are tightened here too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Mode of every private file (owner read/write).
FILE_MODE = 0o600
#: Mode of every private folder (owner only).
DIR_MODE = 0o700
#: Files SQLite keeps beside a database in WAL mode.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path | str) -> Path:
    """Create ``path`` (and missing parents) and make the folder itself 0700.

    Only the last folder is ours to tighten: parents that already exist keep their
    mode (``/var/lib`` is not ours); parents created here get 0700 as well.
    """
    folder = Path(path)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    for created in (folder, *missing):
        _tighten(created, DIR_MODE)
    return folder


def private_file(path: Path | str) -> Path:
    """Make ``path`` exist as a 0600 file (created empty if missing, tightened if not).

    The folder must exist; it is not changed (see :func:`private_dir`).
    """
    file = Path(path)
    # O_CREAT's mode is filtered by the umask; fchmod is not.
    fd = os.open(file, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return file


def private_database_file(path: Path | str) -> Path:
    """Prepare a SQLite database path: the file and any WAL/SHM/journal beside it 0600."""
    file = private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        side = Path(f"{file}{suffix}")
        if side.exists():
            _tighten(side, FILE_MODE)
    return file


def _tighten(path: Path, mode: int) -> None:
    if stat.S_IMODE(path.stat().st_mode) != mode:
        path.chmod(mode)


__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "private_database_file",
    "private_dir",
    "private_file",
]
