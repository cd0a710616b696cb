"""Versioned migrations (``madoguchi server migrate``), a runtime role without DDL, the open
``/healthz`` and ``/readyz`` probes, and a server that does not serve on a schema behind
its own, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from device.store import GENESIS_HASH, record_hash
from sync import pki
from sync.client import tls_context
from sync.server.migrations import MIGRATIONS, SCHEMA_VERSION
from sync.server.repository import Dialect, PostgresDialect, open_repository
from tests.sync.conftest import PYTHONPATH, ROOT, ServerProcess
from tests.sync.sync_support import make_record

RUNTIME_ROLE = "madoguchi_runtime"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": PYTHONPATH},
        capture_output=True, text=True, check=False, timeout=120,
    )


def _open_client(server: ServerProcess) -> httpx.Client:
    """No client certificate, no token: what a load balancer's health check has."""
    return httpx.Client(
        base_url=server.url, verify=tls_context(server.pki_dir / pki.CA_CERT), timeout=10.0
    )


def _wait_for(predicate: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_migrate_makes_the_schema_once_and_says_so(db_url: str) -> None:
    first = _cli("server", "migrate", "--db", db_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"schema migrated from version 0 to {SCHEMA_VERSION}\n"
    again = _cli("server", "migrate", "--db", db_url)
    assert (again.returncode, again.stdout) == (0, f"schema already at version {SCHEMA_VERSION}\n")
    repo = open_repository(db_url)
    try:
        assert repo.schema_version() == SCHEMA_VERSION
        assert repo.readiness() is None
    finally:
        repo.close()


def test_a_version_1_database_is_migrated_keeping_its_data(db_url: str) -> None:
    # A database as the first release left it: migration 1 only, with a registry entry.
    repo = open_repository(db_url)
    try:
        with repo._transaction() as cur:
            cur.execute("CREATE TABLE schema_info (version INTEGER NOT NULL)")
            cur.execute("INSERT INTO schema_info (version) VALUES (1)")
            for statement in MIGRATIONS[0].statements(repo.dialect):
                cur.execute(statement)
            cur.execute(repo._q(
                "INSERT INTO card_status (card_id, status, reason, updated_at)"
                " VALUES (?, ?, ?, ?)"
            ), ["card-1", "suspended", "lost", "2026-01-05T00:00:00+00:00"])
        assert repo.readiness() == (
            f"the database schema is version 1, this server needs {SCHEMA_VERSION}:"
            " run `madoguchi server migrate` as the schema's owner"
        )
        assert repo.migrate() == (1, SCHEMA_VERSION)
        assert repo.readiness() is None
        entry = repo.card_status("card-1")
        assert entry is not None
        assert (entry.status, entry.detail, entry.office_code) == ("suspended", "lost", None)
        assert repo.registry_audit(None) == []
    finally:
        repo.close()


def test_a_server_on_a_schema_behind_is_alive_not_ready_and_serves_nothing(
    db_url: str, server_pki: Path, tmp_path: Path
) -> None:
    server = ServerProcess(db_url, server_pki, tmp_path / "it", migrate=False)
    server.start()
    try:
        with _open_client(server) as anyone, server.it_client() as it:
            assert anyone.get("/healthz").json() == {"alive": True}
            ready = anyone.get("/readyz")
            assert ready.status_code == 503
            reason = ready.json()["reason"]
            assert "no madoguchi schema" in reason
            assert "run `madoguchi server migrate`" in reason
            refused = it.get("/v1/registry/audit")
            assert refused.status_code == 503
            assert refused.json() == {"error": "not_ready", "detail": reason}
            # the administration commands say the same in one line, exit 2
            token = _cli("server", "enrol-token", "--db", db_url, "--device-id", "c-1",
                         "--office", "131016")
            assert token.returncode == 2
            assert token.stderr == f"madoguchi: {reason}\n"
            # IT migrates; the running server becomes ready by itself, no restart
            assert _cli("server", "migrate", "--db", db_url).returncode == 0
            assert _wait_for(lambda: anyone.get("/readyz").status_code == 200)
            assert anyone.get("/readyz").json() == {"ready": True}
            assert _wait_for(lambda: it.get("/v1/registry/audit").status_code == 200)
    finally:
        server.stop()


def test_probes_are_open_and_answer_nothing_else(server: ServerProcess) -> None:
    with _open_client(server) as anyone:
        assert anyone.get("/healthz").status_code == 200
        assert anyone.get("/readyz").json() == {"ready": True}
        # the rest still asks who is calling
        assert anyone.get("/v1/time").status_code == 401
        assert anyone.post("/healthz").status_code == 401  # a method it does not serve


@pytest.fixture
def pg_runtime(pg_cluster: Any) -> tuple[str, str]:
    """A fresh database owned by ``postgres`` and the URL of a runtime role on it that
    may log in and nothing more (no CREATE on the database or its schema)."""
    name = f"rt_{uuid.uuid4().hex[:12]}"
    owner_url = pg_cluster.create_database(name)
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", [RUNTIME_ROLE]
        ).fetchone()
        if exists is None:
            admin.execute(f"CREATE ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
    with psycopg.connect(owner_url, autocommit=True) as owner:
        owner.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        owner.execute(f"REVOKE CREATE, TEMPORARY ON DATABASE {name} FROM PUBLIC")
    runtime_url = owner_url.replace("postgresql://postgres@", f"postgresql://{RUNTIME_ROLE}@")
    return owner_url, runtime_url


def test_the_runtime_role_needs_no_ddl_on_postgresql(
    pg_runtime: tuple[str, str], server_pki: Path, tmp_path: Path
) -> None:
    owner_url, runtime_url = pg_runtime
    with psycopg.connect(runtime_url, autocommit=True) as runtime, pytest.raises(
        psycopg.errors.InsufficientPrivilege
    ):
        runtime.execute("CREATE TABLE probe (x int)")
    # The runtime role cannot make the schema: a clear refusal, nothing half made.
    refused = _cli("server", "migrate", "--db", runtime_url)
    assert refused.returncode == 2
    assert refused.stderr.startswith("madoguchi: database error: permission denied")
    assert "run `madoguchi server migrate` as the schema's owner" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    # The owner migrates and grants the runtime role what it needs at run time.
    done = _cli("server", "migrate", "--db", owner_url, "--grant", RUNTIME_ROLE)
    assert done.returncode == 0, done.stderr
    assert f"{RUNTIME_ROLE} may now read and write the tables (no DDL)" in done.stdout
    # A second migrate by the runtime role has nothing to do, so needs no privilege.
    again = _cli("server", "migrate", "--db", runtime_url)
    assert (again.returncode, again.stdout) == (0, f"schema already at version {SCHEMA_VERSION}\n")
    # The server runs as the runtime role: enrolment, ingest, reports, probes.
    server = ServerProcess(runtime_url, server_pki, tmp_path / "it", migrate=False)
    server.start()
    try:
        with _open_client(server) as anyone:
            assert anyone.get("/readyz").json() == {"ready": True}
        tls = tmp_path / "device"
        device = server.enrol(tls)
        with server.client(tls) as client:
            answer = client.post("/v1/batches", json={"records": _items(3)},
                                 headers={"Idempotency-Key": "k-1"})
            assert answer.status_code == 200, answer.text
            assert [r["status"] for r in answer.json()["results"]] == ["accepted"] * 3
            assert client.get("/v1/devices/me").json()["device_id"] == device
    finally:
        server.stop()
    _console_as_runtime_role(runtime_url)
    with psycopg.connect(runtime_url, autocommit=True) as runtime:
        assert runtime.execute("SELECT count(*) FROM records").fetchone() == (3,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            runtime.execute("ALTER TABLE records ADD COLUMN probe TEXT")


def _console_as_runtime_role(runtime_url: str) -> None:
    """The office console on the runtime role: accounts, sign-in, sessions, offices, the
    report and the audit all work without DDL (migration 4 made its tables)."""
    import pyotp

    from sync.server.authz import Role
    from sync.server.console.serve import open_console_store

    store = open_console_store(runtime_url)
    try:
        added = store.add_staff("kato", "加藤", Role.ADMINISTRATOR, "a long enough password",
                                [make_record(1).office_code], actor="test")
        now = time.time()
        staff = store.sign_in("kato", "a long enough password",
                              pyotp.TOTP(added.totp_secret).now(), now)
        assert staff is not None
        token, _ = store.open_session("kato", now)
        assert store.session(token, now) is not None
        store.set_office_name(staff.offices[0], "本庁舎", actor="test")
        day = make_record(1).completed_at[:10]
        repo = open_repository(runtime_url)
        try:
            expected = repo.daily_report(day, staff.offices[0])
        finally:
            repo.close()
        assert expected
        assert store.report(day, day, staff.offices) == expected
        assert [a.action for a in store.audit(None)][:2] == ["office_named", "signed_in"]
    finally:
        store.close()


def _items(count: int) -> list[dict[str, Any]]:
    """A device's first ``count`` records as one chained batch."""
    items, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        payload = make_record(seq).to_payload()
        item = {"seq": seq, "transaction_id": payload["transaction_id"], "prev_hash": prev,
                "hash": record_hash(seq, prev, payload), "payload": payload}
        items.append(item)
        prev = str(item["hash"])
    return items


def test_grant_is_refused_on_sqlite(tmp_path: Path) -> None:
    refused = _cli("server", "migrate", "--db", str(tmp_path / "s.sqlite3"), "--grant", "x")
    assert refused.returncode == 2
    assert refused.stderr == "madoguchi: --grant names a PostgreSQL role; SQLite has no roles\n"


def test_postgresql_keeps_a_pool_of_connections(pg_cluster: Any, tmp_path: Path) -> None:
    url = pg_cluster.create_database(f"pool_{uuid.uuid4().hex[:12]}")
    repo = open_repository(url, pool_size=4)
    try:
        assert isinstance(repo.dialect, PostgresDialect)
        repo.migrate()
        # Four transactions open at once each hold their own connection (one connection
        # behind a lock would deadlock here: the fourth would wait on the first).
        import contextlib

        with contextlib.ExitStack() as stack:
            pids = {
                stack.enter_context(repo._transaction()).connection.info.backend_pid
                for _ in range(4)
            }
        assert len(pids) == 4
        assert repo.dialect._pool.get_stats()["pool_max"] == 4
    finally:
        repo.close()
    # A file in tmp_path: ":memory:" is not a URL the repository knows, and would be a
    # file of that name in the working directory.
    sqlite = open_repository(str(tmp_path / "one.sqlite3"))
    try:
        assert type(sqlite.dialect) is Dialect  # SQLite: one connection behind a lock
    finally:
        sqlite.close()
