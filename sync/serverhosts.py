"""Several central-server hosts on one PostgreSQL database behind HAProxy in TCP mode.

Shared by the two-host tests (``tests/support/server_hosts.py``) and ``madoguchi bench
server``: each host is a real ``madoguchi server run`` (:class:`~sync.localserver.LocalServer`)
with its own state directory; the first holds the CA key and signs enrolments, the others
hold the CA certificate and a TLS certificate the signer issued for them
(:func:`sync.pki.issue_host_pki`). HAProxy (Debian's ``haproxy``) passes each TCP
connection to a host as it is, so the mutual TLS ends on the host that verifies the
device's certificate; it checks every host's open ``GET /readyz`` over TLS (no client
certificate) and sends nothing to a host that fails it or refuses connections.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from madoguchi.errors import SyncError
from sync import pki
from sync.localserver import LocalServer
from sync.pgcluster import free_port
from sync.server.repository import open_repository

#: The names each host's TLS certificate carries (everything here is on loopback).
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def haproxy_config(port: int, backends: Sequence[tuple[str, int]]) -> str:
    """HAProxy in TCP mode on ``127.0.0.1:port`` in front of ``backends`` (name, port).

    Round robin per connection; ``GET /readyz`` over TLS every 500 ms (two failures take a
    host out, one success puts it back); a connection refused by a host that has just
    died is tried once more on another (``redispatch``).
    """
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{backend_port} check check-ssl verify none"
        " inter 500ms fall 2 rise 1"
        for name, backend_port in backends
    )
    return f"""\
global
    maxconn 4096

defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 2
    option redispatch

frontend madoguchi
    bind 127.0.0.1:{port}
    default_backend hosts

backend hosts
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""


@dataclass
class Balancer:
    """HAProxy as a child process (``-db``: in the foreground, logging to stderr)."""

    config_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, backends: Sequence[tuple[str, int]]) -> None:
        """Write the configuration, check it, start HAProxy and wait until it accepts."""
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.config_path.write_text(haproxy_config(self.port, backends))
        checked = subprocess.run(  # noqa: S603 - our own fixed command
            [binary, "-c", "-q", "-f", str(self.config_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if checked.returncode != 0:
            raise SyncError(f"haproxy refused its configuration: {checked.stderr.strip()}")
        self.proc = subprocess.Popen(  # noqa: S603
            [binary, "-db", "-f", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SyncError(f"haproxy exited with status {self.proc.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise SyncError("haproxy did not listen within 10 s")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 3 s."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    @property
    def url(self) -> str:
        """What the devices are configured with."""
        return f"https://127.0.0.1:{self.port}"


@dataclass
class ServerHosts:
    """Server hosts (the first signs enrolments) behind one :class:`Balancer`."""

    db_url: str
    hosts: list[LocalServer]
    balancer: Balancer

    @property
    def signer(self) -> LocalServer:
        """The host with the CA key."""
        return self.hosts[0]

    @property
    def url(self) -> str:
        """The balancer's address (the fleet's ``[sync] server_url``)."""
        return self.balancer.url

    @property
    def ca_cert(self) -> Path:
        """The CA certificate every device trusts (the same on every host)."""
        return self.signer.pki_dir / pki.CA_CERT

    def enrol(self, tls_dir: Path, device_id: str | None = None, office: str = "131016") -> str:
        """Enrol a device at the signer (its own address: the only host that signs)."""
        return self.signer.enrol(tls_dir, device_id, office)

    def host_serving(self, samples: int = 10, interval_s: float = 0.02) -> LocalServer:
        """The host holding a connection through all of ``samples`` looks.

        One look is not enough: the balancer's health checks open a short connection to
        every host twice a second, so a single count can tie a host serving a long-lived
        upload connection with one that is only being checked.
        """
        lowest = {id(h): established_connections(h.port) for h in self.hosts}
        for _ in range(samples - 1):
            time.sleep(interval_s)
            for h in self.hosts:
                lowest[id(h)] = min(lowest[id(h)], established_connections(h.port))
        return max(self.hosts, key=lambda h: lowest[id(h)])

    def wait_balanced(self, expected_up: int, timeout: float = 15.0) -> None:
        """Until ``expected_up`` hosts answer ``/readyz`` (what the balancer checks)."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            up = sum(_ready(h.port, context) for h in self.hosts if h.proc is not None)
            if up >= expected_up:
                return
            time.sleep(0.1)
        raise SyncError(f"fewer than {expected_up} server hosts became ready")

    def stop(self) -> None:
        """Stop the balancer and every host."""
        self.balancer.stop()
        for host in self.hosts:
            host.stop()


def _ready(port: int, context: ssl.SSLContext) -> bool:
    import httpx

    try:
        return (
            httpx.get(f"https://127.0.0.1:{port}/readyz", verify=context, timeout=1.0).status_code
            == 200
        )
    except httpx.HTTPError:
        return False


def established_connections(port: int) -> int:
    """TCP connections in state ESTABLISHED whose local port is ``port`` (IPv4, this
    network namespace: ``/proc/net/tcp``)."""
    count = 0
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def start_server_hosts(
    db_url: str,
    base: Path,
    *,
    count: int = 2,
    workers: int = 1,
    extra_args: tuple[str, ...] = (),
) -> ServerHosts:
    """Migrate ``db_url`` once, make the CA on the first host, issue the others' TLS
    certificates from it, start every host (``base/host-N``) and HAProxy in front."""
    repo = open_repository(db_url, pool_size=1)
    try:
        repo.migrate()  # IT, once, as the schema's owner; no host runs DDL
    finally:
        repo.close()
    hosts: list[LocalServer] = []
    balancer = Balancer(base / "haproxy.cfg")
    group = ServerHosts(db_url, hosts, balancer)
    try:
        for n in range(count):
            state = base / f"host-{n}"
            state.mkdir(parents=True, exist_ok=True)
            if n == 0:
                pki.init_server_pki(state / "pki", LOOPBACK_NAMES)
            else:
                pki.issue_host_pki(hosts[0].pki_dir, LOOPBACK_NAMES, state / "pki")
            host = LocalServer(
                db_url,
                state / "pki",
                simulate=False,
                workers=workers,
                extra_args=extra_args,
                migrate=False,
                init_pki=False,
            )
            host.start()
            hosts.append(host)
        balancer.start([(f"host{n}", h.port) for n, h in enumerate(hosts)])
        group.wait_balanced(count)
    except BaseException:
        group.stop()
        raise
    return group


@contextlib.contextmanager
def server_hosts(
    db_url: str,
    base: Path,
    *,
    count: int = 2,
    workers: int = 1,
    extra_args: tuple[str, ...] = (),
) -> Iterator[ServerHosts]:
    """:func:`start_server_hosts`, stopped on exit."""
    group = start_server_hosts(db_url, base, count=count, workers=workers, extra_args=extra_args)
    try:
        yield group
    finally:
        group.stop()
