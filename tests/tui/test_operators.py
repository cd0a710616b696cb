"""Operator accounts: scrypt hashes, lock-out, idle sign-out, attribution, no secrets leaked."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from device.operators import (
    DEFAULT_KDF,
    REFUSED_MESSAGE,
    KdfParams,
    OperatorAuthError,
    OperatorExistsError,
    OperatorStore,
    SessionExpiredError,
    SignInRefusedError,
    SignInUnavailableError,
    UnknownOperatorError,
    open_operator_db,
)
from madoguchi.errors import ConfigError, PinError, StoreError

from .conftest import FAST_KDF, StepClock

PASSWORD = "kaunta-Pass-2026"


def test_sign_in_with_the_right_password_opens_a_session(operators: OperatorStore) -> None:
    operators.add("clerk01", PASSWORD, display_name="窓口 一郎")
    session = operators.sign_in("clerk01", PASSWORD)
    assert session.operator_id == "clerk01"
    assert session.display_name == "窓口 一郎"
    assert session.active


def test_the_row_holds_a_salted_scrypt_hash_never_the_password(
    operators: OperatorStore, operator_db: Any
) -> None:
    operators.add("a", PASSWORD)
    operators.add("b", PASSWORD)
    rows = {r["operator_id"]: r for r in operator_db["operators"].rows}
    assert rows["a"]["kdf"] == "scrypt"
    assert rows["a"]["salt"] != rows["b"]["salt"], "salt must be per operator"
    assert rows["a"]["password_hash"] != rows["b"]["password_hash"]
    dump = "\n".join(operator_db.conn.iterdump()).encode()
    assert PASSWORD.encode() not in dump
    assert PASSWORD.encode().hex().encode() not in dump.lower()


def test_hash_uses_the_row_parameters_so_raising_the_cost_keeps_old_accounts(
    operator_db: Any, clock: StepClock
) -> None:
    old = OperatorStore(operator_db, clock=clock, kdf=FAST_KDF)
    old.add("veteran", PASSWORD)
    new = OperatorStore(operator_db, clock=clock, kdf=KdfParams(n=2**6, r=8, p=1))
    assert new.sign_in("veteran", PASSWORD).operator_id == "veteran"


def test_default_parameters_are_memory_hard_and_work(operator_db: Any, clock: StepClock) -> None:
    assert 128 * DEFAULT_KDF.n * DEFAULT_KDF.r >= 32 * 2**20  # at least 32 MiB per hash
    store = OperatorStore(operator_db, clock=clock)
    store.add("real", PASSWORD)
    assert store.sign_in("real", PASSWORD).active
    with pytest.raises(SignInRefusedError):
        store.sign_in("real", PASSWORD + "x")


def test_wrong_passwords_lock_for_a_while_then_the_count_starts_again(
    operators: OperatorStore, clock: StepClock
) -> None:
    operators.add("clerk01", PASSWORD)
    for _ in range(3):
        with pytest.raises(SignInRefusedError):
            operators.sign_in("clerk01", "wrong-password")
    info = operators.info("clerk01")
    assert info.locked
    assert info.locked_until == "2026-11-25T09:15:00+00:00"  # 900 s by default
    # Locked means locked: even the right password is refused, with the same message.
    with pytest.raises(SignInRefusedError) as locked:
        operators.sign_in("clerk01", PASSWORD)
    assert str(locked.value) == REFUSED_MESSAGE
    clock.advance(899)
    with pytest.raises(SignInRefusedError):
        operators.sign_in("clerk01", PASSWORD)
    clock.advance(1)
    assert not operators.info("clerk01").locked  # the lock ended by itself
    # After the lock the count starts again: two wrong passwords do not lock.
    for _ in range(2):
        with pytest.raises(SignInRefusedError):
            operators.sign_in("clerk01", "wrong-password")
    assert not operators.info("clerk01").locked
    assert operators.sign_in("clerk01", PASSWORD).active
    assert operators.info("clerk01").failed_attempts == 0


def test_the_administrator_unlocks_before_the_time_is_up(
    operator_db: Any, clock: StepClock
) -> None:
    store = OperatorStore(operator_db, clock=clock, kdf=FAST_KDF, max_failures=2,
                          lockout_s=3600.0)
    store.add("clerk01", PASSWORD)
    for _ in range(2):
        with pytest.raises(SignInRefusedError):
            store.sign_in("clerk01", "wrong-password")
    assert store.info("clerk01").locked_until == "2026-11-25T10:00:00+00:00"
    store.unlock("clerk01")
    assert store.info("clerk01").locked_until is None
    assert store.sign_in("clerk01", PASSWORD).active


def test_a_lock_from_before_locks_expired_stays_until_unlocked(
    operators: OperatorStore, operator_db: Any, clock: StepClock
) -> None:
    operators.add("clerk01", PASSWORD)
    operator_db["operators"].update("clerk01", {"locked": 1, "locked_until": None})
    clock.advance(10 * 86400)
    with pytest.raises(SignInRefusedError):
        operators.sign_in("clerk01", PASSWORD)
    operators.unlock("clerk01")
    assert operators.sign_in("clerk01", PASSWORD).active


def test_an_old_database_gains_the_lock_end_column(tmp_path: Path, clock: StepClock) -> None:
    db = open_operator_db(str(tmp_path / "old.sqlite3"))
    OperatorStore(db, clock=clock, kdf=FAST_KDF).add("clerk01", PASSWORD)
    db.conn.execute("ALTER TABLE operators DROP COLUMN locked_until")
    store = OperatorStore(db, clock=clock, kdf=FAST_KDF)
    assert "locked_until" in db["operators"].columns_dict
    assert store.sign_in("clerk01", PASSWORD).active
    db.conn.close()


def test_a_success_resets_the_failure_count(operators: OperatorStore) -> None:
    operators.add("clerk01", PASSWORD)
    for _ in range(2):
        with pytest.raises(SignInRefusedError):
            operators.sign_in("clerk01", "nope-nope")
    operators.sign_in("clerk01", PASSWORD)
    for _ in range(2):
        with pytest.raises(SignInRefusedError):
            operators.sign_in("clerk01", "nope-nope")
    assert not operators.info("clerk01").locked


def test_every_refusal_reads_the_same_and_the_log_says_why(
    operators: OperatorStore,
) -> None:
    operators.add("clerk01", PASSWORD)
    operators.add("clerk02", PASSWORD)
    for _ in range(3):
        with pytest.raises(SignInRefusedError):
            operators.sign_in("clerk02", "not-the-password")
    refusals = []
    for operator_id, password in (
        ("nobody", PASSWORD), ("clerk01", "not-the-password"), ("clerk02", PASSWORD),
    ):
        with pytest.raises(SignInRefusedError) as exc:
            operators.sign_in(operator_id, password)
        refusals.append(exc.value)
    assert {str(e) for e in refusals} == {REFUSED_MESSAGE}
    assert {type(e) for e in refusals} == {SignInRefusedError}
    assert all(e.args == (REFUSED_MESSAGE,) and vars(e) == {} for e in refusals)
    why = [e["detail"] for e in operators.events() if e["action"] == "sign_in_refused"]
    assert why[-3:] == ["unknown_id", "wrong_password 1/3", "locked"]
    # The typed id of an unknown account is not kept (it may be a mistyped password).
    assert "nobody" not in str(operators.events())


def test_errors_sit_in_the_tree(operators: OperatorStore) -> None:
    assert issubclass(SignInRefusedError, PinError)
    assert issubclass(OperatorExistsError, StoreError)
    operators.add("clerk01", PASSWORD)
    with pytest.raises(OperatorExistsError):
        operators.add("clerk01", PASSWORD)
    with pytest.raises(UnknownOperatorError):
        operators.unlock("ghost")
    with pytest.raises(ConfigError):
        operators.add("bad id with spaces", PASSWORD)
    with pytest.raises(ConfigError):
        operators.add("short", "1234567")
    with pytest.raises(ConfigError):
        KdfParams(n=1000, r=8, p=1)
    with pytest.raises(ConfigError):
        OperatorStore(operators._db, max_failures=0)
    with pytest.raises(ConfigError):
        OperatorStore(operators._db, lockout_s=0)


def test_idle_sign_out_follows_the_injected_clock(
    operators: OperatorStore, clock: StepClock
) -> None:
    operators.add("clerk01", PASSWORD)
    session = operators.sign_in("clerk01", PASSWORD)
    clock.advance(59)
    session.touch()  # activity restarts the idle timer
    clock.advance(59)
    assert session.active
    assert session.seconds_left() == pytest.approx(1.0)
    clock.advance(1)
    assert not session.active
    assert session.end_reason == "idle"
    with pytest.raises(SessionExpiredError):
        session.record("procedure_started", "2-1-1")
    with pytest.raises(SessionExpiredError):
        session.touch()


def test_actions_are_attributed_to_the_operator(
    operators: OperatorStore, clock: StepClock
) -> None:
    operators.add("clerk01", PASSWORD)
    operators.add("clerk02", PASSWORD)
    one = operators.sign_in("clerk01", PASSWORD)
    one.record("procedure_started", "2-1-1")
    one.sign_out()
    one.sign_out()  # twice is harmless
    two = operators.sign_in("clerk02", PASSWORD)
    clock.advance(5)
    two.record("card_read")
    actions = [(e["operator_id"], e["action"]) for e in operators.events()]
    assert actions == [
        ("clerk01", "account_created"),
        ("clerk02", "account_created"),
        ("clerk01", "sign_in"),
        ("clerk01", "procedure_started"),
        ("clerk01", "sign_out"),
        ("clerk02", "sign_in"),
        ("clerk02", "card_read"),
    ]
    assert operators.events("clerk02")[-1]["at"] == "2026-11-25T09:00:05+00:00"


def test_password_never_reaches_the_log(
    operators: OperatorStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    operators.add("clerk01", PASSWORD)
    operators.sign_in("clerk01", PASSWORD)
    for wrong in ("Wrong-1-pass", "Wrong-2-pass", "Wrong-3-pass"):
        with pytest.raises(SignInRefusedError) as exc:
            operators.sign_in("clerk01", wrong)
        assert wrong not in str(exc.value)
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (PASSWORD, "Wrong-1-pass", "Wrong-2-pass", "Wrong-3-pass"):
        assert secret not in text
    assert "clerk01" in text  # the log does say who


def test_nfc_and_nfd_spellings_of_a_password_match(operators: OperatorStore) -> None:
    nfc = "パスワードです"  # with composed ド and で
    import unicodedata

    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    operators.add("clerk01", nfc)
    assert operators.sign_in("clerk01", nfd).active


def test_sign_in_from_worker_threads_is_serialised(
    tmp_path: Path, clock: StepClock
) -> None:
    db = open_operator_db(str(tmp_path / "threads.sqlite3"))
    store = OperatorStore(db, clock=clock, kdf=FAST_KDF, max_failures=100)
    store.add("clerk01", PASSWORD)
    errors: list[BaseException] = []

    def attempt(pw: str) -> None:
        try:
            store.sign_in("clerk01", pw)
        except SignInRefusedError:
            pass
        except BaseException as exc:  # anything else (e.g. sqlite thread errors) fails
            errors.append(exc)

    threads = [
        threading.Thread(target=attempt, args=(PASSWORD if i % 2 else "wrong-one",))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.events("clerk01")) == 1 + 8
    db.conn.close()


def test_store_persists_across_connections(tmp_path: Path, clock: StepClock) -> None:
    path = tmp_path / "persist.sqlite3"
    first = open_operator_db(str(path))
    OperatorStore(first, clock=clock, kdf=FAST_KDF).add("clerk01", PASSWORD)
    first.conn.close()
    again = open_operator_db(str(path))
    assert OperatorStore(again, clock=clock).operator_ids() == ["clerk01"]
    assert isinstance(again.conn, sqlite3.Connection)
    again.conn.close()


def test_an_unopenable_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        open_operator_db(str(tmp_path / "missing-dir" / "operators.sqlite3"))


def test_a_database_that_cannot_count_a_refusal_fails_closed(
    operators: OperatorStore, operator_db: Any
) -> None:
    operators.add("clerk01", PASSWORD)
    operator_db.conn.execute("PRAGMA query_only = ON")  # as a read-only file would be
    for operator_id, password in (("clerk01", "wrong-password"), ("nobody", PASSWORD)):
        with pytest.raises(SignInUnavailableError) as exc:
            operators.sign_in(operator_id, password)
        assert isinstance(exc.value, OperatorAuthError)  # the screen answers, never hangs
    with pytest.raises(SignInUnavailableError):  # nor may the right password pass
        operators.sign_in("clerk01", PASSWORD)
