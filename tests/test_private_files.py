"""Issue 13.7: the counter's private files are 0600 and its folders 0700 whatever the umask.

Every test runs under umask 022 (an administrator's shell: new files would be 0644,
readable by every local user) and looks at the modes on disk, including the
``-wal`` and ``-shm`` files SQLite makes after the first write.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.operators import OperatorStore, open_operator_db
from device.private_files import private_database_file, private_dir, private_file
from device.store import Store
from madoguchi.cli import main
from sync import pki

from .tui.conftest import FAST_KDF


@pytest.fixture(autouse=True)
def _umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sqlite_files(path: Path) -> list[Path]:
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    assert all(f.exists() for f in files), "the WAL files must exist to be checked"
    return files


def test_the_umask_would_otherwise_make_files_world_readable(tmp_path: Path) -> None:
    # The premise of the other tests: without the helpers, a new file is 0644.
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert mode(plain) == 0o644


def test_the_operator_accounts_and_their_wal_are_0600(tmp_path: Path) -> None:
    path = tmp_path / "operators.sqlite3"
    db = open_operator_db(str(path))
    OperatorStore(db, kdf=FAST_KDF).add("clerk01", "clerk-pass-123")
    assert {mode(f) for f in sqlite_files(path)} == {0o600}
    db.conn.close()


def test_the_store_its_wal_and_the_folders_it_makes_are_private(tmp_path: Path) -> None:
    path = tmp_path / "made" / "here" / "madoguchi.sqlite3"
    store = Store(path)
    try:
        assert {mode(f) for f in sqlite_files(path)} == {0o600}
        assert mode(path.parent) == 0o700
        assert mode(path.parent.parent) == 0o700
    finally:
        store.close()


def test_files_left_readable_by_an_older_version_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "operators.sqlite3"
    db = open_operator_db(str(path))
    OperatorStore(db, kdf=FAST_KDF).add("clerk01", "clerk-pass-123")
    db.conn.close()
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists():
            file.chmod(0o644)
    private_database_file(path)
    assert {mode(f) for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
            if f.exists()} == {0o600}
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    private_dir(loose)
    assert mode(loose) == 0o700
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    private_file(plain)
    assert mode(plain) == 0o600
    assert plain.read_bytes() == b"x"  # tightening never truncates


def test_operator_add_from_a_shell_with_umask_022(monkeypatch: pytest.MonkeyPatch) -> None:
    # IT adds an account on the counter: the state folder and the accounts are private.
    state = Path(os.environ["MADOGUCHI_STATE_DIR"])  # the autouse _private_state
    state.chmod(0o755)
    monkeypatch.setattr("sys.stdin", io.StringIO("clerk-pass-123\n"))
    assert main(["operator", "add", "clerk01", "--password-stdin"]) == 0
    assert mode(state) == 0o700
    assert {mode(f) for f in sqlite_files(state / "operators.sqlite3")} == {0o600}


def test_device_keys_are_0600_in_a_0700_folder(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    pki.write_private(tls / "device.key", b"-----BEGIN PRIVATE KEY-----\n")
    assert mode(tls / "device.key") == 0o600
    assert mode(tls) == 0o700
    # A leftover temporary file from an interrupted write does not lend its mode.
    leftover = tls / "device.key.tmp"
    leftover.write_bytes(b"")
    leftover.chmod(0o644)
    pki.write_private(tls / "device.key", b"-----BEGIN PRIVATE KEY-----\n")
    assert mode(tls / "device.key") == 0o600
