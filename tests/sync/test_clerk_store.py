"""The two stores of clerk accounts without a network in between: the server's
(:class:`sync.server.clerks.ClerkStore`, SQLite and PostgreSQL) and the counter's
(:meth:`device.operators.OperatorStore.apply_central`), joined by the wire bodies."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from device.operators import KdfParams, OperatorStore, SignInRefusedError, open_operator_db
from madoguchi.errors import ConfigError
from sync.clerk_protocol import ClerkList, SignInBatch, SignInEventBody
from sync.clerks import _account
from sync.pgcluster import PgCluster
from sync.server.clerks import ClerkStore
from sync.server.repository import SqlRepository, open_repository

FAST_KDF = KdfParams(n=2**4, r=8, p=1)
OFFICE, OTHER = "131016", "271004"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClerkStore]:
    if request.param == "sqlite":
        url = str(tmp_path / "server.sqlite3")
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database(f"k_{uuid.uuid4().hex[:12]}")
    repo: SqlRepository = open_repository(url, pool_size=2)
    repo.migrate()
    try:
        yield ClerkStore(repo.dialect, kdf=FAST_KDF)
    finally:
        repo.close()


def _counter(path: Path, **options: object) -> OperatorStore:
    return OperatorStore(open_operator_db(str(path)), **options)  # type: ignore[arg-type]


def _deliver(store: ClerkStore, counter: OperatorStore, office: str = OFFICE) -> ClerkList:
    """What the endpoint sends, through the wire encoding, written as the sync does."""
    answer = store.delivery(office, counter.central_generation())
    wire = msgspec.json.decode(msgspec.json.encode(answer), type=ClerkList)
    counter.apply_central(
        [_account(e) for e in wire.clerks], generation=wire.generation, full=wire.full
    )
    return wire


def test_generations_deliver_only_changes_and_a_restored_server_resends_all(
    store: ClerkStore, tmp_path: Path
) -> None:
    counter = _counter(tmp_path / "operators.sqlite3", central_only=True)
    assert store.generation(OFFICE) == 0
    store.add(OFFICE, "tanaka", "田中 花子", "tanaka-pass-1", actor="it")
    store.add(OFFICE, "sato", "佐藤 次郎", "sato-pass-01", actor="it")
    store.add(OTHER, "kita", "北 一郎", "kita-pass-01", actor="it")
    first = _deliver(store, counter)
    assert (first.full, first.generation, len(first.clerks)) == (True, 2, 2)
    store.revoke(OFFICE, "sato", actor="it")
    second = _deliver(store, counter)
    assert (second.full, [c.clerk_id for c in second.clerks]) == (False, ["sato"])
    assert second.clerks[0].password_hash_b64 == ""  # a revoked clerk's verifier is gone
    assert counter.operator_ids() == ["tanaka"]
    with pytest.raises(SignInRefusedError):
        counter.sign_in("sato", "sato-pass-01")
    # A counter ahead of the server (a database restored from a backup) gets the whole
    # list, and a central account the server no longer lists is revoked here.
    with counter._db.conn:
        counter._db.conn.execute(
            "UPDATE operator_sync SET value = '99' WHERE name = 'central_generation'"
        )
    counter.apply_central([], generation=99, full=False)
    store.revoke(OFFICE, "tanaka", actor="it")
    store.add(OFFICE, "ito", "伊藤 三郎", "ito-pass-001", actor="it")
    third = _deliver(store, counter)
    assert (third.full, [c.clerk_id for c in third.clerks]) == (True, ["ito"])
    assert counter.operator_ids() == ["ito"]
    counter.sign_in("ito", "ito-pass-001").sign_out()
    counter.close()


def test_bad_entries_are_refused_and_ids_never_reused(store: ClerkStore) -> None:
    for clerk_id, name, password in (
        ("田中", "田中", "long-enough-1"),
        ("-dash", "x", "long-enough-1"),
        ("a" * 33, "x", "long-enough-1"),
        ("ok1", "", "long-enough-1"),
        ("ok1", "x" * 65, "long-enough-1"),
        ("ok1", "名前\x00", "long-enough-1"),
        ("ok1", "x", "short"),
    ):
        with pytest.raises(ConfigError):
            store.add(OFFICE, clerk_id, name, password, actor="it")
    assert store.clerks(OFFICE) == []
    assert store.generation(OFFICE) == 0  # a refusal changes nothing
    store.add(OFFICE, "ok1", "一", "long-enough-1", actor="it")
    store.revoke(OFFICE, "ok1", actor="it")
    with pytest.raises(ConfigError):
        store.add(OFFICE, "ok1", "別人", "long-enough-1", actor="it")
    for change in (
        lambda: store.revoke(OFFICE, "ok1", actor="it"),
        lambda: store.reset_password(OFFICE, "ok1", "long-enough-2", actor="it"),
        lambda: store.revoke(OTHER, "ok1", actor="it"),
        lambda: store.revoke(OFFICE, "nobody", actor="it"),
    ):
        with pytest.raises(LookupError):
            change()
    # Another office may have its own clerk of the same id.
    store.add(OTHER, "ok1", "北の一", "long-enough-1", actor="it")
    assert [c.status for c in store.clerks(OTHER)] == ["active"]


def test_sign_ins_are_kept_once_per_device_and_accounts_file(store: ClerkStore) -> None:
    events = [SignInEventBody(i, "tanaka", f"2026-12-03T01:0{i}:00+00:00", "sign_in")
              for i in range(1, 4)]
    first = SignInBatch("a" * 32, events)
    assert store.store_sign_ins("dev-1", OFFICE, first, "2026-12-03T01:10:00+00:00") == 3
    assert store.store_sign_ins("dev-1", OFFICE, first, "2026-12-03T01:11:00+00:00") == 0
    # The same ids from an accounts file made again, or another counter: new events.
    again = SignInBatch("b" * 32, events[:1])
    assert store.store_sign_ins("dev-1", OFFICE, again, "2026-12-03T01:12:00+00:00") == 1
    assert store.store_sign_ins("dev-2", OFFICE, again, "2026-12-03T01:12:00+00:00") == 1
    assert len(store.sign_ins([OFFICE])) == 5
    assert store.sign_ins([OTHER]) == []
    assert store.sign_ins([]) == []


def test_central_and_local_accounts_on_one_counter(tmp_path: Path) -> None:
    path = tmp_path / "operators.sqlite3"
    local = _counter(path, kdf=FAST_KDF)
    local.add("local1", "local-pass-01")
    local.close()
    # The same file on a centrally managed counter: the local account signs in no more.
    central = _counter(path, kdf=FAST_KDF, central_only=True)
    with pytest.raises(SignInRefusedError):
        central.sign_in("local1", "local-pass-01")
    assert central.events("local1")[-1]["detail"] == "local_account"
    with pytest.raises(ConfigError, match="managed centrally"):
        central.add("local2", "local-pass-02")
    central.close()


def test_an_old_accounts_file_gains_the_central_columns(tmp_path: Path) -> None:
    path = tmp_path / "operators.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE operators (operator_id TEXT PRIMARY KEY, display_name TEXT NOT NULL,"
        " kdf TEXT NOT NULL, kdf_n INTEGER, kdf_r INTEGER, kdf_p INTEGER, salt BLOB NOT NULL,"
        " password_hash BLOB NOT NULL, failed_attempts INTEGER DEFAULT 0,"
        " locked INTEGER DEFAULT 0, locked_until TEXT, created_at TEXT)"
    )
    conn.commit()
    conn.close()
    store = _counter(path, kdf=FAST_KDF)
    store.add("clerk01", "clerk-pass-01")
    assert store.info("clerk01").source == "local"
    store.sign_in("clerk01", "clerk-pass-01").sign_out()
    assert [e.action for e in store.pending_sign_ins()] == ["sign_in", "sign_out"]
    store.mark_sign_ins_sent(10**6)
    store.mark_sign_ins_sent(1)  # the mark never moves back
    assert store.pending_sign_ins() == []
    store.close()


def test_the_operators_source_is_checked_and_central_refuses_operator_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from madoguchi.cli import main
    from madoguchi.config import load_config

    config = tmp_path / "madoguchi.toml"
    config.write_text('[operators]\nsource = "centrl"\n')
    with pytest.raises(ConfigError, match=r"\[operators\] source must be one of local, central"):
        load_config(config)
    config.write_text('[operators]\nsource = "central"\n')
    assert load_config(config).operators.central
    monkeypatch.setenv("MADOGUCHI_CONFIG", str(config))
    monkeypatch.setattr("sys.stdin", io.StringIO("clerk-pass-01\n"))
    assert main(["operator", "add", "clerk01", "--password-stdin"]) != 0
    assert "managed centrally" in capsys.readouterr().err
    assert main(["operator", "list"]) == 0
    assert capsys.readouterr().out == ""  # nothing was made


def test_an_odd_event_never_holds_back_the_others() -> None:
    from sync.clerks import _clean_detail, _clean_id

    assert _clean_id("tanaka") == "tanaka"
    assert _clean_id("田中") == ""
    assert _clean_id("x" * 40) == ""
    assert _clean_detail("wrong_password 1/5") == "wrong_password 1/5"
    assert _clean_detail("理由\x00" + "y" * 80) == "???" + "y" * 61
    body = SignInEventBody(1, _clean_id("田中"), "2026-12-03T01:00:00+00:00", "sign_in",
                           _clean_detail("理由\x00"))
    decoded = msgspec.json.decode(
        msgspec.json.encode(SignInBatch("c" * 32, [body])), type=SignInBatch
    )
    assert decoded.events[0].clerk_id == ""
