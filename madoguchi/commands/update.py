"""``madoguchi update``: signed updates — build and publish (IT), fetch, apply, commit, roll back.

On IT's machine::

    madoguchi update keygen it-signing.key it-signing.pem
    madoguchi update build --version 0.4.0 --key it-signing.key --requirements locked.txt
    madoguchi update keylist --root-key it-root.key --serial 2 --bundle-key it-signing.pem \
        --pointer-key it-pointer.pem --out keys.json      # who may sign what (signed by root)
    madoguchi update publish dist/madoguchi-0.4.0.bundle --server URL --token-file TOKEN \
        --server-ca ca.crt --key-list keys.json --pointer-key it-pointer.key
    madoguchi update fleet --server URL --token-file TOKEN --server-ca ca.crt
    madoguchi update rollout start BUNDLE --pointer-key it-pointer.key --office 131016 \
        --percent 5 --server URL --token-file TOKEN     # then widen|halt|resume|abort|complete

On a counter (the timer runs ``poll --apply``; over HTTPS it uses the device's
enrolment, ``[sync] tls_dir``: only the server's CA, the device certificate)::

    madoguchi update status
    madoguchi update apply /path/to/madoguchi-0.4.0.bundle
    madoguchi update rollback

Exit codes: 0 done (committed, nothing to do), 2 refused (a typed error, printed),
3 the new version failed its health check and was rolled back, 75 deferred
because a counter transaction holds the update lock.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from madoguchi.cli import config_from
from madoguchi.config import Config, default_state_dir

log = logging.getLogger(__name__)

EXIT_ROLLED_BACK = 3
EXIT_DEFERRED = 75  # EX_TEMPFAIL: try again later

_T = TypeVar("_T")


def register(sub: Any) -> None:
    """Add ``madoguchi update`` and its subcommands."""
    parser = sub.add_parser("update", help="signed updates: build, publish, apply, roll back")
    verbs = parser.add_subparsers(dest="update_command", metavar="VERB", required=True)

    _register_it(verbs)

    p = verbs.add_parser("serve", help="serve the update endpoints alone (tests, small sites)")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--keys", type=Path, required=True, help="IT's public key(s)")
    p.add_argument("--token-file", type=Path, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8766)
    p.set_defaults(func=_serve)

    p = verbs.add_parser("verify", help="check a bundle without installing it")
    p.add_argument("bundle", type=Path)
    p.set_defaults(func=_verify)

    p = verbs.add_parser("apply", help="install a bundle, health-check it, commit or roll back")
    p.add_argument("bundle", type=Path)
    p.add_argument("--progress", action="store_true", help="print each step as it starts")
    p.set_defaults(func=_apply)

    p = verbs.add_parser("fetch", help="download the newest release (does not activate it)")
    p.set_defaults(func=_fetch)

    p = verbs.add_parser("poll", help="report, download, and (with --apply) activate")
    p.add_argument("--apply", action="store_true")
    p.set_defaults(func=_poll)

    for name, func, text in (
        ("status", _status, "show the update state and installed versions"),
        ("commit", _commit, "re-run the health check of an installed update and commit it"),
        ("rollback", _rollback, "go back to the previous version"),
        ("recover", _recover, "repair the install tree after a power cut (run at boot)"),
    ):
        p = verbs.add_parser(name, help=text)
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)

    p = verbs.add_parser("selftest", help="check this version (imports, card stack, store)")
    p.add_argument("--daemon", action="store_true", help="then notify READY and ping the watchdog")
    p.set_defaults(func=_selftest)


def _register_it(verbs: Any) -> None:
    """The verbs IT runs on its own machine: keys, building, publishing, the fleet."""
    p = verbs.add_parser("keygen", help="(IT) make an Ed25519 signing key and its public half")
    p.add_argument("private", type=Path)
    p.add_argument("public", type=Path)
    p.set_defaults(func=_keygen)

    p = verbs.add_parser("build", help="(IT) build and sign a versioned bundle")
    p.add_argument("--version", required=True)
    p.add_argument("--key", type=Path, required=True, help="signing key (never on a device)")
    p.add_argument("--out", type=Path, default=Path("dist"))
    p.add_argument("--source", type=Path, default=Path("."), help="project source tree")
    deps = p.add_mutually_exclusive_group()
    deps.add_argument("--requirements", type=Path, help="pinned dependencies (omit: app-only)")
    deps.add_argument(
        "--locked",
        action="store_true",
        help="the dependencies of the source's hashed lock for this machine and Python"
        " (locks/counter-cp311-<machine>.txt): run it on the counters' platform",
    )
    p.add_argument(
        "--downgrade-from",
        action="append",
        default=[],
        metavar="VERSION",
        help="signed rollback allowance: may replace this newer version",
    )
    p.add_argument("--notes", default="")
    p.set_defaults(func=_build)

    p = verbs.add_parser(
        "keylist", help="(IT) sign the list of update keys and their roles with a root key"
    )
    p.add_argument("--root-key", type=Path, required=True, help="a root private key")
    p.add_argument("--serial", type=int, required=True, help="higher than the last list's")
    for role in ("bundle", "pointer"):
        p.add_argument(
            f"--{role}-key",
            type=Path,
            action="append",
            default=[],
            metavar="PEM",
            help=f"public key that may sign {role}s (repeatable)",
        )
    p.add_argument("--revoke", action="append", default=[], metavar="KEY_ID")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_keylist)

    p = verbs.add_parser("publish", help="(IT) upload a bundle to the central server")
    p.add_argument("bundle", type=Path)
    _it_arguments(p)
    p.add_argument("--channel", default="stable")
    p.add_argument(
        "--pointer-key", type=Path, help="sign the channel pointer with this key (private)"
    )
    p.add_argument(
        "--valid-days",
        type=float,
        default=7.0,
        help="the signed pointer expires after this; publish again before it does",
    )
    p.add_argument("--key-list", type=Path, help="also publish this signed key list first")
    p.set_defaults(func=_publish)

    p = verbs.add_parser("fleet", help="(IT) every counter's version and last update state")
    _it_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_fleet)

    _register_rollout(verbs)


def _register_rollout(verbs: Any) -> None:
    """``madoguchi update rollout start|widen|halt|resume|abort|complete|list`` (IT)."""
    parser = verbs.add_parser("rollout", help="(IT) staged rollouts: offices, a percentage")
    actions = parser.add_subparsers(dest="rollout_command", metavar="ACTION", required=True)

    p = actions.add_parser("start", help="offer a bundle to some offices or a percentage")
    p.add_argument("bundle", type=Path)
    _it_arguments(p)
    p.add_argument("--channel", default="stable")
    p.add_argument("--pointer-key", type=Path, required=True, help="signs the rollout's pointer")
    p.add_argument("--valid-days", type=float, default=7.0)
    p.add_argument("--office", action="append", default=[], help="an office code (repeat)")
    p.add_argument("--percent", type=int, default=0, help="of the counters, by device id hash")
    p.add_argument(
        "--halt-after", type=int, default=2,
        help="halt by itself when this many counters report the version failed",
    )
    p.set_defaults(func=_rollout_start)

    for action, text in (
        ("widen", "add offices, raise the percentage"),
        ("halt", "offer it to no new counter"),
        ("resume", "offer it again (failure count starts over)"),
        ("abort", "stop it for good"),
        ("complete", "make it the channel's release for its platform"),
    ):
        p = actions.add_parser(action, help=text)
        p.add_argument("rollout_id", type=int)
        _it_arguments(p)
        p.add_argument("--reason", default="")
        if action == "widen":
            p.add_argument("--office", action="append", default=[])
            p.add_argument("--percent", type=int)
        p.set_defaults(func=_rollout_change, rollout_action=action)

    p = actions.add_parser("list", help="every rollout, newest first")
    _it_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_rollout_list)


def _it_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", help="update endpoint base URL (default: from config)")
    p.add_argument("--token-file", type=Path, required=True, help="IT's publish token")
    p.add_argument(
        "--server-ca", type=Path, help="trust only this CA (the central server's ca.crt)"
    )


def _state_dir() -> Path:
    return default_state_dir()


def _trusted(config: Config, status: Any) -> Any:
    """The root keys of ``[update] keys`` with the highest key list held on top."""
    from updater.channel import held_keys
    from updater.keys import load_public_keys

    keys_path = Path(config.update.keys)
    roots = load_public_keys(keys_path) if keys_path.exists() else {}
    return held_keys(roots, status, keys_path if keys_path.exists() else None)


def _server_url(config: Config, override: str | None = None) -> str:
    if override:
        return override
    return config.update.server_url or config.sync.server_url.rstrip("/") + "/updates"


def _over_tls(config: Config) -> bool:
    return _server_url(config).startswith("https://")


def _device_id(config: Config) -> str:
    if _over_tls(config):
        # the central server knows a device by its certificate, and files reports there
        from sync.tls import enrolled_device_id

        return _enrolled(lambda: enrolled_device_id(config.sync.resolved_tls_dir()))
    return config.sync.device_id or socket.gethostname()


def _enrolled(make: Callable[[], _T]) -> _T:
    """``make()``, with a missing enrolment reported as the updater's own error."""
    from madoguchi.errors import SyncError
    from updater.errors import DownloadError

    try:
        return make()
    except SyncError as exc:
        raise DownloadError(str(exc)) from exc


