"""Run the central server under uvicorn with mutual TLS."""

from __future__ import annotations

import socket
import ssl
import sys
from pathlib import Path

import uvicorn

from madoguchi.errors import ConfigError
from sync import pki
from sync.server.app import ServerContext, build_app
from sync.server.repository import open_repository
from sync.server.tlsproto import MutualTlsProtocol


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


def make_context(database: str, pki_dir: Path, *, simulate: bool) -> ServerContext:
    """Open the repository and the CA (creating the PKI on first run)."""
    pki.init_server_pki(pki_dir)
    issuing = pki.make_ca("TEST JPKI issuing authority (simulation)") if simulate else None
    return ServerContext(
        repo=open_repository(database),
        ca_key=pki.load_key(pki_dir / pki.CA_KEY),
        ca_cert=pki.load_cert(pki_dir / pki.CA_CERT),
        simulate=simulate,
        issuing_ca=issuing,
    )


def serve(database: str, listen: str, pki_dir: Path, *, simulate: bool = False) -> None:
    """Serve until interrupted (SIGINT/SIGTERM)."""
    host, port = parse_listen(listen)
    ctx = make_context(database, pki_dir, simulate=simulate)
    config = uvicorn.Config(
        build_app(ctx),
        host=host,
        port=port,
        http=MutualTlsProtocol,
        lifespan="off",
        log_level="warning",
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
    try:
        _Server(config).run()
    finally:
        ctx.repo.close()
