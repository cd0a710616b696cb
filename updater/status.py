"""What the device's updater did last, kept on disk and reported to the server.

``status.json`` holds the last state (``idle``, ``downloaded``, ``deferred``,
``installed``, ``committed``, ``rolled_back``, ``failed``) with the version,
reason and a short history; ``madoguchi update status`` prints it. Every state
change is also appended to ``reports.jsonl``, an outbox the poller sends to
the server and empties only after the server accepted it — a report made just
before a crash or a rollback is not lost (hawkBit/suricatta's lesson).
``pending.json`` exists only while an install is between "started" and
"committed or rolled back"; recovery after power loss reads it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from updater.fsutil import atomic_write

__all__ = ["STATES", "StatusStore"]

STATES = ("idle", "downloaded", "deferred", "installed", "committed", "rolled_back", "failed")
_HISTORY = 20


class StatusStore:
    """The updater's files in ``<state dir>/update``."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "update"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.status_file = self.dir / "status.json"
        self.pending_file = self.dir / "pending.json"
        self.reports_file = self.dir / "reports.jsonl"
        self.bad_file = self.dir / "bad-versions.json"
        self.downloads = self.dir / "downloads"

    def read(self) -> dict[str, Any]:
        """The last recorded status (``{"state": "idle"}`` when there is none)."""
        try:
            data: dict[str, Any] = json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return {"state": "idle", "history": []}
        return data

    def record(
        self, state: str, *, version: str | None = None, reason: str = "", **extra: Any
    ) -> None:
        """Store a new state and queue it for the server."""
        if state not in STATES:
            raise ValueError(f"unknown update state {state!r}")
        event = {
            "state": state,
            "version": version,
            "reason": reason,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            **extra,
        }
        current = self.read()
        history = [*current.get("history", []), event][-_HISTORY:]
        atomic_write(self.status_file, json.dumps({**event, "history": history}, indent=1).encode())
        with self.reports_file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(event, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def pending_reports(self) -> list[dict[str, Any]]:
        """Reports not yet accepted by the server (a torn last line is skipped)."""
        try:
            lines = self.reports_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        reports = []
        for line in lines:
            try:
                reports.append(json.loads(line))
            except ValueError:
                continue
        return reports

    def drop_reports(self, count: int) -> None:
        """Forget the first ``count`` reports (the server has them)."""
        rest = self.pending_reports()[count:]
        atomic_write(
            self.reports_file, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rest).encode()
        )

    def read_pending(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.pending_file.read_text())
        except (OSError, ValueError):
            return None
        return data

    def write_pending(self, **data: Any) -> None:
        atomic_write(self.pending_file, json.dumps(data, sort_keys=True).encode())

    def clear_pending(self) -> None:
        self.pending_file.unlink(missing_ok=True)

    def bad_versions(self) -> set[str]:
        """Versions that failed their health check here; polling skips them."""
        try:
            return set(json.loads(self.bad_file.read_text()))
        except (OSError, ValueError):
            return set()

    def mark_bad(self, version: str) -> None:
        atomic_write(self.bad_file, json.dumps(sorted({*self.bad_versions(), version})).encode())
