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


def test_demo_mode_only_on_the_virtual_card() -> None:
    from madoguchi.commands.demo import demo_mode
    from madoguchi.config import Config, ReaderConfig

    assert demo_mode(Config())  # embedded defaults: the sim reader
    assert not demo_mode(Config(reader=ReaderConfig(backend="pcsc")))


def test_build_services_creates_the_demo_account_only_in_demo_mode(
    state_dir: Path, tmp_path: Path
) -> None:
    from madoguchi.commands.demo import build_services
    from madoguchi.config import Config

    real = build_services(Config(), state_dir=tmp_path / "real", demo=False)
    try:
        assert real.operators.operator_ids() == []
        assert real.demo_password is None
        assert real.demo_profiles == ()
    finally:
        real.close()
    demo = build_services(Config(), state_dir=state_dir, demo=True)
    try:
        assert demo.operators.operator_ids() == ["demo"]
        assert demo.demo_password == "ID demo / madoguchi-demo"
        assert "face-auth" in demo.demo_profiles
    finally:
        demo.close()


def test_build_services_releases_what_it_opened_when_the_pin_pad_fails(tmp_path: Path) -> None:
    import os

    from madoguchi.commands.demo import build_services
    from madoguchi.config import Config, KeypadConfig, StoreConfig
    from madoguchi.errors import MadoguchiError

    # A regular file where the virtual pad's socket should go: the pad refuses to start.
    blocker = tmp_path / "keypad.sock"
    blocker.write_text("not a socket")
    store = tmp_path / "store.sqlite3"
    config = Config(
        keypad=KeypadConfig(backend="virtual-matrix", control_socket=str(blocker)),
        store=StoreConfig(path=str(store)),
    )

    def open_on_store() -> list[str]:
        fds = Path("/proc/self/fd")
        targets = []
        for fd in fds.iterdir():
            try:
                targets.append(os.readlink(fd))
            except OSError:
                continue
        return [t for t in targets if t.startswith(str(store))]

    with pytest.raises(MadoguchiError):
        build_services(config, state_dir=tmp_path / "state", demo=False)
    assert store.exists()  # it was opened before the pad failed ...
    assert open_on_store() == []  # ... and closed again
