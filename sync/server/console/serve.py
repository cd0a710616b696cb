"""The console's own HTTPS listener, next to the devices' mutual-TLS one.

Browsers reach the console on a separate address and port with server-only TLS: the
devices' listener asks every client for a certificate (``CERT_OPTIONAL``), which
makes a browser with any client certificate installed offer a certificate picker, and
its certificate is signed by the server's private device CA, which office PCs do not
trust. The console's listener asks for none, may present a certificate of the
municipality's own (``--console-cert``/``--console-key``; by default the server's),
and can be bound to the office network alone while the devices' port faces the
counters (docs/console.md, docs/security.md).

It runs in the same process as the device server, on a thread with its own event
loop (uvicorn installs signal handlers only on the main thread, so SIGTERM stops the
device server, which then stops this one), over the same database through its own
connection or pool (:class:`~sync.server.console.store.ConsoleStore`).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from madoguchi.errors import ConfigError
from sync import pki
from sync.server.console.store import ConsoleStore
from sync.server.console.web import console_app
from sync.server.repository import Dialect, PostgresDialect


def dialect_for(database: str) -> Dialect:
    """The repository dialect of a database URL (as ``open_repository`` reads it)."""
    if database.startswith(("postgresql://", "postgres://")):
        return PostgresDialect(database)
    if database.startswith("sqlite:///"):
        return Dialect("/" + database.removeprefix("sqlite:///"))
    return Dialect(database)


def open_console_store(database: str) -> ConsoleStore:
    """The console's store on the server's database, whose schema ``madoguchi server
    migrate`` made (a clear :class:`ConfigError` says so when it did not)."""
    return ConsoleStore(dialect_for(database))


@dataclass
class ConsoleListener:
    """The console served on ``host:port`` in a thread of the server process."""

    database: str
    host: str
    port: int
    certfile: Path
    keyfile: Path
    store: ConsoleStore | None = None
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @classmethod
    def from_options(
        cls, database: str, listen: str, pki_dir: Path, cert: str = "", key: str = ""
    ) -> ConsoleListener:
        """The listener ``madoguchi server run --console-listen`` asks for."""
        from sync.server.run import parse_listen

        host, port = parse_listen(listen)
        if bool(cert) != bool(key):
            raise ConfigError("the console's certificate and key go together: give both")
        certfile = Path(cert) if cert else pki_dir / pki.SERVER_CERT
        keyfile = Path(key) if key else pki_dir / pki.SERVER_KEY
        return cls(database, host, port, certfile, keyfile)

    def start(self) -> None:
        """Open the store, start serving, return once the port listens."""
        self.store = open_console_store(self.database)
        config = uvicorn.Config(
            console_app(self.store),
            host=self.host,
            port=self.port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            ssl_certfile=str(self.certfile),
            ssl_keyfile=str(self.keyfile),
            timeout_keep_alive=30,
            timeout_graceful_shutdown=5,
            # Behind no proxy: the client address is the socket's.
            proxy_headers=False,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="console", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise ConfigError(f"the console could not listen on {self.host}:{self.port}")
            self._thread.join(0.02)
        print(
            f"madoguchi console ready on https://{self.host}:{self.port}",
            file=sys.stderr,
            flush=True,
        )

    def stop(self) -> None:
        """Stop serving and close the store."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self.store is not None:
            self.store.close()
