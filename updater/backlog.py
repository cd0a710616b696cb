"""The counter's unsent records, as the updater reports them to the fleet view.

The uploader knows its backlog (``STATUS=`` of ``madoguchi-sync``); the updater runs as
root in another unit, so it reads the same two counts from the store, read-only, as the
self-test opens it (``updater.selftest``). A store that is missing or unreadable gives
no figure (None), never an error: the update poll does not depend on it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["outbox_backlog"]


def outbox_backlog(store: Path) -> tuple[int, int] | None:
    """(records waiting to be acknowledged, quarantined) in the store's outbox, or None."""
    if not store.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            rows = dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    except sqlite3.Error:
        return None
    return int(rows.get("pending", 0)), int(rows.get("quarantined", 0))
