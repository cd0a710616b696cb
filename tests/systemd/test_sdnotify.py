"""madoguchi.sdnotify against a real AF_UNIX datagram socket (path and abstract)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from madoguchi import sdnotify


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = str(tmp_path / "notify")
    sock.bind(address)
    sock.settimeout(2)
    yield sock, address
    sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"madoguchi-test-{os.getpid()}-{id(sock)}"
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    yield sock, "@" + name
    sock.close()


def test_unset_socket_is_a_quiet_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False


def test_sends_to_a_path_socket(
    monkeypatch: pytest.MonkeyPatch, path_socket: tuple[socket.socket, str]
) -> None:
    sock, address = path_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    assert sdnotify.notify("READY=1\nSTATUS=ready") is True
    assert sock.recv(4096) == b"READY=1\nSTATUS=ready"


def test_sends_to_an_abstract_socket(
    monkeypatch: pytest.MonkeyPatch, abstract_socket: tuple[socket.socket, str]
) -> None:
    sock, address = abstract_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    assert sdnotify.notify("WATCHDOG=1") is True
    assert sock.recv(4096) == b"WATCHDOG=1"


@pytest.mark.parametrize("value", ["relative/path", "/nonexistent/dir/sock"])
def test_unreachable_socket_returns_false(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert sdnotify.notify("READY=1") is False


def test_watchdog_interval_from_usec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2500000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 2.5


def test_watchdog_interval_without_pid_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() == 1.0


@pytest.mark.parametrize(
    ("usec", "pid"),
    [(None, None), ("abc", None), ("0", None), ("-5", None), ("1000000", "1"), ("1000", "x")],
)
def test_watchdog_interval_none_cases(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None
) -> None:
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert sdnotify.watchdog_interval() is None


def test_watchdog_interval_for_a_descendant(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kiosk TUI is cage's grandchild; WATCHDOG_PID names cage.
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert sdnotify.watchdog_interval() is None
    assert sdnotify.watchdog_interval(any_pid=True) == 3.0
