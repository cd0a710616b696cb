"""The control channel of the virtual matrix pad: its protocol and a client.

:class:`~drivers.keypad.virtual.VirtualMatrixKeypad` listens on a unix socket;
another process (``madoguchi sim pad``, a test) connects with :class:`PadControl`
and closes or opens the *contacts* of the modelled key matrix. Everything after
the contact (the scan, the debounce, the ghost check, the prompt gate, the key
events) is the real driver's work in the appliance process.

The protocol is one ASCII line per request and one per reply:

=============================  ==============================================
``press KEY [bounce]``         close the contact of ``KEY``
``release KEY [bounce]``       open it
``tap KEY HOLD_MS [bounce]``   close it, hold it until the scan has seen it down
                               and ``HOLD_MS`` have passed, open it, and reply
                               once the scan has seen it up
``status``                     ``ok prompt=0|1 down=N pressed=N shorts=N scans=N``
=============================  ==============================================

``bounce`` adds 1–5 ms of contact chatter to the change. A reply is ``ok ...``
or ``error MESSAGE``; no reply ever names a key (a key on a PIN pad is a PIN
digit). ``down`` counts closed contacts, ``pressed`` the keys the debounced
scan reports down, ``shorts`` the row-against-row shorts of the model.

This module is plain sockets: the client side never loads gpiozero.
"""

from __future__ import annotations

import socket
from pathlib import Path
from types import TracebackType

from madoguchi.errors import KeypadError

#: longest request line the pad reads
MAX_LINE = 128
#: how long a ``tap`` waits for the scan to confirm each change
CONFIRM_TIMEOUT_S = 5.0


class PadControlError(KeypadError):
    """The virtual pad refused a request (or, as :class:`PadGoneError`, is not there)."""


class PadGoneError(PadControlError, ConnectionError):
    """No virtual pad listens on the socket, or it closed the connection."""


class PadControl:
    """A connection to a running virtual matrix pad.

    :param path: the pad's control socket.
    :param timeout: seconds to wait for any one reply.

    Example::

        with PadControl(state_dir / "keypad.sock") as pad:
            for key in "1234#":
                pad.tap(key)
    """

    def __init__(self, path: str | Path, *, timeout: float = CONFIRM_TIMEOUT_S * 2 + 1) -> None:
        self.path = Path(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(self.path))
        except OSError as exc:
            sock.close()
            raise PadGoneError(
                f"no virtual PIN pad at {self.path} ({exc.strerror or type(exc).__name__}): "
                'is madoguchi demo running with [keypad] backend = "virtual-matrix"?'
            ) from None
        self._sock = sock
        self._reader = sock.makefile("rb")

    def request(self, line: str) -> str:
        """Send one request line; return the reply after ``ok`` (raise on ``error``)."""
        try:
            self._sock.sendall(line.encode("ascii") + b"\n")
            reply = self._reader.readline(MAX_LINE * 2).decode("ascii", "replace").strip()
        except OSError as exc:
            raise PadGoneError(f"virtual PIN pad at {self.path}: {exc}") from None
        if not reply:
            raise PadGoneError(f"virtual PIN pad at {self.path} closed the connection")
        word, _, rest = reply.partition(" ")
        if word != "ok":
            raise PadControlError(f"virtual PIN pad refused the request: {rest or reply}")
        return rest

    def press(self, key: str, *, bounce: bool = False) -> None:
        """Close the contact of ``key`` (it stays closed until :meth:`release`)."""
        self.request(_with_bounce(f"press {_checked(key)}", bounce))

    def release(self, key: str, *, bounce: bool = False) -> None:
        """Open the contact of ``key``."""
        self.request(_with_bounce(f"release {_checked(key)}", bounce))

    def tap(self, key: str, *, hold_s: float = 0.03, bounce: bool = False) -> None:
        """Press ``key`` like a finger: held until the scan saw it, then let go.

        Returns once the scan has seen the key up again, so taps of the same key
        in a row are never merged, however loaded the machine is.
        """
        hold_ms = max(0, round(hold_s * 1000))
        self.request(_with_bounce(f"tap {_checked(key)} {hold_ms}", bounce))

    def status(self) -> dict[str, int]:
        """The pad's counters: ``prompt`` (1 while a PIN prompt takes keys), ``down``,
        ``pressed``, ``shorts``, ``scans``."""
        counters: dict[str, int] = {}
        for item in self.request("status").split():
            name, _, value = item.partition("=")
            counters[name] = int(value)
        return counters

    def close(self) -> None:
        """Close the connection (the pad keeps running)."""
        self._reader.close()
        self._sock.close()

    def __enter__(self) -> PadControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _checked(key: str) -> str:
    if len(key) != 1 or not key.isascii() or not key.isprintable() or key.isspace():
        raise PadControlError("a pad key is one printable ASCII character")
    return key


def _with_bounce(line: str, bounce: bool) -> str:
    return f"{line} bounce" if bounce else line
