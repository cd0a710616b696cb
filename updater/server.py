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

Everything but the bundle files lives in the server's database (:mod:`updater.store`), so
several server hosts serve the same channels; a channel holds one release per platform
and a counter asks for its own (``?machine=&python=``; the answer's platform is in the
``madoguchi-platform`` header). IT runs staged rollouts with ``/rollouts``
(:mod:`updater.rollout`) and reads its changes with ``GET /audit``.

``madoguchi server run`` mounts it under ``/updates`` of the central server
(``sync.server.app.build_app``): there every device request needs the device's
enrolled, unrevoked client certificate, and a device reports only under its own
id (``device_identity``); IT's publishing requests carry IT's bearer token instead
(``sync.server.authz`` holds the whole matrix). ``madoguchi update serve`` runs it
alone (tests, closed sites).
"""

from __future__ import annotations

import logging
import re
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from madoguchi.errors import ConfigError, SyncError
from madoguchi.schema import decode_json
from updater.download import PLATFORM_HEADER
from updater.errors import BundleRejectedError
from updater.keys import load_public_keys
from updater.rollout import ROLLOUT_ACTIONS, RolloutChange, RolloutStart, StatusPost
from updater.store import RolloutRefusedError, UpdateStore
from updater.trust import TrustRejectedError
from updater.wire import SignedDocument, StatusReports

if TYPE_CHECKING:
    from sync.server.repository import Dialect

__all__ = ["UpdateDelivery", "UpdateServerConfig", "create_app"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^madoguchi-[A-Za-z0-9.+!_-]+\.bundle$")
_DEVICE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CHANNEL = re.compile(r"^[a-z0-9-]{1,32}$")
_PLATFORM = re.compile(r"^[a-z0-9_]{1,32}$")
#: A key list or a channel pointer is a few kilobytes at most.
_MAX_SIGNED = 64 * 1024


@dataclass(frozen=True)
class UpdateServerConfig:
    """Where bundles live, the database of everything else, who may publish, which keys
    sign."""

    data_dir: Path
    trusted_keys: dict[str, Ed25519PublicKey]
    publish_token: str
    #: The server's database (migration 9 holds the update tables).
    database: Dialect
    #: Largest bundle accepted on publish.
    max_bundle_bytes: int = 512 * 1024 * 1024
    #: The device a request was authenticated as (its client certificate), when the
    #: app is mounted behind the central server's device check; a device then reports
    #: only under that id. None: ids in the path are taken as given (``update serve``).
    device_identity: Callable[[Request], str | None] | None = None
    #: The office the authenticated device was enrolled for (mounted only).
    device_office: Callable[[Request], str | None] | None = None

    @property
    def bundles(self) -> Path:
        """The shared directory of bundle files (every host names the same one)."""
        return self.data_dir / "bundles"


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
        self,
        database: Dialect,
        *,
        device_identity: Callable[[Request], str | None] | None = None,
        device_office: Callable[[Request], str | None] | None = None,
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
            database=database,
            device_identity=device_identity,
            device_office=device_office,
        )


_IT_ACTOR = "it"


def _refused(exc: Exception, status: int = 422) -> JSONResponse:
    return JSONResponse(
        {"error": str(exc), "reason": getattr(exc, "reason", "refused")}, status_code=status
    )


def _trust_routes(store: UpdateStore, from_it: Callable[[Request], bool]) -> list[Route]:
    """IT's key list and signed channel pointers (``updater.trust``), and the device's read
    of the key list. The pointer itself is served by ``GET /releases/<channel>/latest``."""

    async def get_keys(request: Request) -> Response:
        text = await run_in_threadpool(store.key_list_text)
        if text is None:
            return Response(status_code=204)
        return Response(text.encode(), media_type="application/json")

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
            return _refused(exc)
        return JSONResponse(result, status_code=201)

    async def put_keys(request: Request) -> Response:
        return await signed_json(request, lambda doc: store.put_key_list(doc, _IT_ACTOR))

    async def put_pointer(request: Request) -> Response:
        channel = request.path_params["channel"]
        if not _CHANNEL.match(channel):
            return JSONResponse({"error": "bad channel"}, status_code=400)
        return await signed_json(request, lambda doc: store.put_pointer(channel, doc, _IT_ACTOR))

    return [
        Route("/releases/{channel}", put_pointer, methods=["PUT"]),
        Route("/keys", get_keys, methods=["GET"]),
        Route("/keys", put_keys, methods=["PUT"]),
    ]


def _rollout_routes(store: UpdateStore, from_it: Callable[[Request], bool]) -> list[Route]:
    """IT's staged rollouts (``updater.rollout``) and the audit of its changes."""

    async def listed(request: Request) -> Response:
        if not from_it(request):
            return JSONResponse({"error": "not allowed"}, status_code=401)
        rollouts = await run_in_threadpool(store.rollouts)
        return Response(msgspec.json.encode({"rollouts": rollouts}), media_type="application/json")

    async def start(request: Request) -> Response:
        if not from_it(request):
            return JSONResponse({"error": "not allowed"}, status_code=401)
        try:
            body = msgspec.json.decode(await request.body(), type=RolloutStart)
            if not _CHANNEL.match(body.channel):
                return JSONResponse({"error": "bad channel"}, status_code=400)
            rollout = await run_in_threadpool(store.start_rollout, body, _IT_ACTOR)
        except msgspec.ValidationError as exc:
            return JSONResponse({"error": f"bad rollout: {exc}"}, status_code=400)
        except msgspec.DecodeError as exc:
            return JSONResponse({"error": f"not JSON: {exc}"}, status_code=400)
        except (TrustRejectedError, RolloutRefusedError) as exc:
            return _refused(exc)
        return Response(msgspec.json.encode(rollout), status_code=201,
                        media_type="application/json")

    async def change(request: Request) -> Response:
        if not from_it(request):
            return JSONResponse({"error": "not allowed"}, status_code=401)
        action, number = request.path_params["action"], request.path_params["rollout_id"]
        # ASCII digits, and few enough for the database's 64-bit integer: another id is
        # no rollout (a 404), never a 500 from the driver.
        if action not in ROLLOUT_ACTIONS or not re.fullmatch(r"[0-9]{1,18}", number):
            return JSONResponse({"error": f"no rollout action {number}/{action}"}, status_code=404)
        rollout_id = int(number)
        try:
            raw = await request.body()
            body = msgspec.json.decode(raw, type=RolloutChange) if raw else RolloutChange()
            rollout = await run_in_threadpool(
                store.change_rollout, rollout_id, action, body, _IT_ACTOR
            )
        except msgspec.ValidationError as exc:
            return JSONResponse({"error": f"bad change: {exc}"}, status_code=400)
        except msgspec.DecodeError as exc:
            return JSONResponse({"error": f"not JSON: {exc}"}, status_code=400)
        except RolloutRefusedError as exc:
            return _refused(exc, 404 if exc.reason == "missing" else 422)
        return Response(msgspec.json.encode(rollout), media_type="application/json")

    async def audit(request: Request) -> Response:
        if not from_it(request):
            return JSONResponse({"error": "not allowed"}, status_code=401)
        return JSONResponse({"audit": await run_in_threadpool(store.audit)})

    return [
        Route("/rollouts", listed, methods=["GET"]),
        Route("/rollouts", start, methods=["POST"]),
        Route("/rollouts/{rollout_id}/{action}", change, methods=["POST"]),
        Route("/audit", audit, methods=["GET"]),
    ]


