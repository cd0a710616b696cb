"""``madoguchi server staff add|unlock`` and ``server office-name`` as IT runs them on the
server host (real processes, a real database), and ``--console-listen`` refusals."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest

from sync.server.console.serve import open_console_store
from tests.sync.conftest import PYTHONPATH, ROOT


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": PYTHONPATH},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_first_administrator_and_their_totp(tmp_path: Path) -> None:
    db = str(tmp_path / "server.sqlite3")
    secret_file = tmp_path / "pw"
    secret_file.write_text("a long enough password\n")
    # Before IT migrates, the console's tables do not exist: a clear refusal.
    early = _cli(
        "server",
        "staff",
        "add",
        "yamada",
        "--name",
        "山田",
        "--office",
        "131016",
        "--db",
        db,
        "--password-file",
        str(secret_file),
    )
    assert early.returncode != 0
    assert "run `madoguchi server migrate`" in early.stderr
    assert _cli("server", "migrate", "--db", db).returncode == 0
    added = _cli(
        "server",
        "staff",
        "add",
        "yamada",
        "--name",
        "山田 花子",
        "--role",
        "administrator",
        "--office",
        "131016",
        "--office",
        "131016-01",
        "--db",
        db,
        "--password-file",
        str(secret_file),
    )
    assert added.returncode == 0, added.stderr
    uri = re.search(r"otpauth://totp/\S+", added.stdout)
    secret = re.search(r"TOTP secret: ([A-Z2-7]+)", added.stdout)
    assert uri is not None
    assert secret is not None
    assert pyotp.parse_uri(uri.group(0)).secret == secret.group(1)
    assert "a long enough password" not in added.stdout + added.stderr
    store = open_console_store(db)
    try:
        account = store.staff("yamada")
        assert account is not None
        assert account.offices == ("131016", "131016-01")
        code = pyotp.TOTP(secret.group(1)).now()
        assert store.sign_in("yamada", "a long enough password", code, __import__("time").time())
    finally:
        store.close()
    again = _cli(
        "server",
        "staff",
        "add",
        "yamada",
        "--name",
        "x",
        "--office",
        "131016",
        "--db",
        db,
        "--password-file",
        str(secret_file),
    )
    assert again.returncode != 0
    assert "already" in again.stderr
    # No terminal and no file: a clear refusal, no account.
    blind = _cli(
        "server", "staff", "add", "sato", "--name", "佐藤", "--office", "1", "--db", db, stdin=""
    )
    assert blind.returncode != 0
    assert "--password-file" in blind.stderr
    assert _cli("server", "staff", "unlock", "yamada", "--db", db).returncode == 0
    named = _cli("server", "office-name", "131016", "本庁舎", "--db", db)
    assert named.returncode == 0, named.stderr
    store = open_console_store(db)
    try:
        assert store.offices()["131016"] == "本庁舎"
        assert [r.action for r in store.audit(None)][:2] == ["office_named", "unlocked"]
    finally:
        store.close()


def _server_run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``madoguchi server run`` with a console, and ``extra`` options (refused ones)."""
    return _cli(
        "server",
        "run",
        "--db",
        str(tmp_path / "s.sqlite3"),
        "--pki-dir",
        str(tmp_path / "pki"),
        "--listen",
        "127.0.0.1:1",
        "--console-listen",
        "127.0.0.1:2",
        *extra,
    )


def test_the_console_refuses_several_workers(tmp_path: Path) -> None:
    run = _server_run(tmp_path, "--workers", "2")
    assert run.returncode != 0
    assert "one server process" in run.stderr


@pytest.mark.parametrize("workers", ["0", "17"])
def test_console_workers_out_of_range_are_refused(tmp_path: Path, workers: str) -> None:
    run = _server_run(tmp_path, "--console-workers", workers)
    assert run.returncode != 0
    assert "1 to 16 worker processes" in run.stderr


def test_a_console_worker_that_cannot_start_fails_the_server(tmp_path: Path) -> None:
    from sync import pki
    from sync.pgcluster import free_port
    from sync.server.repository import open_repository

    db = str(tmp_path / "s.sqlite3")
    repo = open_repository(db)
    repo.migrate()
    repo.close()
    pki.init_server_pki(tmp_path / "pki")  # IT's `server pki init`: a host never makes a CA
    run = _cli(
        "server",
        "run",
        "--db",
        db,
        "--pki-dir",
        str(tmp_path / "pki"),
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--console-listen",
        f"127.0.0.1:{free_port()}",
        "--console-workers",
        "2",
        "--console-cert",
        str(tmp_path / "missing.crt"),
        "--console-key",
        str(tmp_path / "missing.key"),
    )
    assert run.returncode != 0
    assert "did not start" in run.stderr
