"""Run the central server under uvicorn with mutual TLS."""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.types import ASGIApp

from madoguchi.errors import ConfigError
from sync import pki
from sync.server.app import (
    Authenticator,
    ServerContext,
    build_app,
    device_id_of,
    device_office_of,
)
from sync.server.health import Readiness
from sync.server.repository import DEFAULT_POOL_SIZE, SqlRepository, open_repository
from sync.server.tlsproto import MutualTlsProtocol

if TYPE_CHECKING:
    from sync.server.console.serve import ConsoleListener
    from updater.server import UpdateDelivery


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` → ``(host, port)``."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"listen address must be HOST:PORT, not {listen!r}")
    return host or "127.0.0.1", int(port)


def _notify(state: str) -> None:
    try:
        from madoguchi import sdnotify
    except ImportError:  # pragma: no cover - the helper lands separately
        return
    sdnotify.notify(state)


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            _notify("READY=1")
            host, port = self.config.host, self.config.port
            print(
                f"madoguchi server listening on https://{host}:{port}", file=sys.stderr, flush=True
            )

    async def on_tick(self, counter: int) -> bool:
        # uvicorn's main loop ticks every 0.1 s on the event loop that serves requests, so
        # a stuck loop stops the pings and systemd's watchdog restarts the server.
        if counter % 10 == 0:
            _notify("WATCHDOG=1")
        return await super().on_tick(counter)


_ENV_DB, _ENV_PKI, _ENV_SIM, _ENV_UPDATES, _ENV_POOL = (
    "MADOGUCHI_SERVER_DB",
    "MADOGUCHI_SERVER_PKI",
    "MADOGUCHI_SERVER_SIMULATE",
    "MADOGUCHI_SERVER_UPDATES",  # JSON: [data dir, keys, token file]
    "MADOGUCHI_SERVER_POOL",
)


def make_context(
    database: str, pki_dir: Path, *, simulate: bool, pool_size: int = DEFAULT_POOL_SIZE
) -> ServerContext:
    """Open the repository and the host's PKI, and look whether the database can be
    served (its schema is made by ``madoguchi server migrate``, never here: a server
    whose schema is behind starts, answers ``/readyz`` 503 with the reason and serves
    nothing else until IT has migrated).

    The PKI is never made here: a directory without the CA certificate and this host's
    certificate is refused with one line (``madoguchi server pki init`` makes the CA
    once, on the signer). Without the CA key the host verifies and ingests but does not
    sign enrolments."""
    host_pki = pki.load_server_pki(pki_dir)
    issuing = None
    if simulate:
        pki.init_issuing_ca(pki_dir)
        issuing = (
            pki.load_key(pki_dir / pki.ISSUING_KEY),
            pki.load_cert(pki_dir / pki.ISSUING_CERT),
        )
    ctx = ServerContext(
        repo=open_repository(database, pool_size=pool_size),
        ca_key=host_pki.ca_key,
        ca_cert=host_pki.ca_cert,
        simulate=simulate,
        issuing_ca=issuing,
    )
    ctx.readiness = Readiness(ctx.repo.readiness, on_change=_status)
    ctx.readiness.check()
    return ctx


def _status(reason: str | None) -> None:
    # `systemctl status madoguchi-server` says why the server does not serve
    _notify("STATUS=ready" if reason is None else f"STATUS=not ready: {reason}")


def make_app(
    ctx: ServerContext,
    updates: UpdateDelivery | None = None,
    authenticators: Sequence[Authenticator] = (),
) -> ASGIApp:
    """The server's app; with ``updates``, IT's bundles are delivered under ``/updates``
    to enrolled devices (their certificates), published and watched with IT's token,
    which is IT's credential on the whole server. ``authenticators``: see
    :func:`~sync.server.app.build_app`."""
    if updates is None:
        return build_app(ctx, authenticators=authenticators)
    from updater.server import create_app

    if not isinstance(ctx.repo, SqlRepository):  # its tables are the server's (migration 9)
        raise ConfigError("the update delivery needs the server's SQL database")
    config = updates.load(
        ctx.repo.dialect, device_identity=device_id_of, device_office=device_office_of
    )
    # IT's publish token is IT's credential on the whole server (the matrix's "IT").
    ctx.it_token = config.publish_token
    return build_app(ctx, updates=create_app(config), authenticators=authenticators)


def app_from_env() -> ASGIApp:
    """The app of one worker process (``--workers`` > 1), configured by the parent."""
    # A spawned worker starts with no logging set up: to the journal as the parent does.
    from madoguchi.logs import setup_logging
    from sync.server.supervisor import forget_service_manager

    forget_service_manager()  # the supervisor alone speaks to systemd (NotifyAccess=main)
    setup_logging("server")
    ctx = make_context(
        os.environ[_ENV_DB], Path(os.environ[_ENV_PKI]), simulate=os.environ[_ENV_SIM] == "1",
        pool_size=int(os.environ.get(_ENV_POOL) or DEFAULT_POOL_SIZE),
    )
    updates = None
    if os.environ.get(_ENV_UPDATES):
        from updater.server import UpdateDelivery

        data_dir, keys, token_file = json.loads(os.environ[_ENV_UPDATES])
        updates = UpdateDelivery(Path(data_dir), Path(keys), Path(token_file))
    return make_app(ctx, updates)


def serve(
    database: str,
    listen: str,
    pki_dir: Path,
    *,
    simulate: bool = False,
    workers: int = 1,
    updates: UpdateDelivery | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    console: ConsoleListener | None = None,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM); ``pool_size`` PostgreSQL connections at
    most per process.

    With ``workers`` > 1 (PostgreSQL, or SQLite whose writes then serialise on
    its file lock), a supervisor runs that many processes on one socket and replaces
    one whose event loop hangs (:mod:`sync.server.supervisor`: the watchdog).
    With ``console``, the office console listens too (docs/console.md), in this
    process (one worker only).
    """
    host, port = parse_listen(listen)
    if console is not None and workers > 1:
        raise ConfigError(
            "the office console runs with one server process: drop --workers"
            " (--console-workers N gives the console N processes of its own)"
        )
    if workers > 1:
        os.environ[_ENV_POOL] = str(pool_size)
        _serve_workers(
            database, host, port, pki_dir, simulate=simulate, workers=workers, updates=updates
        )
        return
    ctx = make_context(database, pki_dir, simulate=simulate, pool_size=pool_size)
    try:
        app = make_app(ctx, updates)
    except BaseException:
        ctx.repo.close()
        raise
    config = uvicorn.Config(app, **_options(host, port, pki_dir))
    try:
        if console is not None:
            console.start()
        _Server(config).run()
    finally:
        if console is not None:
            console.stop()
        ctx.repo.close()


def _serve_workers(
    database: str,
    host: str,
    port: int,
    pki_dir: Path,
    *,
    simulate: bool,
    workers: int,
    updates: UpdateDelivery | None,
) -> None:
    from sync.server.supervisor import Supervisor

    ctx = make_context(database, pki_dir, simulate=simulate, pool_size=1)  # PKI once
    try:
        make_app(ctx, updates)  # a bad update set-up fails here, not in every worker
    finally:
        ctx.repo.close()
    os.environ.update(
        {_ENV_DB: database, _ENV_PKI: str(pki_dir), _ENV_SIM: "1" if simulate else "0"}
    )
    if updates is not None:
        os.environ[_ENV_UPDATES] = json.dumps(
            [str(p) for p in (updates.data_dir, updates.keys, updates.token_file)]
        )
    config = uvicorn.Config(
        "sync.server.run:app_from_env",
        factory=True,
        workers=workers,
        **_options(host, port, pki_dir),
    )
    sock = config.bind_socket()
    # Listening now: connections wait in the backlog until a worker accepts them.
    sock.listen(config.backlog)
    _notify("READY=1")
    print(f"madoguchi server listening on https://{host}:{port}", file=sys.stderr, flush=True)
    # The supervisor pings the watchdog only while every worker's event loop turns.
    Supervisor(config, sockets=[sock]).run()


def _options(host: str, port: int, pki_dir: Path) -> dict[str, Any]:
    return dict(
        host=host,
        port=port,
        http=MutualTlsProtocol,
        lifespan="off",
        log_level="warning",
        # uvicorn's records go through the process's own handlers (the journal, with
        # priorities and fields, under systemd) instead of uvicorn's stderr formatter.
        log_config=None,
        access_log=False,
        ssl_certfile=str(pki_dir / pki.SERVER_CERT),
        ssl_keyfile=str(pki_dir / pki.SERVER_KEY),
        ssl_ca_certs=str(pki_dir / pki.CA_CERT),
        # OPTIONAL so that enrolment works without a certificate; a certificate
        # that is presented must still verify, and the app refuses every other
        # request without one.
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
    )
