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

With ``workers`` > 1 (``--console-workers N``) the listener binds the console's socket in
this process and hands it to N worker processes (spawned, like uvicorn's own workers),
each with its own store; the kernel gives each new connection to one of them. Nothing a
request leaves behind stays in a worker: sessions and their CSRF tokens
(``console_sessions``), the failure counts and lock-outs and the last TOTP step used
(``console_staff``) are rows of the database, and the sign-in form's token is bound to a
cookie, so the next request may go to any worker.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

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
    #: Processes serving the console (1: a thread of the server process).
    workers: int = 1
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _socket: socket.socket | None = field(default=None, repr=False)
    _processes: list[BaseProcess] = field(default_factory=list, repr=False)

    @classmethod
    def from_options(
        cls,
        database: str,
        listen: str,
        pki_dir: Path,
        cert: str = "",
        key: str = "",
        *,
        workers: int = 1,
    ) -> ConsoleListener:
        """The listener ``madoguchi server run --console-listen`` asks for."""
        from sync.server.run import parse_listen

        host, port = parse_listen(listen)
        if bool(cert) != bool(key):
            raise ConfigError("the console's certificate and key go together: give both")
        certfile = Path(cert) if cert else pki_dir / pki.SERVER_CERT
        keyfile = Path(key) if key else pki_dir / pki.SERVER_KEY
        if not 1 <= workers <= MAX_WORKERS:
            raise ConfigError(f"the console runs 1 to {MAX_WORKERS} worker processes")
        return cls(database, host, port, certfile, keyfile, workers=workers)

    def start(self) -> None:
        """Open the store, start serving, return once the port listens."""
        self.store = open_console_store(self.database)
        if self.workers > 1:
            self._start_workers()
            return
        config = _config(console_app(self.store), self.host, self.port, self.certfile, self.keyfile)
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

    def _start_workers(self) -> None:
        """Bind and listen here, then hand the socket to ``workers`` spawned processes:
        connections wait in the backlog until one of them accepts."""
        try:
            sock = socket.create_server((self.host, self.port), backlog=2048)
        except OSError as exc:
            raise ConfigError(f"the console could not listen on {self.host}:{self.port}") from exc
        self._socket = sock
        spawn = multiprocessing.get_context("spawn")
        ready = []
        for index in range(1, self.workers + 1):
            started = spawn.Event()
            process = spawn.Process(
                target=_worker,
                args=(
                    _WorkerSpec(self.database, self.certfile, self.keyfile, index, os.getpid()),
                    sock,
                    started,
                ),
                name=f"console-{index}",
                daemon=True,
            )
            process.start()
            self._processes.append(process)
            ready.append(started)
        # Each worker says when it serves; one that dies first (a certificate it cannot
        # read, a database it cannot open) fails the start as the single listener does.
        deadline = time.monotonic() + WORKER_START_S
        for worker, event in zip(self._processes, ready, strict=True):
            while not event.wait(0.1):
                if not worker.is_alive() or time.monotonic() > deadline:
                    raise ConfigError(  # the caller's stop() ends the others
                        f"console worker {worker.name} did not start on {self.host}:{self.port}"
                    )
        print(
            f"madoguchi console ready on https://{self.host}:{self.port}"
            f" ({self.workers} worker processes)",
            file=sys.stderr,
            flush=True,
        )

    def stop(self) -> None:
        """Stop serving and close the store."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        for process in self._processes:
            process.terminate()  # SIGTERM: uvicorn finishes the requests under way
        for process in self._processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)
        if self._socket is not None:
            self._socket.close()
        if self.store is not None:
            self.store.close()


#: The most console worker processes ``--console-workers`` takes.
MAX_WORKERS = 16
#: How long the workers may take to start serving (a spawned Python imports the app).
WORKER_START_S = 60.0


def _config(app: Any, host: str, port: int, certfile: Path, keyfile: Path) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        ssl_certfile=str(certfile),
        ssl_keyfile=str(keyfile),
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
        # Behind no proxy: the client address is the socket's.
        proxy_headers=False,
        server_header=False,
    )


@dataclass(frozen=True)
class _WorkerSpec:
    """What a spawned console worker is told (picklable)."""

    database: str
    certfile: Path
    keyfile: Path
    index: int
    parent: int


class _WorkerServer(uvicorn.Server):
    """uvicorn's server that says when it serves (an event the parent waits on)."""

    def __init__(self, config: uvicorn.Config, started: Any) -> None:
        super().__init__(config)
        self._started_event = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._started_event.set()


def _worker(spec: _WorkerSpec, sock: socket.socket, started: Any) -> None:
    """One console worker process: its own store on the database, the shared socket.
    Its answers name it (``x-madoguchi-console-worker``), so a test can see which
    worker served a request. It ends with the server process, even a killed one."""
    from madoguchi.lifecycle import PARENT_PID_ENV, watch_parent
    from madoguchi.logs import setup_logging

    setup_logging("server")
    os.environ[PARENT_PID_ENV] = str(spec.parent)
    watch_parent()
    store = open_console_store(spec.database)
    try:
        app = console_app(store, worker=spec.index)
        config = _config(app, "", 0, spec.certfile, spec.keyfile)
        _WorkerServer(config, started).run(sockets=[sock])
    finally:
        store.close()