def _client(config: Config) -> Any:
    """The device's client for the update endpoints. Over HTTPS it is the uploader's:
    it trusts only the server's CA and presents the device certificate (``[sync]
    tls_dir``). Plain HTTP is for ``madoguchi update serve`` on a closed network."""
    from updater.download import UpdateClient

    url = _server_url(config)
    if not _over_tls(config):
        return UpdateClient(url)
    from sync.tls import device_http_client

    tls_dir = config.sync.resolved_tls_dir()
    return UpdateClient(url, client=_enrolled(lambda: device_http_client(tls_dir, timeout_s=30.0)))


def _it_client(args: argparse.Namespace) -> Any:
    """IT's HTTPS client: with ``--server-ca``, that CA only; IT needs no client certificate."""
    import httpx

    from sync.tls import tls_context

    verify: Any = tls_context(args.server_ca) if args.server_ca else True
    token = args.token_file.read_text().strip()
    return httpx.Client(verify=verify, timeout=120, headers={"Authorization": f"Bearer {token}"})


def _updater(config: Config, *, progress: bool = False) -> Any:
    from updater.engine import Updater
    from updater.health import DEFAULT_COMMAND, HealthCheck
    from updater.layout import InstallTree
    from updater.statedir import update_state_dir
    from updater.status import StatusStore

    status = StatusStore(update_state_dir())
    units = tuple(config.update.units)

    def report(step: str) -> None:
        if progress:
            print(f"step {step}", flush=True)

    state = _state_dir()
    return Updater(
        tree=InstallTree(Path(config.update.root)),
        status=status,
        state_dir=state,
        trusted_keys=_trusted(config, status).for_role("bundle"),
        health=HealthCheck(
            units=units, commands=(DEFAULT_COMMAND,), timeout_s=config.update.health_timeout_s
        ),
        restart_units=units,
        keep_versions=config.update.keep_versions,
        extra_site=Path(config.update.extra_site) if config.update.extra_site else None,
        python=config.update.python or None,
        progress=report,
    )


