"""The update endpoints of the central server, as one Starlette app to mount.

IT publishes a bundle with ``PUT /bundles/<name>?channel=stable`` and reads the
fleet with ``GET /fleet``, both with IT's bearer token; the server verifies a
bundle's signature and hashes with IT's public keys before offering it, so a
corrupted upload is never handed to a counter. Devices ask
``GET /releases/<channel>/latest``, download ``GET /bundles/<name>`` (HTTP Range
supported, for resume) and report with ``POST /devices/<id>/status``.

IT also publishes, with the same token, the **key list** (``PUT /keys``, signed by
a root key; devices read it with ``GET /keys``) and each channel's **signed
pointer** (``PUT /releases/<channel>``); ``GET /releases/<channel>/latest`` then
serves the pointer exactly as IT signed it (``updater.trust``). Without a pointer
for the channel it serves the unsigned entry ``PUT /bundles`` made, which a counter
accepts only until it has seen a key list or a signed pointer.

``madoguchi server run`` mounts it under ``/updates`` of the central server
(``sync.server.app.build_app``): there every device request needs the device's
enrolled, unrevoked client certificate, and a device reports only under its own
id (``device_identity``); IT's publishing requests carry IT's bearer token instead
(``sync.server.authz`` holds the whole matrix). ``madoguchi update serve`` runs it
alone (tests, closed sites).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from madoguchi.errors import ConfigError
from madoguchi.schema import decode_json
from updater.bundle import sha256_file, verify_bundle
from updater.errors import BundleRejectedError
from updater.fsutil import atomic_write
from updater.keys import load_public_keys
from updater.trust import TrustedKeys, TrustRejectedError, verify_pointer
from updater.wire import SignedDocument, StatusReports

__all__ = ["UpdateDelivery", "UpdateServerConfig", "create_app"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^madoguchi-[A-Za-z0-9.+!_-]+\.bundle$")
_DEVICE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CHANNEL = re.compile(r"^[a-z0-9-]{1,32}$")
#: A key list or a channel pointer is a few kilobytes at most.
_MAX_SIGNED = 64 * 1024
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
    #: The device a request was authenticated as (its client certificate), when the
    #: app is mounted behind the central server's device check; a device then reports
    #: only under that id. None: ids in the path are taken as given (``update serve``).
    device_identity: Callable[[Request], str | None] | None = None


@dataclass(frozen=True)
class UpdateDelivery:
    """Where a server keeps what IT publishes, and IT's credentials, as plain paths
    (what the configuration names; each server process loads them itself)."""

    data_dir: Path
    #: IT's Ed25519 public key(s): one ``.pem`` or a directory of them.
    keys: Path
    #: A file holding IT's publish token (keep it readable by the server only).
    token_file: Path

    def load(
        self, *, device_identity: Callable[[Request], str | None] | None = None
    ) -> UpdateServerConfig:
        """Read the keys and the token; a missing or empty token is a :class:`ConfigError`."""
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the publish token {self.token_file}: {exc}") from exc
        if len(token) < 16:
            raise ConfigError(f"the publish token in {self.token_file} is under 16 characters")
        return UpdateServerConfig(
            data_dir=self.data_dir,
            trusted_keys=load_public_keys(self.keys),
            publish_token=token,
            device_identity=device_identity,
        )


class _Store:
    def __init__(self, config: UpdateServerConfig) -> None:
        self.config = config
        self.bundles = config.data_dir / "bundles"
        self.bundles.mkdir(parents=True, exist_ok=True)
        self.channels_file = config.data_dir / "channels.json"
        self.keys_file = config.data_dir / "keys.json"
        self.pointers = config.data_dir / "pointers"
        self.pointers.mkdir(exist_ok=True)
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

    def _read(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def key_list(self) -> Any:
        return self._read(self.keys_file)

    def trusted(self) -> TrustedKeys:
        """IT's root keys with the published key list on top (when there is one)."""
        roots = TrustedKeys(self.config.trusted_keys)
        doc = self.key_list()
        if doc is None:
            return roots
        try:
            return roots.adopt(doc)
        except TrustRejectedError as exc:  # e.g. the root keys were replaced since
            log.warning("published key list not used: %s", exc)
            return roots

    def put_key_list(self, doc: Any) -> dict[str, Any]:
        current = self.trusted()
        adopted = current.adopt(doc)  # signed by a root key, serial not lower
        if adopted.key_list is None:  # adopt() returns the list it took; kept under -O
            raise TrustRejectedError("malformed", "the key list was not taken")
        atomic_write(self.keys_file, json.dumps(doc).encode())
        return {"serial": adopted.key_list.serial, "keys": sorted(adopted.key_list.keys)}

    def pointer(self, channel: str) -> Any:
        return self._read(self.pointers / f"{channel}.json")

    def put_pointer(self, channel: str, doc: Any) -> dict[str, Any]:
        held = self.pointer(channel)
        last = 0
        if held is not None:
            last = json.loads(held["signed"])["serial"]
        pointer = verify_pointer(doc, self.trusted(), channel=channel, last_serial=last)
        path = self.bundles / pointer.bundle
        if not _NAME.match(pointer.bundle) or not path.is_file():
            raise TrustRejectedError("malformed", f"no bundle {pointer.bundle} is published")
        if path.stat().st_size != pointer.size or sha256_file(path) != pointer.sha256:
            raise TrustRejectedError("malformed", f"{pointer.bundle} does not match the pointer")
        atomic_write(self.pointers / f"{channel}.json", json.dumps(doc).encode())
        return {
            "channel": channel,
            "version": pointer.version,
            "serial": pointer.serial,
            "expires": pointer.expires.isoformat(),
        }

    def publish(self, upload: Path, name: str, channel: str) -> dict[str, Any]:
        verified = verify_bundle(upload, self.trusted().for_role("bundle"), None)
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


