"""``madoguchi operator add|list|unlock`` on the state dir's operator file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from device.operators import OperatorAuthError, OperatorStore, open_operator_db
from madoguchi.cli import main


def test_add_list_unlock(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("clerk-pass-123\n"))
    assert main(["operator", "add", "clerk01", "--name", "窓口 一郎", "--password-stdin"]) == 0
    assert "clerk01" in capsys.readouterr().out
    db = open_operator_db(str(state_dir / "operators.sqlite3"))
    store = OperatorStore(db, max_failures=2)
    assert store.sign_in("clerk01", "clerk-pass-123").operator_id == "clerk01"
    for _ in range(2):
        with pytest.raises(OperatorAuthError):
            store.sign_in("clerk01", "wrong-pass-1")
    assert store.info("clerk01").locked
    assert main(["operator", "list"]) == 0
    out = capsys.readouterr().out
    assert "窓口 一郎" in out
    assert "locked" in out
    assert "clerk-pass-123" not in out
    assert main(["operator", "unlock", "clerk01"]) == 0
    assert not store.info("clerk01").locked
    db.conn.close()


def test_errors_are_one_line_and_exit_2(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["operator", "unlock", "ghost"]) == 2
    assert "no operator ghost" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["operator", "add", "clerk02", "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert "at least 8" in err
    assert "short" not in err.replace("at least", "")
