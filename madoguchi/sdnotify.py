"""The systemd notify protocol: readiness, status and watchdog pings.

A daemon started by a ``Type=notify`` unit tells systemd it is ready by sending
``READY=1`` as one datagram to the ``AF_UNIX`` socket named in ``$NOTIFY_SOCKET``
(a path, or an abstract name when it starts with ``@``). With ``WatchdogSec=``
set, systemd puts the interval in ``$WATCHDOG_USEC`` and expects ``WATCHDOG=1``
at least that often; it kills the service when a ping is missed.

Outside systemd (tests, a developer's shell) ``$NOTIFY_SOCKET`` is unset and
every call is a quiet no-op returning ``False``, so callers never need to know
how they were started::

    from madoguchi import sdnotify

    sdnotify.notify("READY=1\\nSTATUS=waiting for a card")
    interval = sdnotify.watchdog_interval()   # seconds, or None
    if interval:
        ...  # ping with notify("WATCHDOG=1") every interval / 2

The protocol is small and stable (``sd_notify(3)``); no library is needed.
"""

from __future__ import annotations

import os
import socket

__all__ = ["notify", "watchdog_interval"]


def _socket_address(value: str) -> str | bytes:
    # '@name' is Linux's abstract namespace: a leading NUL byte, no file.
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def notify(state: str) -> bool:
    """Send ``state`` (``KEY=VALUE`` lines, e.g. ``"READY=1"``) to the service manager.

    Returns ``True`` when the message was sent, ``False`` when there is no
    ``$NOTIFY_SOCKET`` (not run by systemd) or the socket cannot be reached.
    Never raises for a missing or broken socket: a notification is advisory,
    and systemd itself acts on its absence (start timeout, watchdog).
    """
    target = os.environ.get("NOTIFY_SOCKET")
    if not target or target[0] not in "/@":
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_socket_address(target))
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


def watchdog_interval(*, any_pid: bool = False) -> float | None:
    """The watchdog interval systemd expects from this process, in seconds.

    ``None`` when the unit has no ``WatchdogSec=``, when ``$WATCHDOG_USEC`` is
    malformed, or when ``$WATCHDOG_PID`` names another process (the variables
    were inherited by a child, which must not ping on its parent's behalf).
    ``any_pid=True`` is for a process started *through* a wrapper whose unit
    sets ``NotifyAccess=all`` — the TUI runs as cage's grandchild — where the
    pings legitimately come from a descendant of the main process.
    Ping at half the interval or more often.
    """
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid and not any_pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    return value / 1_000_000