def _report_routes(
    store: UpdateStore, config: UpdateServerConfig, from_it: Callable[[Request], bool]
) -> list[Route]:
    """IT's upload of a bundle and a counter's status post."""

    async def publish(request: Request) -> Response:
        if not from_it(request):
            return JSONResponse({"error": "not allowed"}, status_code=401)
        name = request.path_params["name"]
        channel = request.query_params.get("channel", "stable")
        stage = request.query_params.get("stage") == "1"
        if not _NAME.match(name) or not _CHANNEL.match(channel):
            return JSONResponse({"error": "bad bundle name or channel"}, status_code=400)
        fd, tmp_name = tempfile.mkstemp(dir=store.bundles, prefix=".upload-")
        tmp = Path(tmp_name)
        try:
            size = 0
            with open(fd, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > config.max_bundle_bytes:
                        return JSONResponse({"error": "bundle too large"}, status_code=413)
                    out.write(chunk)
            try:
                release = await run_in_threadpool(
                    store.publish, tmp, name, channel, _IT_ACTOR, stage=stage
                )
            except BundleRejectedError as exc:
                return _refused(exc)
        finally:
            tmp.unlink(missing_ok=True)
        return JSONResponse(release, status_code=201)

    async def status(request: Request) -> Response:
        device_id = request.path_params["device_id"]
        if not _DEVICE.match(device_id):
            return JSONResponse({"error": "bad device id"}, status_code=400)
        office = None
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
            office = config.device_office(request) if config.device_office else None
        try:
            asked = decode_json(await request.body(), StatusReports)
            post = StatusPost(
                reports=[msgspec.to_builtins(report) for report in asked.reports],
                running=asked.running, channel=asked.channel, platform=asked.platform,
                backlog=asked.backlog, quarantined=asked.quarantined,
            )
            await run_in_threadpool(store.record, device_id, post, office)
        except (ValueError, KeyError, TypeError, msgspec.MsgspecError) as exc:
            return JSONResponse({"error": f"bad report: {exc}"}, status_code=400)
        return JSONResponse({"accepted": len(post.reports)})

    return [
        Route("/bundles/{name}", publish, methods=["PUT"]),
        Route("/devices/{device_id}/status", status, methods=["POST"]),
    ]


def _platform(request: Request) -> str | None:
    """The platform a counter asks for (``?machine=aarch64&python=cp311``), or None."""
    machine = request.query_params.get("machine")
    python = request.query_params.get("python")
    if machine is None or python is None:
        return None
    if not (_PLATFORM.match(machine) and _PLATFORM.match(python)):
        raise SyncError("bad platform")
    return f"{machine}/{python}"


def open_store(config: UpdateServerConfig) -> UpdateStore:
    """The store over the configuration's database and bundles directory."""
    config.bundles.mkdir(parents=True, exist_ok=True)
    return UpdateStore(config.database, config.bundles, config.trusted_keys)


def create_app(config: UpdateServerConfig, store: UpdateStore | None = None) -> Starlette:
    """The update endpoints as an app (mount it, or serve it alone)."""
    store = store or open_store(config)

    def who(request: Request) -> tuple[str | None, str | None]:
        """The device asking and its office: its certificate's when mounted; what it
        says (``?device=``, ``?office=``) on ``update serve``, which has no identities."""
        if config.device_identity is not None:
            office = config.device_office(request) if config.device_office else None
            return config.device_identity(request), office
        device = request.query_params.get("device")
        office = request.query_params.get("office")
        return (
            device if device and _DEVICE.match(device) else None,
            office if office and len(office) <= 16 and office.isprintable() else None,
        )

    async def latest(request: Request) -> Response:
        channel = request.path_params["channel"]
        if not _CHANNEL.match(channel):
            return Response(status_code=204)
        try:
            platform = _platform(request)
        except SyncError:
            return JSONResponse({"error": "bad machine or python"}, status_code=400)
        device, office = who(request)
        offer = await run_in_threadpool(store.offer, channel, platform, device, office)
        if offer is None:
            return Response(status_code=204)
        return Response(
            offer.body,
            media_type="application/json",
            headers={PLATFORM_HEADER: offer.platform},
        )

    async def bundle(request: Request) -> Response:
        name = request.path_params["name"]
        path = store.bundle_path(name)
        if not _NAME.match(name) or not path.is_file():
            return JSONResponse({"error": "no such bundle"}, status_code=404)
        return FileResponse(path, media_type="application/octet-stream")

    def from_it(request: Request) -> bool:
        expected = f"Bearer {config.publish_token}".encode()
        given = request.headers.get("authorization", "").encode()
        return secrets.compare_digest(given, expected)

    async def fleet(request: Request) -> Response:
        if not from_it(request):
            return JSONResponse({"error": "not allowed"}, status_code=401)
        devices = await run_in_threadpool(store.fleet)
        return Response(msgspec.json.encode({"devices": devices}), media_type="application/json")

    return Starlette(
        routes=[
            Route("/releases/{channel}/latest", latest, methods=["GET"]),
            *_trust_routes(store, from_it),
            *_rollout_routes(store, from_it),
            Route("/bundles/{name}", bundle, methods=["GET", "HEAD"]),
            *_report_routes(store, config, from_it),
            Route("/fleet", fleet, methods=["GET"]),
        ]
    )
