"""A throwaway PostgreSQL cluster for tests and benchmarks (one implementation).

It runs the distribution's own ``initdb``/``pg_ctl`` (PostgreSQL 15 on Debian 12)
under a temporary directory, listening on 127.0.0.1 only with its unix socket
inside that directory. As root, the server runs as the ``postgres`` user
(``initdb`` refuses root); otherwise as the current user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from sync.errors import RepositoryError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_pg_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RepositoryError("PostgreSQL server binaries (initdb) not found; install postgresql")


class PgCluster:
    """Start with :meth:`start`, stop (and delete) with :meth:`stop`."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = Path(base) if base else Path(tempfile.mkdtemp(prefix="madoguchi-pg-"))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.log = self.base / "server.log"
        self.port = 0
        self.bin = find_pg_bin()
        self._as_root = os.geteuid() == 0

    def _cmd(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self._as_root else list(argv)

    def _run(self, *argv: str) -> None:
        # argv is built here from fixed binary paths, never from outside input.
        result = subprocess.run(  # noqa: S603
            self._cmd(*argv), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RepositoryError(f"{Path(argv[0]).name} failed: {result.stderr.strip()[-500:]}")

    def start(self) -> PgCluster:
        """initdb and start; returns self."""
        self.sock.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            self.base.chmod(0o755)
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        self.port = free_port()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.sock} -c max_connections=50"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "start",
        )
        return self

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for ``database`` over TCP on loopback."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create a database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and delete the cluster."""
        if self.port:
            subprocess.run(  # noqa: S603
                self._cmd(
                    str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"
                ),
                capture_output=True,
                check=False,
            )
            self.port = 0
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
