"""Where madoguchi's log records go: the journal under systemd, else stderr or a rotated file.

Under systemd every record goes to journald over its native protocol (``systemd.journal-
fields(7)``, the datagram socket ``/run/systemd/journal/socket``) with

- ``PRIORITY`` from the level (debug 7, info 6, warning 4, error 3, critical 2), so
  ``journalctl -p warning`` finds what IT must look at;
- ``MADOGUCHI_COMPONENT`` (``tui``, ``sync``, ``server``, ``update``, ``cli``) and, where a
  record is about one of them, ``MADOGUCHI_TRANSACTION_ID`` and ``MADOGUCHI_DEVICE_ID``
  (``journalctl MADOGUCHI_DEVICE_ID=counter-01``), from :func:`log_fields` or ``extra=``;
- ``SYSLOG_IDENTIFIER``, ``LOGGER`` and ``CODE_FILE``/``CODE_LINE``/``CODE_FUNC``.

Why the native protocol rather than ``<N>`` prefixes on stderr (``SyslogLevelPrefix=``):
prefixes carry the priority only, not the fields, and the counter's screen has no stderr
to the journal at all (it runs inside foot, on a terminal). Why not ``systemd-python``'s
``JournalHandler``: it builds against libsystemd-dev and is not on PyPI as a wheel, while
the protocol is a few documented lines (newline-separated ``KEY=value``; a value holding a
newline as ``KEY\\n<64-bit little-endian length><bytes>\\n``; a datagram too large for the
socket is passed as a sealed memfd).

Which processes use it: a daemon whose stderr *is* the journal (``$JOURNAL_STREAM`` names
stderr's device and inode, the check ``systemd.exec(5)`` documents), and the counter's
screen when its unit started it (``$INVOCATION_ID``) and the journal's socket exists. A
command IT types in a shell logs to stderr; the screen outside systemd (the demo, a
developer) logs to a file in the state dir rotated at :data:`ROTATE_BYTES`.

Records never carry a PIN, a password or an individual number: the callers' rule, not
this module's (it writes what it is given).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import logging
import logging.handlers
import os
import socket
import struct
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = [
    "JournalHandler",
    "journal_socket",
    "log_fields",
    "log_to_file_or_journal",
    "priority",
    "setup_logging",
    "stderr_is_journal",
]

#: journald's native socket; ``$MADOGUCHI_JOURNAL_SOCKET`` points elsewhere (a journal
#: namespace's socket in tests).
JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
#: A log file outside systemd is rotated at this size, keeping :data:`ROTATE_KEEP` old ones.
ROTATE_BYTES = 1024 * 1024
ROTATE_KEEP = 4
#: The fields a record may carry about what it concerns, and their journal names.
CONTEXT_FIELDS: Mapping[str, str] = {
    "transaction_id": "MADOGUCHI_TRANSACTION_ID",
    "device_id": "MADOGUCHI_DEVICE_ID",
}

_context: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "madoguchi_log_fields", default=()
)


def priority(levelno: int) -> int:
    """The syslog priority (0 emerg … 7 debug) of a :mod:`logging` level."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


@contextlib.contextmanager
def log_fields(**fields: str | None) -> Iterator[None]:
    """Within the block, records of this thread or task carry these fields.

    ``with log_fields(device_id="counter-01"): ...``; ``None`` or an empty value leaves a
    field out. Keys are those of :data:`CONTEXT_FIELDS`.
    """
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log field(s): {', '.join(sorted(unknown))}")
    merged = {**dict(_context.get()), **{k: v for k, v in fields.items() if v}}
    token = _context.set(tuple(merged.items()))
    try:
        yield
    finally:
        _context.reset(token)


def journal_socket() -> Path:
    """The journal socket this process writes to."""
    return Path(os.environ.get("MADOGUCHI_JOURNAL_SOCKET") or JOURNAL_SOCKET)


def stderr_is_journal() -> bool:
    """True when stderr is connected to the journal (``$JOURNAL_STREAM`` = its dev:ino)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        st = os.fstat(sys.stderr.fileno())
        return (st.st_dev, st.st_ino) == (int(device), int(inode))
    except (ValueError, OSError, AttributeError):
        return False


def _field(name: str, value: str) -> bytes:
    data = value.encode("utf-8", "replace")
    if b"\n" in data:
        return name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return name.encode() + b"=" + data + b"\n"


class JournalHandler(logging.Handler):
    """Sends each record to journald as one native-protocol entry (see the module doc)."""

    def __init__(self, component: str, *, identifier: str | None = None,
                 path: Path | None = None) -> None:
        super().__init__()
        self.component = component
        self.identifier = identifier or f"madoguchi-{component}"
        self.path = str(path or journal_socket())
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def entry(self, record: logging.LogRecord) -> bytes:
        """The datagram for ``record``."""
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        fields = {
            "MESSAGE": message,
            "PRIORITY": str(priority(record.levelno)),
            "SYSLOG_IDENTIFIER": self.identifier,
            "MADOGUCHI_COMPONENT": self.component,
            "LOGGER": record.name,
            "CODE_FILE": record.pathname,
            "CODE_LINE": str(record.lineno),
            "CODE_FUNC": record.funcName,
        }
        bound = dict(_context.get())
        for attribute, name in CONTEXT_FIELDS.items():
            value = getattr(record, attribute, None) or bound.get(attribute)
            if value:
                fields[name] = str(value)
        return b"".join(_field(k, v) for k, v in fields.items())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = self.entry(record)
            try:
                self._sock.sendto(data, self.path)
            except OSError as exc:
                if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):  # too big for a datagram
                    raise
                self._send_as_memfd(data)
        except Exception:  # logging must never take the process down
            self.handleError(record)

    def _send_as_memfd(self, data: bytes) -> None:
        # journald reads a large entry from a sealed memfd passed with SCM_RIGHTS.
        fd = os.memfd_create("madoguchi-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.write(fd, data)
            import fcntl

            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
                        | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
            self._sock.sendmsg(
                [], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))],
                0, self.path,
            )
        finally:
            os.close(fd)

    def close(self) -> None:
        self._sock.close()
        super().close()


def _replace_root_handlers(handler: logging.Handler, level: int) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)


def setup_logging(component: str, *, level: int = logging.WARNING) -> None:
    """The process's logging: the journal when stderr is the journal, else stderr."""
    handler: logging.Handler
    if stderr_is_journal() and journal_socket().exists():
        handler = JournalHandler(component)
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    _replace_root_handlers(handler, level)


def log_to_file_or_journal(path: Path, *, component: str = "tui") -> Path | None:
    """The counter's screen: the journal when its unit started it, else ``path`` (rotated).

    Returns the file written, or ``None`` when the records go to the journal. Sign-ins,
    lock-outs and card events are kept (INFO): they never carry a PIN or a password.
    """
    handler: logging.Handler
    written: Path | None
    if os.environ.get("INVOCATION_ID") and journal_socket().exists():
        handler, written = JournalHandler(component), None
    else:
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=ROTATE_BYTES, backupCount=ROTATE_KEEP, encoding="utf-8"
        )
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        written = path
    _replace_root_handlers(handler, min(logging.getLogger().level, logging.INFO))
    return written