def _trust_routes(store: _Store, from_it: Callable[[Request], bool]) -> list[Route]:
    """IT's key list and signed channel pointers (``updater.trust``), and the device's read
    of the key list. The pointer itself is served by ``GET /releases/<channel>/latest``."""

    async def get_keys(request: Request) -> Response:
        doc = store.key_list()
        return JSONResponse(doc) if doc is not None else Response(status_code=204)

    async def signed_json(request: Request, action: Callable[[Any], dict[str, Any]]) -> Response:
        if not from_it(request):
            return JSONResponse({"error": "not allowed"}, status_code=401)
        body = await request.body()
        if len(body) > _MAX_SIGNED:
            return JSONResponse({"error": "document too large"}, status_code=413)
        try:
            doc = msgspec.to_builtins(decode_json(body, SignedDocument, "the signed document"))
            result = await run_in_threadpool(action, doc)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except TrustRejectedError as exc:
            return JSONResponse({"error": str(exc), "reason": exc.reason}, status_code=422)
        return JSONResponse(result, status_code=201)

    async def put_keys(request: Request) -> Response:
        return await signed_json(request, store.put_key_list)

    async def put_pointer(request: Request) -> Response:
        channel = request.path_params["channel"]
        if not _CHANNEL.match(channel):
            return JSONResponse({"error": "bad channel"}, status_code=400)
        return await signed_json(request, lambda doc: store.put_pointer(channel, doc))

    return [
        Route("/releases/{channel}", put_pointer, methods=["PUT"]),
        Route("/keys", get_keys, methods=["GET"]),
        Route("/keys", put_keys, methods=["PUT"]),
    ]


def create_app(config: UpdateServerConfig) -> Starlette:
    """The update endpoints as an app (mount it, or serve it alone)."""
    store = _Store(config)

    async def latest(request: Request) -> Response:
        channel = request.path_params["channel"]
        signed = store.pointer(channel) if _CHANNEL.match(channel) else None
        if signed is not None:
            return JSONResponse(signed)  # exactly as IT signed it
        release = store.channels().get(channel)
        return JSONResponse(release) if release else Response(status_code=204)

    async def bundle(request: Request) -> Response:
        name = request.path_params["name"]
        path = store.bundles / name
        if not _NAME.match(name) or not path.is_file():
            return JSONResponse({"error": "no such bundle"}, status_code=404)
        return FileResponse(path, media_type="application/octet-stream")

    def from_it(request: Request) -> bool:
        expected = f"Bearer {config.publish_token}".encode()
        given = request.headers.get("authorization", "").encode()
        return secrets.compare_digest(given, expected)

    async def publish(request: Request) -> Response:
        if not from_it(request):
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
        if config.device_identity is not None:
            authenticated = config.device_identity(request)
            if authenticated is None:
                return JSONResponse({"error": "not a device"}, status_code=401)
            if authenticated != device_id:
                # the certificate names the device; it cannot report for another one
                return JSONResponse(
                    {"error": f"this certificate is device {authenticated}, not {device_id}"},
                    status_code=403,
                )
        try:
            asked = decode_json(await request.body(), StatusReports)
            reports = [msgspec.to_builtins(report) for report in asked.reports]
            await run_in_threadpool(store.record, device_id, reports)
        except (ValueError, KeyError, TypeError, sqlite3.Error) as exc:
            return JSONResponse({"error": f"bad report: {exc}"}, status_code=400)
        return JSONResponse({"accepted": len(reports)})

    async def fleet(request: Request) -> Response:
        if not from_it(request):
            return JSONResponse({"error": "not allowed"}, status_code=401)
        return JSONResponse({"devices": await run_in_threadpool(store.fleet)})

    return Starlette(
        routes=[
            Route("/releases/{channel}/latest", latest, methods=["GET"]),
            *_trust_routes(store, from_it),
            Route("/bundles/{name}", bundle, methods=["GET", "HEAD"]),
            Route("/bundles/{name}", publish, methods=["PUT"]),
            Route("/devices/{device_id}/status", status, methods=["POST"]),
            Route("/fleet", fleet, methods=["GET"]),
        ]
    )
