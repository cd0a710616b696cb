"""Staged rollouts and the fleet: the bodies of their requests and answers, and the rules.

IT starts a rollout of a release on a channel for a list of offices and/or a percentage
of counters; a counter is in it when its office is listed or when its **bucket** (a hash
of its device id, 0-99, the same for every rollout, so a counter never flips in and out
while a rollout widens) is below the percentage. IT widens it (more offices, a higher
percentage), halts, resumes or aborts it, or completes it (the release becomes the
channel's release for everyone on that platform).

A rollout **halts by itself** when :attr:`Rollout.halt_failures` distinct counters (2
unless IT says otherwise) report that the rollout's version failed on them: ``rolled_back``
(its health check failed, or someone went back on purpose) or ``failed`` naming the
version (refused or failed to install). A halted rollout is offered to no new counter;
a counter already running its version keeps being told so (it is up to date), and so
does one of an aborted rollout, until a newer release supersedes it.

The request and answer bodies are msgspec Structs so the server's OpenAPI document can
be generated from them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from updater.wire import FleetDevice

__all__ = [
    "DEFAULT_HALT_FAILURES",
    "FAILING_STATES",
    "ROLLOUT_ACTIONS",
    "FleetDevice",
    "Rollout",
    "RolloutChange",
    "RolloutStart",
    "StatusPost",
    "bucket",
    "is_member",
]

#: Distinct counters whose failure halts a rollout, unless IT names another number.
DEFAULT_HALT_FAILURES = 2
#: Report states that count against a rollout when they name its version.
FAILING_STATES = frozenset({"rolled_back", "failed"})
#: What IT may do to a rollout (``POST /rollouts/<id>/<action>``).
ROLLOUT_ACTIONS = ("widen", "halt", "resume", "abort", "complete")
#: Rollout states: offered to its counters; stopped (by itself or IT); given up; made the
#: channel's release; overtaken by a newer release published on the channel.
ROLLOUT_STATES = ("active", "halted", "aborted", "complete", "superseded")


class StatusPost(msgspec.Struct, forbid_unknown_fields=False):
    """``POST /devices/<id>/status``: the updater's unsent reports, and what the counter
    is now (sent on every poll, so the fleet knows its last contact and its backlog)."""

    reports: list[dict[str, Any]] = msgspec.field(default_factory=list)
    #: The version ``current`` points at.
    running: str | None = None
    channel: str | None = None
    #: ``machine/python``, as :class:`updater.manifest.Platform` prints it.
    platform: str | None = None
    #: Records in the counter's outbox not yet acknowledged by the server, and quarantined.
    backlog: int | None = None
    quarantined: int | None = None


class RolloutStart(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /rollouts``: a signed pointer to a published bundle, and to whom."""

    channel: str
    #: The channel pointer as IT signed it (``{"signed": ..., "signature": ...}``).
    pointer: dict[str, Any]
    offices: list[str] = msgspec.field(default_factory=list)
    percent: int = 0
    halt_failures: int = DEFAULT_HALT_FAILURES


class RolloutChange(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /rollouts/<id>/<action>``: for ``widen``, offices added and the new
    percentage (never lower); a reason for the audit."""

    offices: list[str] = msgspec.field(default_factory=list)
    percent: int | None = None
    reason: str = ""


class Rollout(msgspec.Struct):
    """A staged rollout as IT and the console see it."""

    rollout_id: int
    channel: str
    platform: str
    version: str
    bundle: str
    offices: list[str]
    percent: int
    state: str
    halt_failures: int
    halted_reason: str
    failures: int
    created_at: str
    updated_at: str


def bucket(device_id: str) -> int:
    """The counter's place 0-99 in every percentage rollout (a hash of its id)."""
    digest = hashlib.sha256(device_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


def is_member(device_id: str | None, office: str | None, offices: list[str], percent: int) -> bool:
    """Whether a counter is among a rollout's counters."""
    if office is not None and office in offices:
        return True
    return device_id is not None and bucket(device_id) < percent


def health_of(state: str) -> str:
    """The fleet's one word for a counter's last update state."""
    if state in FAILING_STATES:
        return "failing"
    if state in ("committed", "installed", "downloaded", "deferred", "idle"):
        return "ok"
    return "unknown"
