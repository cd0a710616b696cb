"""The store's schema and its versioned migrations.

``PRAGMA user_version`` holds the schema version. Each migration is a function
run inside one transaction; a database from a newer madoguchi is refused rather
than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from device.store.errors import SchemaVersionError


def _v1(db: sqlite_utils.Database) -> None:
    # The chain head is its own row so the next sequence number never depends on
    # what is still in ``transactions`` (acknowledged rows may be pruned).
    db.execute(
        "CREATE TABLE chain_head (id INTEGER PRIMARY KEY CHECK (id = 1),"
        " last_seq INTEGER NOT NULL, last_hash TEXT NOT NULL) STRICT"
    )
    db.execute(
        "CREATE TABLE transactions (seq INTEGER PRIMARY KEY,"
        " transaction_id TEXT NOT NULL UNIQUE, payload TEXT NOT NULL,"
        " prev_hash TEXT NOT NULL, hash TEXT NOT NULL,"
        " created_wall TEXT NOT NULL, boot_id TEXT NOT NULL) STRICT"
    )
    db.execute(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY REFERENCES transactions(seq),"
        " transaction_id TEXT NOT NULL UNIQUE,"
        " state TEXT NOT NULL CHECK (state IN ('pending', 'acked', 'quarantined')),"
        " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, settled_wall TEXT) STRICT"
    )
    db.execute("CREATE INDEX outbox_state_seq ON outbox (state, seq)")
    db.execute(
        "CREATE TABLE uploader_status (id INTEGER PRIMARY KEY CHECK (id = 1),"
        " last_attempt TEXT, last_success TEXT, last_error TEXT,"
        " server_reachable INTEGER NOT NULL DEFAULT 0, device_revoked INTEGER NOT NULL DEFAULT 0,"
        " clock_skew_s REAL, clock_checked_boot TEXT, server_high_water INTEGER) STRICT"
    )
    db.execute("INSERT INTO uploader_status (id) VALUES (1)")


#: Migration ``n`` takes the schema from version ``n`` to ``n + 1``.
MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_v1,)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite_utils.Database) -> None:
    """Bring ``db`` to :data:`SCHEMA_VERSION`, one transaction per step."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"store schema version {version} is newer than this madoguchi ({SCHEMA_VERSION})"
        )
    for step in range(version, SCHEMA_VERSION):
        db.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[step](db)
            db.execute(f"PRAGMA user_version = {step + 1}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
