"""What the device's updater did last, kept on disk and reported to the server.

``status.json`` holds the last state (``idle``, ``downloaded``, ``deferred``,
``installed``, ``committed``, ``rolled_back``, ``failed``) with the version,
reason and a short history; ``madoguchi update status`` prints it. Every state
change is also appended to ``reports.jsonl``, an outbox the poller sends to
the server and empties only after the server accepted it — a report made just
before a crash or a rollback is not lost (hawkBit/suricatta's lesson).
``pending.json`` exists only while an install is between "started" and
"committed or rolled back"; recovery after power loss reads it.

All of it lives in the updater's own directory (:mod:`updater.statedir`), which
only root can change, and is still validated when read back: a ``pending.json``
whose versions are not PEP 440 names, or whose phase is unknown, is refused
(issue 13: a planted ``"previous": "../../../var/lib/madoguchi/evil"``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from updater.errors import BundleRejectedError
from updater.manifest import parse_version
from updater.statedir import PrivateDir, UnsafeStateError

__all__ = ["PHASES", "STATES", "StatusStore"]

STATES = ("idle", "downloaded", "deferred", "installed", "committed", "rolled_back", "failed")
#: The steps of an install recorded in ``pending.json``.
PHASES = ("install", "switch", "check", "rollback")
_HISTORY = 20


def _load(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _valid_version(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_version(value)
    except BundleRejectedError:
        return False
    return True


class StatusStore:
    """The updater's files in its own private directory ``update_dir``."""

    def __init__(self, update_dir: Path) -> None:
        self.private = PrivateDir(update_dir)
        self.dir = self.private.path
        self.status_file = self.dir / "status.json"
        self.pending_file = self.dir / "pending.json"
        self.reports_file = self.dir / "reports.jsonl"
        self.bad_file = self.dir / "bad-versions.json"
        self.downloads_dir = self.private.subdir("downloads")
        self.downloads = self.downloads_dir.path

    def read(self) -> dict[str, Any]:
        """The last recorded status (``{"state": "idle"}`` when there is none)."""
        data = _load(self.private.read("status.json"))
        if not isinstance(data, dict) or data.get("state") not in STATES:
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
        self.private.write(
            "status.json", json.dumps({**event, "history": history}, indent=1).encode()
        )
        self.private.append("reports.jsonl", (json.dumps(event, sort_keys=True) + "\n").encode())

    def pending_reports(self) -> list[dict[str, Any]]:
        """Reports not yet accepted by the server (a torn last line is skipped)."""
        raw = self.private.read("reports.jsonl")
        if raw is None:
            return []
        reports = []
        for line in raw.decode("utf-8", "replace").splitlines():
            try:
                report = json.loads(line)
            except ValueError:
                continue
            if isinstance(report, dict):
                reports.append(report)
        return reports

    def drop_reports(self, count: int) -> None:
        """Forget the first ``count`` reports (the server has them)."""
        rest = self.pending_reports()[count:]
        self.private.write(
            "reports.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rest).encode()
        )

    def read_pending(self) -> dict[str, Any] | None:
        """The install in progress, validated; None when there is none.

        Raises :class:`UnsafeStateError` for a ``pending.json`` that does not
        parse as one the updater wrote (unknown phase, a version that is no PEP 440
        name): recovery must not act on it.
        """
        raw = self.private.read("pending.json")
        if raw is None:
            return None
        data = _load(raw)
        if not isinstance(data, dict):
            raise UnsafeStateError("pending.json does not parse")
        if data.get("phase") not in PHASES:
            raise UnsafeStateError(f"pending.json names an unknown phase {data.get('phase')!r}")
        if not _valid_version(data.get("version")):
            raise UnsafeStateError(f"pending.json names a bad version {data.get('version')!r}")
        previous = data.get("previous")
        if previous is not None and not _valid_version(previous):
            raise UnsafeStateError(f"pending.json names a bad previous version {previous!r}")
        if not isinstance(data.get("reason", ""), str):
            raise UnsafeStateError("pending.json has a bad reason")
        return data

    def write_pending(self, **data: Any) -> None:
        self.private.write("pending.json", json.dumps(data, sort_keys=True).encode())

    def clear_pending(self) -> None:
        self.private.unlink("pending.json")

    def bad_versions(self) -> set[str]:
        """Versions that failed their health check here; polling skips them."""
        data = _load(self.private.read("bad-versions.json"))
        if not isinstance(data, list):
            return set()
        return {v for v in data if _valid_version(v)}

    def mark_bad(self, version: str) -> None:
        self.private.write(
            "bad-versions.json", json.dumps(sorted({*self.bad_versions(), version})).encode()
        )

    def read_json(self, name: str) -> Any:
        """Another state file of the updater's (the key list, pointer serials), parsed."""
        return _load(self.private.read(name))

    def write_json(self, name: str, data: Any) -> None:
        self.private.write(name, json.dumps(data, sort_keys=True).encode())
