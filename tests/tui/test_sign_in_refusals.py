"""Issue 13.5: sign-in refusals are no oracle: same message, same time, for every reason.

An unknown id, a wrong password and a locked account must take the same time to
be refused (else a stopwatch at the counter tells which ids exist and which are
locked). Timed with the real default scrypt cost on a real SQLite file, each kind
refused in turn (interleaved, so load on the machine hits all three alike), and
compared as ratios of medians within the same run: nothing is compared with a
fixed number of seconds.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from device.operators import (
    DEFAULT_KDF,
    REFUSED_MESSAGE,
    OperatorStore,
    SignInRefusedError,
    open_operator_db,
)

from .conftest import StepClock

PASSWORD = "kaunta-Pass-2026"
#: Rounds per kind. Each refusal costs one default scrypt (~0.3 s here, more under load).
ROUNDS = 7
#: Largest allowed ratio between the slowest and the fastest median. Without the decoy
#: work an unknown id is refused ~100x faster; a lock checked before the hash, ~100x.
MAX_RATIO = 1.3


def test_unknown_wrong_and_locked_are_refused_in_the_same_time(
    tmp_path: Path, clock: StepClock
) -> None:
    db = open_operator_db(str(tmp_path / "operators.sqlite3"))
    # Many failures allowed, so "wrong" stays wrong and never turns into "locked".
    store = OperatorStore(db, clock=clock, kdf=DEFAULT_KDF, max_failures=1000)
    store.add("known", PASSWORD)
    store.add("locked", PASSWORD)
    with pytest.raises(SignInRefusedError):
        OperatorStore(db, clock=clock, max_failures=1).sign_in("locked", "wrong-password")
    assert store.info("locked").locked
    attempts = {
        "unknown": ("nobody", PASSWORD),
        "wrong": ("known", "wrong-password"),
        "locked": ("locked", PASSWORD),  # the right password, refused by the lock
    }
    times: dict[str, list[float]] = {kind: [] for kind in attempts}
    messages: set[str] = set()
    for _ in range(ROUNDS):
        for kind, (operator_id, password) in attempts.items():
            start = time.perf_counter()
            with pytest.raises(SignInRefusedError) as refused:
                store.sign_in(operator_id, password)
            times[kind].append(time.perf_counter() - start)
            messages.add(str(refused.value))
    db.conn.close()
    assert messages == {REFUSED_MESSAGE}
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    ratio = max(medians.values()) / min(medians.values())
    assert ratio <= MAX_RATIO, f"refusal medians differ: {medians} (ratio {ratio:.2f})"
