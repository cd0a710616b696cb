"""The update delivery's state in the server's database, shared by every server host.

Channels (one release per channel and platform, with IT's signed pointer), the key list,
staged rollouts, the fleet's reports and the audit of IT's changes are rows (migration 9
of :mod:`sync.server.migrations`), on SQLite or PostgreSQL through the server's
:class:`~sync.server.repository.Dialect` and its pool; any number of server processes on
any number of hosts serve the same answers. Bundles are files in one shared directory,
served as static files (HTTP Range): a publish writes the verified file under its final
name atomically (fsync, rename, directory fsync) *before* the row that offers it, so a
kill -9 in between leaves an unoffered file that the next publish of the same bundle
takes over, never a row naming a missing or partial file.

Each process keeps a channel's releases and open rollouts in memory with the channel's
**generation**, bumped in the same transaction as every change to the channel (a release,
a pointer, a rollout and its state). On SQLite a poll reads that one row and re-reads the
channel only when it moved. On PostgreSQL the bump also ``NOTIFY``s the channel's name
(delivered to every listening process, on every host, when the change commits): a thread
per process ``LISTEN``s and drops what it held for that channel, so a poll costs no query
at all while the listener is connected; while it is not (PostgreSQL restarted), polls fall
back to the generation row.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from updater.bundle import sha256_file, verify_bundle
from updater.errors import BundleRejectedError
from updater.fsutil import fsync_dir
from updater.manifest import ANY, Platform, parse_version
from updater.rollout import (
    FAILING_STATES,
    FleetDevice,
    Rollout,
    RolloutChange,
    RolloutStart,
    StatusPost,
    health_of,
    is_member,
)
from updater.trust import TrustedKeys, TrustRejectedError, verify_pointer

if TYPE_CHECKING:
    from sync.server.repository import Dialect

__all__ = ["Offer", "RolloutRefusedError", "UpdateStore", "rollout_store"]

log = logging.getLogger(__name__)

#: The generation row of the key list (a channel name never has a colon).
_KEYS = ":keys"
#: The PostgreSQL notification channel of changes (the payload is the channel name).
NOTIFY_CHANNEL = "madoguchi_updates"


class RolloutRefusedError(Exception):
    """IT asked for something a rollout cannot do (422 with the reason), or for a rollout
    that does not exist (``missing``: 404)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Offer:
    """What a counter is told is latest: the exact bytes to answer, and the platform."""

    body: bytes
    platform: str
    version: str
    rollout_id: int | None = None


@dataclass(frozen=True)
class _Release:
    platform: str
    version: str
    bundle: str
    size: int
    sha256: str
    pointer: str | None
    pointer_version: str | None

    @property
    def offered_version(self) -> str:
        return self.pointer_version or self.version

    def answer(self) -> bytes:
        if self.pointer is not None:
            return self.pointer.encode()  # exactly as IT signed it
        return json.dumps({
            "version": self.version, "bundle": self.bundle, "size": self.size,
            "sha256": self.sha256, "platform": self.platform,
        }).encode()


@dataclass(frozen=True)
class _OpenRollout:
    rollout_id: int
    platform: str
    version: str
    pointer: str
    offices: list[str]
    percent: int
    state: str


@dataclass(frozen=True)
class _Channel:
    releases: list[_Release]
    rollouts: list[_OpenRollout]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def platform_key(platform: Platform | None) -> str:
    """How a platform is written in the rows: ``aarch64/cp311``, ``any/any``."""
    return str(platform or Platform())


def fits(release_platform: str, wanted: str | None) -> bool:
    """Whether a release built for ``release_platform`` runs on ``wanted`` (None: the
    counter did not say, an older updater: every release is a candidate)."""
    if wanted is None:
        return True
    have = release_platform.split("/")
    want = wanted.split("/")
    if len(have) != 2 or len(want) != 2:
        return False
    return all(h in (ANY, w) for h, w in zip(have, want, strict=True))


def _newer(version: str, than: str | None) -> bool:
    return than is None or parse_version(version) > parse_version(than)


