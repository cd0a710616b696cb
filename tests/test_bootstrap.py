"""scripts/lib/bootstrap.sh's venv bookkeeping, run by bash on a stand-in tree: which lock
holds the venv to the shipped versions, and when a venv counts as already set up."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ABI = f"cp{sys.version_info[0]}{sys.version_info[1]}"
MACHINE = subprocess.run(["uname", "-m"], capture_output=True, text=True, check=True).stdout.strip()


def _tree(tmp_path: Path, roles: tuple[str, ...]) -> Path:
    """A tree with the real bootstrap.sh, a pyproject, the locks of ``roles`` for this
    Python and machine, and a venv whose interpreter is this one."""
    (tmp_path / "scripts" / "lib").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "lib" / "bootstrap.sh", tmp_path / "scripts" / "lib")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "locks").mkdir()
    for role in roles:
        (tmp_path / "locks" / f"{role}-{ABI}-{MACHINE}.txt").write_text(f"# {role}\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    return tmp_path


def _bash(tree: Path, script: str) -> str:
    done = subprocess.run(
        ["bash", "-c", f'source "{tree}/scripts/lib/bootstrap.sh"; {script}'],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_server_lock_holds_a_server_venv_and_the_counter_lock_the_rest(
    tmp_path: Path,
) -> None:
    tree = _tree(tmp_path, ("server", "counter"))
    locks = tree / "locks"
    assert _bash(tree, 'venv_lock "test,server"') == f"{locks}/server-{ABI}-{MACHINE}.txt"
    assert _bash(tree, 'venv_lock "server"') == f"{locks}/server-{ABI}-{MACHINE}.txt"
    assert _bash(tree, 'venv_lock "test"') == f"{locks}/counter-{ABI}-{MACHINE}.txt"
    # the Pi has no server lock: its counter lock still holds what it can
    (locks / f"server-{ABI}-{MACHINE}.txt").unlink()
    assert _bash(tree, 'venv_lock "test,server"') == f"{locks}/counter-{ABI}-{MACHINE}.txt"
    (locks / f"counter-{ABI}-{MACHINE}.txt").unlink()
    assert _bash(tree, 'venv_lock "test,server"') == ""  # nothing ships here


def test_a_venv_with_more_extras_is_set_up_and_a_changed_input_is_not(tmp_path: Path) -> None:
    tree = _tree(tmp_path, ("server",))
    has = 'venv_has "{}" && echo yes || echo no'
    stamp = tree / ".venv" / ".madoguchi-installed"
    assert _bash(tree, has.format("server")) == "no"  # never installed
    inputs = _bash(tree, 'venv_inputs "$(venv_lock test,server)"')
    stamp.write_text(f"test,server {inputs}\n")
    assert _bash(tree, has.format("server")) == "yes"  # the demo after the tests
    assert _bash(tree, has.format("test,server")) == "yes"
    stamp.write_text(f"server {inputs}\n")
    assert _bash(tree, has.format("test,server")) == "no"  # the tests after the demo
    stamp.write_text(f"test,server {inputs}\n")
    lock = tree / "locks" / f"server-{ABI}-{MACHINE}.txt"
    lock.write_text(lock.read_text() + "anyio==4.16.0\n")  # scripts/lock moved a version
    assert _bash(tree, has.format("server")) == "no"
    stamp.write_text(f"test,server {_bash(tree, f'venv_inputs {lock}')}\n")
    assert _bash(tree, has.format("server")) == "yes"
    (tree / "pyproject.toml").write_text('[project]\nname = "y"\n')
    assert _bash(tree, has.format("server")) == "no"
