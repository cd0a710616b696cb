"""The update endpoints of the central server, as one Starlette app to mount.

IT publishes a bundle with ``PUT /bundles/<name>?channel=stable`` (bearer
token); the server verifies its signature and hashes with IT's public keys
before offering it, so a corrupted upload is never handed to a counter.
Devices ask ``GET /releases/<channel>/latest``, download ``GET /bundles/<name>``
(HTTP Range supported, for resume) and report with
``POST /devices/<id>/status``. ``GET /fleet`` shows every counter's version and
last update state. The sync server mounts it::

    Mount("/updates", app=create_app(UpdateServerConfig(...)))
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from updater.bundle import sha256_file, verify_bundle
from updater.errors import BundleRejectedError
from updater.fsutil import atomic_write

__all__ = ["UpdateServerConfig", "create_app"]

_NAME = re.compile(r"^madoguchi-[A-Za-z0-9.+!_-]+\.bundle$")
_DEVICE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CHANNEL = re.compile(r"^[a-z0-9-]{1,32}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS device_status (
    device_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    version TEXT,
    running TEXT,
    reason TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    reported_at TEXT NOT NULL,
    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
) STRICT;
"""


@dataclass(frozen=True)
class UpdateServerConfig:
    """Where bundles and the fleet table live, who may publish, which keys sign."""

    data_dir: Path
    trusted_keys: dict[str, Ed25519PublicKey]
    publish_token: str
    #: Largest bundle accepted on publish.
    max_bundle_bytes: int = 512 * 1024 * 1024


class _Store:
    def __init__(self, config: UpdateServerConfig) -> None:
        self.config = config
        self.bundles = config.data_dir / "bundles"
        self.bundles.mkdir(parents=True, exist_ok=True)
        self.channels_file = config.data_dir / "channels.json"
        self.db_path = config.data_dir / "fleet.sqlite3"
        with self._db() as db:
            db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=10)

    def channels(self) -> dict[str, dict[str, Any]]:
        try:
            data: dict[str, dict[str, Any]] = json.loads(self.channels_file.read_text())
        except (OSError, ValueError):
            return {}
        return data

    def publish(self, upload: Path, name: str, channel: str) -> dict[str, Any]:
        verified = verify_bundle(upload, self.config.trusted_keys, None)
        version = verified.manifest.version
        if name != f"madoguchi-{version}.bundle":
            raise BundleRejectedError("malformed", f"{name} does not match version {version}")
        digest = sha256_file(upload)
        os.replace(upload, self.bundles / name)
        release = {
            "version": version,
            "bundle": name,
            "size": (self.bundles / name).stat().st_size,
            "sha256": digest,
        }
        channels = {**self.channels(), channel: release}
        atomic_write(self.channels_file, json.dumps(channels, indent=1).encode())
        return release

    def record(self, device_id: str, reports: list[dict[str, Any]]) -> None:
        with self._db() as db:
            for report in reports:
                db.execute(
                    "INSERT INTO device_status (device_id, state, version, running, reason,"
                    " detail, reported_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(device_id) DO UPDATE SET"
                    " state=excluded.state, version=excluded.version, running=excluded.running,"
                    " reason=excluded.reason, detail=excluded.detail,"
                    " reported_at=excluded.reported_at, received_at=excluded.received_at"
                    " WHERE excluded.reported_at >= device_status.reported_at",
                    (
                        device_id,
                        str(report["state"]),
                        report.get("version"),
                        report.get("running"),
                        str(report.get("reason", "")),
                        str(report.get("detail", ""))[:500],
                        str(report["at"]),
                    ),
                )

    def fleet(self) -> list[dict[str, Any]]:
        with self._db() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM device_status ORDER BY device_id").fetchall()
        return [dict(row) for row in rows]


def create_app(config: UpdateServerConfig) -> Starlette:
    """The update endpoints as an app (mount it, or serve it alone)."""
    store = _Store(config)

    async def latest(request: Request) -> Response:
        channel = request.path_params["channel"]
        release = store.channels().get(channel)
        return JSONResponse(release) if release else Response(status_code=204)

    async def bundle(request: Request) -> Response:
        name = request.path_params["name"]
        path = store.bundles / name
        if not _NAME.match(name) or not path.is_file():
            return JSONResponse({"error": "no such bundle"}, status_code=404)
        return FileResponse(path, media_type="application/octet-stream")

    async def publish(request: Request) -> Response:
        expected = f"Bearer {config.publish_token}"
        if not secrets.compare_digest(request.headers.get("authorization", ""), expected):
            return JSONResponse({"error": "not allowed"}, status_code=401)
        name = request.path_params["name"]
        channel = request.query_params.get("channel", "stable")
        if not _NAME.match(name) or not _CHANNEL.match(channel):
            return JSONResponse({"error": "bad bundle name or channel"}, status_code=400)
        fd, tmp_name = tempfile.mkstemp(dir=store.bundles, prefix=".upload-")
        tmp = Path(tmp_name)
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > config.max_bundle_bytes:
                        return JSONResponse({"error": "bundle too large"}, status_code=413)
                    out.write(chunk)
            try:
                release = await run_in_threadpool(store.publish, tmp, name, channel)
            except BundleRejectedError as exc:
                return JSONResponse({"error": str(exc), "reason": exc.reason}, status_code=422)
        finally:
            tmp.unlink(missing_ok=True)
        return JSONResponse(release, status_code=201)

    async def status(request: Request) -> Response:
        device_id = request.path_params["device_id"]
        if not _DEVICE.match(device_id):
            return JSONResponse({"error": "bad device id"}, status_code=400)
        try:
            body = await request.json()
            reports = list(body["reports"])
            await run_in_threadpool(store.record, device_id, reports)
        except (ValueError, KeyError, TypeError, sqlite3.Error) as exc:
            return JSONResponse({"error": f"bad report: {exc}"}, status_code=400)
        return JSONResponse({"accepted": len(reports)})

    async def fleet(request: Request) -> Response:
        return JSONResponse({"devices": await run_in_threadpool(store.fleet)})

    return Starlette(
        routes=[
            Route("/releases/{channel}/latest", latest, methods=["GET"]),
            Route("/bundles/{name}", bundle, methods=["GET", "HEAD"]),
            Route("/bundles/{name}", publish, methods=["PUT"]),
            Route("/devices/{device_id}/status", status, methods=["POST"]),
            Route("/fleet", fleet, methods=["GET"]),
        ]
    )