class UpdateStore:
    """IT's releases, pointers, key list and rollouts, and the fleet, in the database."""

    def __init__(
        self,
        database: Dialect,
        bundles: Path,
        root_keys: dict[str, Ed25519PublicKey],
        *,
        listen: bool = True,
    ) -> None:
        self.db = database
        self.bundles = bundles
        self.root_keys = root_keys
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, Any]] = {}
        #: True while this process hears every change (PostgreSQL LISTEN).
        self._listening = False
        #: Counts every drop: a load that raced with one is not kept.
        self._drops = 0
        self._stop = threading.Event()
        if listen and database.name == "postgresql":
            threading.Thread(target=self._listen, name="update-notify", daemon=True).start()

    def close(self) -> None:
        """Stop listening for changes."""
        self._stop.set()

    def _database_closed(self) -> bool:
        """The server closed its pool: this store is done (no listener outlives it)."""
        pool = getattr(self.db, "_pool", None)
        return bool(getattr(pool, "closed", False))

    def _listen(self) -> None:
        """Drop a channel's cached state whenever any process on any host changes it."""
        import psycopg

        while not self._stop.is_set() and not self._database_closed():
            try:
                with psycopg.connect(self.db.target, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    with self._lock:  # what was read before LISTEN may have missed one
                        self._cache.clear()
                        self._drops += 1
                        self._listening = True
                    while not self._stop.is_set() and not self._database_closed():
                        for note in conn.notifies(timeout=5.0):
                            with self._lock:
                                self._cache.pop(note.payload, None)
                                self._drops += 1
            except psycopg.Error as exc:
                log.warning("update change notifications lost, polls read the database: %s", exc)
            with self._lock:
                self._listening = False
                self._cache.clear()
                self._drops += 1
            self._stop.wait(1.0)

    # -- plumbing -------------------------------------------------------------

    def _q(self, text: str) -> str:
        return self.db.sql(text)

    def _locking(self, text: str) -> str:
        """A SELECT of rows this transaction changes, locked (``FOR UPDATE`` on PostgreSQL)."""
        return self._q(text + self.db.for_update)

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self.db.transaction() as cur:
            yield cur

    def _read(self) -> AbstractContextManager[Any]:
        """A cursor on an autocommit connection: one round trip per statement."""
        return self.db.read()

    def _bump(self, cur: Any, channel: str) -> None:
        cur.execute(self._q(
            "INSERT INTO update_generations (channel, generation) VALUES (?, 1)"
            " ON CONFLICT (channel) DO UPDATE SET generation = update_generations.generation + 1"
        ), [channel])
        if self.db.name == "postgresql":  # delivered to every listener when this commits
            cur.execute(self._q("SELECT pg_notify(?, ?)"), [NOTIFY_CHANNEL, channel])

    def _audit(self, cur: Any, actor: str, action: str, channel: str, detail: Any) -> None:
        cur.execute(self._q(
            "INSERT INTO update_audit (at, actor, action, channel, detail) VALUES (?, ?, ?, ?, ?)"
        ), [_now(), actor, action, channel, json.dumps(detail, sort_keys=True)])

    def _cached(self, key: str, load: Any) -> Any:
        """``load(cur)`` of ``key``, re-run only when its generation moved (when this
        process is listening: only when a notification dropped it)."""
        with self._lock:
            if self._listening and key in self._cache:
                return self._cache[key][1]
            drops = self._drops
        with self._read() as cur:
            cur.execute(
                self._q("SELECT generation FROM update_generations WHERE channel = ?"), [key]
            )
            row = cur.fetchone()
            generation = int(row[0]) if row else 0
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and hit[0] == generation:
                return hit[1]
            value = load(cur)
        with self._lock:
            held = self._cache.get(key)
            fresh = self._drops == drops or not self._listening
            if fresh and (held is None or held[0] <= generation):
                self._cache[key] = (generation, value)
        return value

    # -- key list -------------------------------------------------------------

    def key_list_text(self) -> str | None:
        """The published key list as IT signed it, or None."""

        def load(cur: Any) -> str | None:
            cur.execute("SELECT doc FROM update_key_list WHERE id = 1")
            row = cur.fetchone()
            return str(row[0]) if row else None

        text: str | None = self._cached(_KEYS, load)
        return text

    def trusted(self) -> TrustedKeys:
        """IT's root keys with the published key list on top (when there is one)."""
        roots = TrustedKeys(self.root_keys)
        text = self.key_list_text()
        if text is None:
            return roots
        try:
            return roots.adopt(json.loads(text))
        except TrustRejectedError as exc:  # e.g. the root keys were replaced since
            log.warning("published key list not used: %s", exc)
            return roots

    def put_key_list(self, doc: Any, actor: str) -> dict[str, Any]:
        """Take a key list signed by a root key whose serial is not lower than the held one."""
        adopted = self.trusted().adopt(doc)
        if adopted.key_list is None:
            raise TrustRejectedError("malformed", "the key list was not taken")
        serial = adopted.key_list.serial
        with self._write() as cur:
            cur.execute(self._locking("SELECT serial FROM update_key_list WHERE id = 1"))
            row = cur.fetchone()
            if row is not None and int(row[0]) > serial:  # another host took a newer one
                raise TrustRejectedError(
                    "replayed", f"the key list's serial {serial} is older than {row[0]}"
                )
            cur.execute(self._q(
                "INSERT INTO update_key_list (id, serial, doc) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET serial = excluded.serial, doc = excluded.doc"
            ), [serial, json.dumps(doc)])
            self._bump(cur, _KEYS)
            self._audit(cur, actor, "key-list", "", {"serial": serial})
        return {"serial": serial, "keys": sorted(adopted.key_list.keys)}

    # -- bundles and releases -------------------------------------------------

    def bundle_path(self, name: str) -> Path:
        """Where bundle ``name`` is (or would be) in the shared directory."""
        return self.bundles / name

    def publish(
        self, upload: Path, name: str, channel: str, actor: str, *, stage: bool = False
    ) -> dict[str, Any]:
        """Verify an uploaded bundle, put it under its name, and (unless ``stage``: kept
        for a rollout only) make it the channel's unsigned entry for its platform."""
        verified = verify_bundle(upload, self.trusted().for_role("bundle"), None)
        version = verified.manifest.version
        if name != f"madoguchi-{version}.bundle":
            raise BundleRejectedError("malformed", f"{name} does not match version {version}")
        digest = sha256_file(upload)
        size = upload.stat().st_size
        platform = platform_key(verified.manifest.platform)
        with self._read() as cur:
            cur.execute(self._q("SELECT sha256 FROM update_bundles WHERE name = ?"), [name])
            row = cur.fetchone()
        if row is not None and row[0] != digest:
            # counters hold pointers to the bytes already published under this name
            raise BundleRejectedError(
                "malformed", f"{name} is already published with other content; build a new version"
            )
        self.bundles.mkdir(parents=True, exist_ok=True)
        with upload.open("rb") as handle:
            os.fsync(handle.fileno())
        final = self.bundles / name
        os.replace(upload, final)  # the file first, whole, under its name ...
        fsync_dir(self.bundles)
        now = _now()
        release = {
            "version": version, "bundle": name, "size": size, "sha256": digest,
            "platform": platform,
        }
        with self._write() as cur:  # ... then the row that offers it
            cur.execute(self._q(
                "INSERT INTO update_bundles (name, version, platform, size, sha256, published_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING"
            ), [name, version, platform, size, digest, now])
            if not stage:
                cur.execute(self._q(
                    "INSERT INTO update_releases (channel, platform, version, bundle, size,"
                    " sha256, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (channel, platform) DO UPDATE SET version = excluded.version,"
                    " bundle = excluded.bundle, size = excluded.size, sha256 = excluded.sha256,"
                    " published_at = excluded.published_at"
                ), [channel, platform, version, name, size, digest, now])
                self._bump(cur, channel)
            self._audit(cur, actor, "stage-bundle" if stage else "publish", channel, release)
        return release

    def _bundle_row(self, cur: Any, name: str) -> tuple[str, int, str] | None:
        cur.execute(
            self._q("SELECT platform, size, sha256 FROM update_bundles WHERE name = ?"), [name]
        )
        row = cur.fetchone()
        return (str(row[0]), int(row[1]), str(row[2])) if row else None

    def _checked_pointer(self, cur: Any, trusted: TrustedKeys, channel: str, doc: Any) -> Any:
        """A pointer verified against IT's keys whose bundle is published as it says
        (``trusted`` is read before the write transaction: SQLite has one connection)."""
        pointer = verify_pointer(doc, trusted, channel=channel)
        bundle = self._bundle_row(cur, pointer.bundle)
        if bundle is None or not (self.bundles / pointer.bundle).is_file():
            raise TrustRejectedError("malformed", f"no bundle {pointer.bundle} is published")
        if bundle[1] != pointer.size or bundle[2] != pointer.sha256:
            raise TrustRejectedError("malformed", f"{pointer.bundle} does not match the pointer")
        return pointer, bundle[0]

    def put_pointer(self, channel: str, doc: Any, actor: str) -> dict[str, Any]:
        """Take IT's signed pointer for a channel: it becomes the release of its bundle's
        platform; rollouts of that platform it catches up with are superseded."""
        text = json.dumps(doc)
        trusted = self.trusted()
        with self._write() as cur:
            pointer, platform = self._checked_pointer(cur, trusted, channel, doc)
            cur.execute(self._locking(
                "SELECT pointer_serial FROM update_releases WHERE channel = ? AND platform = ?"
            ), [channel, platform])
            row = cur.fetchone()
            if row is not None and pointer.serial < int(row[0]):
                raise TrustRejectedError(
                    "replayed",
                    f"the channel pointer's serial {pointer.serial} is older than {row[0]}",
                )
            cur.execute(self._q(
                "INSERT INTO update_releases (channel, platform, version, bundle, size, sha256,"
                " pointer, pointer_version, pointer_serial, published_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (channel, platform) DO UPDATE SET pointer = excluded.pointer,"
                " pointer_version = excluded.pointer_version,"
                " pointer_serial = excluded.pointer_serial"
            ), [channel, platform, pointer.version, pointer.bundle, pointer.size, pointer.sha256,
                text, pointer.version, pointer.serial, _now()])
            self._supersede(cur, channel, platform, pointer.version, actor)
            self._bump(cur, channel)
            self._audit(cur, actor, "pointer", channel, {
                "version": pointer.version, "platform": platform, "serial": pointer.serial})
        return {
            "channel": channel,
            "version": pointer.version,
            "platform": platform,
            "serial": pointer.serial,
            "expires": pointer.expires.isoformat(),
        }

    def _supersede(self, cur: Any, channel: str, platform: str, version: str, actor: str) -> None:
        cur.execute(self._q(
            "SELECT rollout_id, version FROM update_rollouts WHERE channel = ? AND platform = ?"
            " AND state IN ('active', 'halted', 'aborted')"
        ), [channel, platform])
        for rollout_id, rolled in cur.fetchall():
            if not _newer(str(rolled), version):
                self._set_state(cur, int(rollout_id), "superseded", f"{version} published")
                self._audit(cur, actor, "rollout-superseded", channel,
                            {"rollout_id": int(rollout_id), "by": version})

    # -- what a counter is offered -------------------------------------------

    def _channel(self, channel: str) -> _Channel:
        def load(cur: Any) -> _Channel:
            cur.execute(self._q(
                "SELECT platform, version, bundle, size, sha256, pointer, pointer_version"
                " FROM update_releases WHERE channel = ?"
            ), [channel])
            releases = [
                _Release(str(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), r[5], r[6])
                for r in cur.fetchall()
            ]
            cur.execute(self._q(
                "SELECT rollout_id, platform, version, pointer, offices, percent, state"
                " FROM update_rollouts WHERE channel = ?"
                " AND state IN ('active', 'halted', 'aborted') ORDER BY rollout_id DESC"
            ), [channel])
            rollouts = [
                _OpenRollout(int(r[0]), str(r[1]), str(r[2]), str(r[3]), json.loads(r[4]),
                             int(r[5]), str(r[6]))
                for r in cur.fetchall()
            ]
            return _Channel(releases, rollouts)

        state: _Channel = self._cached(channel, load)
        return state

    def _running(self, device_id: str | None) -> str | None:
        if device_id is None:
            return None
        with self._read() as cur:
            cur.execute(
                self._q("SELECT running FROM update_device_status WHERE device_id = ?"),
                [device_id],
            )
            row = cur.fetchone()
        return str(row[0]) if row and row[0] else None

    def offer(
        self, channel: str, platform: str | None, device_id: str | None, office: str | None
    ) -> Offer | None:
        """What ``channel`` offers this counter: the newest release for its platform, or
        a newer rollout's release when the counter is among its counters (or already
        runs it); None when nothing for its platform is published."""
        state = self._channel(channel)
        candidates = [r for r in state.releases if fits(r.platform, platform)]
        base = max(candidates, key=lambda r: parse_version(r.offered_version), default=None)
        base_version = base.offered_version if base else None
        running: str | None = None
        looked = False
        for rollout in state.rollouts:
            if not fits(rollout.platform, platform) or not _newer(rollout.version, base_version):
                continue
            member = rollout.state == "active" and is_member(
                device_id, office, rollout.offices, rollout.percent
            )
            if not member:
                if not looked:
                    running, looked = self._running(device_id), True
                member = running == rollout.version
            if member:
                return Offer(rollout.pointer.encode(), rollout.platform, rollout.version,
                             rollout.rollout_id)
        if base is None:
            return None
        return Offer(base.answer(), base.platform, base.offered_version)

    # -- rollouts -------------------------------------------------------------

    def start_rollout(self, start: RolloutStart, actor: str) -> Rollout:
        """Offer a signed release to some offices and/or a percentage of the counters. With
        neither, the rollout is prepared (its signed pointer held) and offered to no counter
        until it is widened, e.g. from the office console, which never holds IT's keys."""
        offices = sorted(set(start.offices))
        _check_targets(offices, start.percent)
        if start.halt_failures < 1:
            raise RolloutRefusedError("bad-threshold", "halt_failures must be 1 or more")
        now = _now()
        trusted = self.trusted()
        with self._write() as cur:
            pointer, platform = self._checked_pointer(cur, trusted, start.channel, start.pointer)
            cur.execute(self._q(
                "SELECT pointer_version, pointer_serial FROM update_releases"
                " WHERE channel = ? AND platform = ?"
            ), [start.channel, platform])
            row = cur.fetchone()
            if row is not None and row[0] and not _newer(pointer.version, str(row[0])):
                raise RolloutRefusedError(
                    "not-newer",
                    f"{pointer.version} is not newer than {row[0]}, the release of "
                    f"{start.channel} for {platform}",
                )
            if row is not None and pointer.serial < int(row[1]):
                raise TrustRejectedError("replayed", "the pointer is older than the channel's")
            cur.execute(self._q(
                "SELECT rollout_id FROM update_rollouts WHERE channel = ? AND platform = ?"
                " AND state IN ('active', 'halted')"
            ), [start.channel, platform])
            if cur.fetchone() is not None:
                raise RolloutRefusedError(
                    "busy", f"{start.channel} already has a rollout for {platform}: "
                    "complete or abort it first"
                )
            cur.execute(self._q(
                "INSERT INTO update_rollouts (channel, platform, version, bundle, pointer,"
                " pointer_serial, offices, percent, state, halt_failures, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?) RETURNING rollout_id"
            ), [start.channel, platform, pointer.version, pointer.bundle,
                json.dumps(start.pointer), pointer.serial, json.dumps(offices), start.percent,
                start.halt_failures, now, now])
            rollout_id = int(cur.fetchone()[0])
            self._bump(cur, start.channel)
            self._audit(cur, actor, "rollout-start", start.channel, {
                "rollout_id": rollout_id, "version": pointer.version, "platform": platform,
                "offices": offices, "percent": start.percent,
                "halt_failures": start.halt_failures})
        return self.rollout(rollout_id)

    def change_rollout(
        self, rollout_id: int, action: str, change: RolloutChange, actor: str
    ) -> Rollout:
        """Widen, halt, resume, abort or complete a rollout (audited)."""
        with self._write() as cur:
            cur.execute(self._locking(
                "SELECT channel, platform, version, bundle, pointer, pointer_serial, offices,"
                " percent, state FROM update_rollouts WHERE rollout_id = ?"
            ), [rollout_id])
            row = cur.fetchone()
            if row is None:
                raise RolloutRefusedError("missing", f"there is no rollout {rollout_id}")
            channel, platform, state = str(row[0]), str(row[1]), str(row[8])
            detail: dict[str, Any] = {"rollout_id": rollout_id, "reason": change.reason}
            allowed = {
                "widen": ("active", "halted"), "halt": ("active",), "resume": ("halted",),
                "abort": ("active", "halted"), "complete": ("active", "halted"),
            }.get(action)
            if allowed is None:
                raise RolloutRefusedError("bad-action", f"unknown action {action!r}")
            if state not in allowed:
                raise RolloutRefusedError("bad-state", f"rollout {rollout_id} is {state}: "
                                          f"it cannot {action}")
            if action == "widen":
                offices = sorted({*json.loads(row[6]), *change.offices})
                percent = int(row[7]) if change.percent is None else change.percent
                if percent < int(row[7]):
                    raise RolloutRefusedError("narrower", f"the rollout is at {row[7]} %; "
                                              "halt or abort it to stop offering it")
                _check_targets(offices, percent)
                cur.execute(self._q(
                    "UPDATE update_rollouts SET offices = ?, percent = ?, updated_at = ?"
                    " WHERE rollout_id = ?"
                ), [json.dumps(offices), percent, _now(), rollout_id])
                detail.update(offices=offices, percent=percent)
            elif action == "halt":
                self._set_state(cur, rollout_id, "halted", change.reason or "halted by IT")
            elif action == "resume":
                # the failures that halted it stay in the audit; counting starts again
                cur.execute(self._q(
                    "SELECT count(*) FROM update_rollout_failures WHERE rollout_id = ?"
                ), [rollout_id])
                detail["failures_before"] = int(cur.fetchone()[0])
                cur.execute(self._q("DELETE FROM update_rollout_failures WHERE rollout_id = ?"),
                            [rollout_id])
                self._set_state(cur, rollout_id, "active", "")
            elif action == "abort":
                self._set_state(cur, rollout_id, "aborted", change.reason or "aborted by IT")
            else:  # complete: the rollout's pointer becomes the channel's for its platform
                cur.execute(self._q(
                    "INSERT INTO update_releases (channel, platform, version, bundle, size,"
                    " sha256, pointer, pointer_version, pointer_serial, published_at)"
                    " SELECT ?, ?, b.version, b.name, b.size, b.sha256, ?, ?, ?, ?"
                    " FROM update_bundles b WHERE b.name = ?"
                    " ON CONFLICT (channel, platform) DO UPDATE SET version = excluded.version,"
                    " bundle = excluded.bundle, size = excluded.size, sha256 = excluded.sha256,"
                    " pointer = excluded.pointer, pointer_version = excluded.pointer_version,"
                    " pointer_serial = excluded.pointer_serial"
                ), [channel, platform, str(row[4]), str(row[2]), int(row[5]), _now(),
                    str(row[3])])
                self._set_state(cur, rollout_id, "complete", "")
            self._bump(cur, channel)
            self._audit(cur, actor, f"rollout-{action}", channel, detail)
        return self.rollout(rollout_id)

    def _set_state(self, cur: Any, rollout_id: int, state: str, why: str) -> None:
        cur.execute(self._q(
            "UPDATE update_rollouts SET state = ?, halted_reason = ?, updated_at = ?"
            " WHERE rollout_id = ?"
        ), [state, why[:300], _now(), rollout_id])

    _ROLLOUT_COLUMNS = (
        "SELECT r.rollout_id, r.channel, r.platform, r.version, r.bundle, r.offices, r.percent,"
        " r.state, r.halt_failures, r.halted_reason, r.created_at, r.updated_at,"
        " (SELECT count(*) FROM update_rollout_failures f WHERE f.rollout_id = r.rollout_id)"
        " FROM update_rollouts r"
    )

    def rollouts(self) -> list[Rollout]:
        """Every rollout, newest first."""
        with self._read() as cur:
            cur.execute(self._ROLLOUT_COLUMNS + " ORDER BY r.rollout_id DESC")
            return [_rollout(row) for row in cur.fetchall()]

    def rollout(self, rollout_id: int) -> Rollout:
        """One rollout (:class:`RolloutRefusedError` ``missing`` when there is none)."""
        with self._read() as cur:
            cur.execute(self._q(self._ROLLOUT_COLUMNS + " WHERE r.rollout_id = ?"), [rollout_id])
            row = cur.fetchone()
        if row is None:
            raise RolloutRefusedError("missing", f"there is no rollout {rollout_id}")
        return _rollout(row)

    def audit(self, limit: int = 200) -> list[dict[str, Any]]:
        """IT's changes to the update delivery, newest first."""
        with self._read() as cur:
            cur.execute(self._q(
                "SELECT id, at, actor, action, channel, detail FROM update_audit"
                " ORDER BY id DESC LIMIT ?"
            ), [limit])
            return [
                {"id": int(r[0]), "at": r[1], "actor": r[2], "action": r[3], "channel": r[4],
                 "detail": json.loads(r[5])}
                for r in cur.fetchall()
            ]

    # -- the fleet --------------------------------------------------------------

    def record(self, device_id: str, post: StatusPost, office: str | None) -> None:
        """File a counter's contact and reports (a late, older report never overwrites a
        newer one); count failures against the active rollouts of their version and halt
        a rollout whose threshold they reach."""
        now = _now()
        with self._write() as cur:
            cur.execute(self._q(
                "INSERT INTO update_device_status (device_id, received_at, running, channel,"
                " platform, backlog, quarantined, office_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (device_id) DO UPDATE SET received_at = excluded.received_at,"
                " running = COALESCE(excluded.running, update_device_status.running),"
                " channel = COALESCE(excluded.channel, update_device_status.channel),"
                " platform = COALESCE(excluded.platform, update_device_status.platform),"
                " backlog = COALESCE(excluded.backlog, update_device_status.backlog),"
                " quarantined = COALESCE(excluded.quarantined, update_device_status.quarantined),"
                " office_code = COALESCE(excluded.office_code, update_device_status.office_code)"
            ), [device_id, now, post.running, post.channel, post.platform, post.backlog,
                post.quarantined, office])
            for report in post.reports:
                state = str(report["state"])
                version = report.get("version")
                version = str(version) if version is not None else None
                reason = str(report.get("reason", ""))
                cur.execute(self._q(
                    "UPDATE update_device_status SET state = ?, version = ?,"
                    " running = COALESCE(?, running), reason = ?, detail = ?, reported_at = ?"
                    " WHERE device_id = ? AND reported_at <= ?"
                ), [state, version, report.get("running"), reason,
                    str(report.get("detail", ""))[:500], str(report["at"]), device_id,
                    str(report["at"])])
                if state in FAILING_STATES and version is not None:
                    self._count_failure(
                        cur, device_id, state, version, reason=reason, channel=post.channel
                    )

    def _count_failure(
        self, cur: Any, device_id: str, state: str, version: str, *, reason: str,
        channel: str | None,
    ) -> None:
        cur.execute(self._locking(
            "SELECT rollout_id, channel, halt_failures FROM update_rollouts"
            " WHERE version = ? AND state = 'active'"
        ), [version])
        for rollout_id, rolled_channel, threshold in cur.fetchall():
            if channel is not None and channel != rolled_channel:
                continue
            cur.execute(self._q(
                "INSERT INTO update_rollout_failures (rollout_id, device_id, state, reason, at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (rollout_id, device_id) DO NOTHING"
            ), [rollout_id, device_id, state, reason[:100], _now()])
            cur.execute(self._q(
                "SELECT count(*) FROM update_rollout_failures WHERE rollout_id = ?"
            ), [rollout_id])
            failures = int(cur.fetchone()[0])
            if failures >= int(threshold):
                why = f"{failures} counters failed on {version} (threshold {threshold})"
                self._set_state(cur, int(rollout_id), "halted", why)
                self._bump(cur, str(rolled_channel))
                self._audit(cur, "server", "rollout-halted", str(rolled_channel),
                            {"rollout_id": int(rollout_id), "reason": why,
                             "last": device_id})
                log.warning("rollout %s of %s halted: %s", rollout_id, version, why)

    def facts(self, device_ids: Sequence[str]) -> dict[str, FleetDevice]:
        """The update facts of these counters (the console's fleet page), by device id."""
        wanted = set(device_ids)
        return {d.device_id: d for d in self.fleet() if d.device_id in wanted}

    def fleet(self) -> list[FleetDevice]:
        """Every enrolled counter and every counter that reported, with what it said last."""
        with self._read() as cur:
            cur.execute(
                "SELECT device_id, state, version, running, reason, detail, reported_at,"
                " received_at, channel, platform, backlog, quarantined, office_code"
                " FROM update_device_status"
            )
            reported = {str(r[0]): r for r in cur.fetchall()}
            cur.execute("SELECT device_id, office_code FROM devices WHERE status = 'active'")
            enrolled = {str(r[0]): r[1] for r in cur.fetchall()}
        devices = []
        for device_id in sorted({*reported, *enrolled}):
            r = reported.get(device_id)
            if r is None:
                devices.append(FleetDevice(
                    device_id, enrolled[device_id], "unknown", None, None, "", "", "", None,
                    None, None, None, None, "unknown"))
                continue
            state = str(r[1])
            devices.append(FleetDevice(
                device_id=device_id,
                office_code=enrolled.get(device_id) or r[12],
                state=state, version=r[2], running=r[3], reason=str(r[4]), detail=str(r[5]),
                reported_at=str(r[6]), last_contact=r[7], channel=r[8], platform=r[9],
                backlog=None if r[10] is None else int(r[10]),
                quarantined=None if r[11] is None else int(r[11]),
                health=health_of(state) if r[6] else "unknown",
            ))
        return devices


def _check_targets(offices: list[str], percent: int) -> None:
    if not 0 <= percent <= 100:
        raise RolloutRefusedError("bad-percent", f"percent {percent} is not 0-100")
    for office in offices:
        if not office or len(office) > 16 or not office.isprintable():
            raise RolloutRefusedError("bad-office", f"bad office code {office!r}")


def _rollout(row: Any) -> Rollout:
    return Rollout(
        rollout_id=int(row[0]), channel=str(row[1]), platform=str(row[2]), version=str(row[3]),
        bundle=str(row[4]), offices=json.loads(row[5]), percent=int(row[6]), state=str(row[7]),
        halt_failures=int(row[8]), halted_reason=str(row[9]), created_at=str(row[10]),
        updated_at=str(row[11]), failures=int(row[12]),
    )


def rollout_store(database: Dialect) -> UpdateStore:
    """The store for reading the fleet and changing rollouts only (the office console): no
    bundles, no keys, no change notifications (it serves no polls)."""
    return UpdateStore(database, Path("/nonexistent"), {}, listen=False)
