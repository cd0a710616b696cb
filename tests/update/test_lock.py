"""The update lock across real processes: shared for transactions, exclusive for updates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from updater.errors import UpdateLockedError
from updater.lock import lock_path, transaction_guard, transaction_open, update_lock

HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from updater.lock import transaction_guard, update_lock
    guard = transaction_guard if sys.argv[2] == "shared" else update_lock
    with guard(Path(sys.argv[1])):
        print("held", flush=True)
        sys.stdin.readline()
    """
)


@contextmanager
def held(state: Path, kind: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(state), kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    assert proc.stdout.readline().strip() == "held"
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.write("\n")
            proc.stdin.close()
        proc.wait(10)


def test_transactions_share_the_lock(state: Path) -> None:
    with held(state, "shared"), transaction_guard(state):
        assert transaction_open(state)


def test_update_waits_for_an_open_transaction(state: Path) -> None:
    with held(state, "shared"), pytest.raises(UpdateLockedError), update_lock(state):
        pass
    with update_lock(state):
        assert lock_path(state).exists()


def test_transaction_refused_while_an_update_activates(state: Path) -> None:
    with (
        held(state, "exclusive"),
        pytest.raises(UpdateLockedError),
        transaction_guard(state, timeout=0.2),
    ):
        pass
    with transaction_guard(state):
        pass


def test_a_killed_holder_leaves_no_stale_lock(state: Path) -> None:
    with held(state, "shared") as proc:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert not transaction_open(state)
        with update_lock(state):
            pass


def test_default_lock_lives_in_the_state_dir(state: Path) -> None:
    assert lock_path() == state / "update.lock"