def _keygen(args: argparse.Namespace) -> int:
    from updater.keys import generate_keypair

    kid = generate_keypair(args.private, args.public)
    print(f"key {kid}: private {args.private} (keep it off the counters), public {args.public}")
    return 0


def _build(args: argparse.Namespace) -> int:
    from madoguchi.errors import UpdateError
    from updater.build import build_release
    from updater.keys import load_private_key
    from updater.lockfile import lock_for, running_target

    source = args.source.resolve()
    requirements = args.requirements
    if args.locked:
        try:
            requirements = lock_for(source, running_target("counter"))
        except FileNotFoundError as exc:
            raise UpdateError(f"update build --locked: {exc}") from exc
    path = build_release(
        source=source,
        version=args.version,
        signing_key=load_private_key(args.key),
        out_dir=args.out,
        requirements=requirements,
        downgrade_from=args.downgrade_from,
        notes=args.notes,
    )
    print(path)
    return 0


def _it_request(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    """One request of IT's to the update endpoints; a refusal or a failed connection is
    an :class:`UpdateError` with the server's or the TLS layer's reason."""
    import httpx

    from madoguchi.errors import UpdateError
    from sync.tls import tls_failure

    url = _server_url(config_from(args), args.server).rstrip("/")
    try:
        with _it_client(args) as http:
            response = http.request(method, f"{url}{path}", **kwargs)
    except httpx.HTTPError as exc:
        raise UpdateError(f"cannot reach {url}: {tls_failure(exc) or exc}") from exc
    if response.status_code >= 300:
        raise UpdateError(
            f"{method} {path} refused ({response.status_code}): {response.text[:300]}"
        )
    return response.json()


def _keylist(args: argparse.Namespace) -> int:
    from updater.keys import load_private_key, load_public_key
    from updater.trust import make_key_list

    entries: dict[str, tuple[Any, set[str]]] = {}
    for role in ("bundle", "pointer"):
        for path in getattr(args, f"{role}_key"):
            public = load_public_key(path)
            entries.setdefault(str(path.resolve()), (public, set()))[1].add(role)
    doc = make_key_list(
        load_private_key(args.root_key),
        list(entries.values()),
        serial=args.serial,
        revoked=args.revoke,
    )
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"key list {args.serial}: {len(entries)} keys, {len(args.revoke)} revoked -> {args.out}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from datetime import timedelta

    if args.key_list:
        listed = _it_request(args, "PUT", "/keys", content=args.key_list.read_bytes())
        print(json.dumps({"key_list": listed}, sort_keys=True))
    with args.bundle.open("rb") as body:
        release = _it_request(
            args,
            "PUT",
            f"/bundles/{args.bundle.name}",
            params={"channel": args.channel},
            content=body,
        )
    print(json.dumps(release, sort_keys=True))
    if args.pointer_key:
        from updater.keys import load_private_key
        from updater.trust import make_pointer

        doc = make_pointer(
            load_private_key(args.pointer_key),
            channel=args.channel,
            version=release["version"],
            bundle=release["bundle"],
            size=release["size"],
            sha256=release["sha256"],
            valid_for=timedelta(days=args.valid_days),
        )
        signed = _it_request(
            args, "PUT", f"/releases/{args.channel}", content=json.dumps(doc).encode()
        )
        print(json.dumps({"pointer": signed}, sort_keys=True))
    return 0


def _fleet(args: argparse.Namespace) -> int:
    devices = _it_request(args, "GET", "/fleet")["devices"]
    if args.json:
        print(json.dumps(devices, sort_keys=True))
        return 0
    for d in devices:
        why = f" ({d['reason']})" if d.get("reason") else ""
        running, version = d.get("running") or "-", d.get("version") or "-"
        backlog = "-" if d.get("backlog") is None else d["backlog"]
        print(
            f"{d['device_id']}: running {running}, {d['state']} {version}{why};"
            f" channel {d.get('channel') or '-'}, backlog {backlog},"
            f" last contact {d.get('last_contact') or 'never'}, {d['health']}"
        )
    return 0


def _rollout_start(args: argparse.Namespace) -> int:
    """Upload the bundle without moving the channel, sign its pointer, start the rollout."""
    from datetime import timedelta

    from updater.keys import load_private_key
    from updater.trust import make_pointer

    with args.bundle.open("rb") as body:
        release = _it_request(
            args, "PUT", f"/bundles/{args.bundle.name}",
            params={"channel": args.channel, "stage": "1"}, content=body,
        )
    pointer = make_pointer(
        load_private_key(args.pointer_key),
        channel=args.channel,
        version=release["version"],
        bundle=release["bundle"],
        size=release["size"],
        sha256=release["sha256"],
        valid_for=timedelta(days=args.valid_days),
    )
    rollout = _it_request(args, "POST", "/rollouts", json={
        "channel": args.channel, "pointer": pointer, "offices": args.office,
        "percent": args.percent, "halt_failures": args.halt_after,
    })
    print(json.dumps(rollout, sort_keys=True))
    return 0


def _rollout_change(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reason": args.reason}
    if args.rollout_action == "widen":
        body.update(offices=args.office, percent=args.percent)
    rollout = _it_request(
        args, "POST", f"/rollouts/{args.rollout_id}/{args.rollout_action}", json=body
    )
    print(json.dumps(rollout, sort_keys=True))
    return 0


def _rollout_list(args: argparse.Namespace) -> int:
    rollouts = _it_request(args, "GET", "/rollouts")["rollouts"]
    if args.json:
        print(json.dumps(rollouts, sort_keys=True))
        return 0
    for r in rollouts:
        whom = ", ".join([*r["offices"], f"{r['percent']} %"])
        why = f" ({r['halted_reason']})" if r["halted_reason"] else ""
        print(
            f"{r['rollout_id']}: {r['channel']} {r['version']} for {r['platform']} to {whom}:"
            f" {r['state']}{why}, {r['failures']}/{r['halt_failures']} failures"
        )
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from sync.server.repository import open_repository
    from updater.server import UpdateDelivery, create_app

    # The standalone server owns its SQLite file: it brings the schema up to date itself.
    repo = open_repository(str(args.data / "updates.sqlite3"), pool_size=1)
    try:
        repo.migrate()
        delivery = UpdateDelivery(args.data, args.keys, args.token_file)
        app = create_app(delivery.load(repo.dialect))
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        repo.close()
    return 0


def _verify(args: argparse.Namespace) -> int:
    from updater.bundle import verify_bundle
    from updater.manifest import Platform

    updater = _updater(config_from(args))
    verified = verify_bundle(
        args.bundle, updater.trusted_keys, updater.tree.current_version(), Platform.running()
    )
    manifest = verified.manifest
    files = len(manifest.files)
    print(f"ok: madoguchi {manifest.version}, {files} files, signed by {verified.signer}")
    return 0


def _run_apply(updater: Any, bundle: Path) -> int:
    result = updater.apply(bundle)
    if result.state == "committed":
        print(f"committed {result.version} (was {result.previous})")
        return 0
    print(f"rolled back from {result.version} to {result.previous}: {result.reason}")
    return EXIT_ROLLED_BACK


def _apply(args: argparse.Namespace) -> int:
    from updater.errors import UpdateLockedError

    updater = _updater(config_from(args), progress=args.progress)
    try:
        return _run_apply(updater, args.bundle)
    except UpdateLockedError as exc:
        print(f"deferred: {exc}")
        return EXIT_DEFERRED


def _release(config: Config, updater: Any, client: Any) -> Any:
    """The release the server points at, checked: the key list it serves is taken when
    it is valid and not older than the one held; the channel pointer must be signed by
    a ``pointer`` key, unexpired and not older than the last one (``updater.trust``)."""
    from updater.channel import accept_key_list, accept_pointer, signed_pointers_required
    from updater.download import Release
    from updater.trust import TrustRejectedError

    status, channel = updater.status, config.update.channel
    trusted = _trusted(config, status)
    served = client.key_list()
    if served is not None:
        try:
            trusted = accept_key_list(trusted, status, served)
        except TrustRejectedError as exc:
            log.warning("the server's key list is not used: %s", exc)
    updater.trusted_keys = trusted.for_role("bundle")
    from updater.manifest import Platform

    # its own platform only: a foreign bundle is never downloaded (``wrong-platform``)
    answer = client.latest_answer(
        channel,
        Platform.running(),
        device=None if _over_tls(config) else _device_id(config),
        office=config.sync.office_code or None,
    )
    if answer is None:
        return None
    if isinstance(answer, dict) and "signed" in answer:
        pointer = accept_pointer(trusted, status, answer, channel=channel)
        return Release.from_json(
            {
                "version": pointer.version,
                "bundle": pointer.bundle,
                "size": pointer.size,
                "sha256": pointer.sha256,
            }
        )
    if signed_pointers_required(trusted, status, channel):
        raise TrustRejectedError(
            "unsigned", f"the server's answer for channel {channel} is not a signed pointer"
        )
    log.warning("channel %s: unsigned answer accepted (no key list held yet)", channel)
    return Release.from_json(answer if isinstance(answer, dict) else {})


def _fetch_latest(config: Config, updater: Any) -> Path | None:
    client = _client(config)
    try:
        _send_reports(client, config, updater)
        release = _release(config, updater, client)
        current = updater.tree.current_version()
        # Any other version is fetched: an older one may carry IT's signed rollback
        # allowance, and verification (not the poller) decides whether it may go on.
        if release is None or release.version == current:
            return None
        if release.version in updater.status.bad_versions():
            log.info("release %s failed here before; not fetching it again", release.version)
            return None
        path: Path = client.download(release, updater.status.downloads_dir)
        updater.status.record("downloaded", version=release.version, running=current)
        _send_reports(client, config, updater)
        return path
    finally:
        client.close()


def _send_reports(client: Any, config: Config, updater: Any) -> None:
    """The unsent reports, and what this counter is now (version, channel, platform, the
    outbox's backlog), sent on every poll: the fleet view's last contact and backlog."""
    from madoguchi.errors import UpdateError
    from updater.backlog import outbox_backlog
    from updater.manifest import Platform

    reports = updater.status.pending_reports()
    backlog = outbox_backlog(config.store.resolved_path())
    try:
        client.report(
            _device_id(config),
            reports,
            running=updater.tree.current_version(),
            channel=config.update.channel,
            platform=str(Platform.running()),
            backlog=backlog[0] if backlog else None,
            quarantined=backlog[1] if backlog else None,
        )
    except UpdateError as exc:
        log.warning("status reports kept for later: %s", exc)
        return
    updater.status.drop_reports(len(reports))


def _fetch(args: argparse.Namespace) -> int:
    config = config_from(args)
    path = _fetch_latest(config, _updater(config))
    print(path if path else "up to date")
    return 0


def _poll(args: argparse.Namespace) -> int:
    from madoguchi.errors import UpdateError
    from updater.errors import UpdateLockedError

    # The timer's daemon: never against the embedded defaults' loopback server (fail closed).
    config = config_from(args, required_for="the update poll (madoguchi update poll)")
    updater = _updater(config)
    try:
        path = _fetch_latest(config, updater)
    except UpdateError as exc:
        updater.status.record(
            "failed",
            reason=getattr(exc, "reason", "failed"),
            detail=str(exc),
            running=updater.tree.current_version(),
        )
        raise
    code = 0
    if path is not None and args.apply:
        try:
            code = _run_apply(updater, path)
        except UpdateLockedError as exc:
            updater.status.record(
                "deferred", reason="locked", detail=str(exc), running=updater.tree.current_version()
            )
            print(f"deferred: {exc}")
            code = EXIT_DEFERRED
        finally:
            client = _client(config)
            try:
                _send_reports(client, config, updater)
            finally:
                client.close()
    if path is None:
        print("up to date")
    return code


def _status(args: argparse.Namespace) -> int:
    from updater.channel import POINTERS_FILE
    from updater.statedir import UnsafeStateError

    config = config_from(args)
    updater = _updater(config)
    status = updater.status.read()
    try:
        pending: Any = updater.status.read_pending()
    except UnsafeStateError as exc:
        pending = f"refused: {exc}"
    key_list = _trusted(config, updater.status).key_list
    info = {
        **{k: v for k, v in status.items() if k != "history"},
        "current": updater.tree.current_version(),
        "previous": updater.tree.previous_version(),
        "installed": sorted(updater.tree.installed_versions()),
        "pending": pending,
        "unsent_reports": len(updater.status.pending_reports()),
        "key_list_serial": key_list.serial if key_list else None,
        "pointer_serials": updater.status.read_json(POINTERS_FILE) or {},
    }
    if args.json:
        print(json.dumps(info, sort_keys=True))
    else:
        for key, value in info.items():
            print(f"{key}: {value}")
    return 0


def _commit(args: argparse.Namespace) -> int:
    from updater.lock import update_lock

    updater = _updater(config_from(args))
    with update_lock(updater.state_dir):
        result = updater.commit_pending()
    print(f"{result.state} {result.version}")
    return 0 if result.state == "committed" else EXIT_ROLLED_BACK


def _rollback(args: argparse.Namespace) -> int:
    result = _updater(config_from(args)).rollback()
    print(f"rolled back from {result.version} to {result.previous}")
    return 0


def _recover(args: argparse.Namespace) -> int:
    from updater.errors import UpdateLockedError
    from updater.lock import update_lock

    updater = _updater(config_from(args))
    try:
        with update_lock(updater.state_dir):
            done = updater.recover()
    except UpdateLockedError as exc:
        # An open transaction means the app runs from a consistent tree; an apply
        # recovers under the lock itself before it installs anything.
        print(f"not now: {exc}")
        return 0
    print(done or "consistent")
    return 0


def _selftest(args: argparse.Namespace) -> int:
    from updater.selftest import run_selftest, serve

    config = config_from(args)
    if args.daemon:
        return serve(config)
    problems = run_selftest(config)
    for problem in problems:
        print(f"selftest: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("selftest passed")
    return 0
