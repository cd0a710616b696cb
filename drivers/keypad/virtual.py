"""The virtual matrix pad: the real GPIO keypad driver on mock pins, pressed from outside.

What vpcd is to the card reader, this is to the PIN pad. The appliance process
runs :class:`~drivers.keypad.matrix.MatrixKeypad` unchanged (its scan thread,
debounce, ghost rejection and prompt gate) on a private gpiozero ``MockFactory``
whose pins are wired to :class:`~drivers.keypad.matrix_model.KeypadMatrixModel`.
Only the switches are virtual: a unix socket lets another process close and open
the model's contacts (``madoguchi sim pad``, the end-to-end tests; protocol in
:mod:`drivers.keypad.control`), and every key event still comes out of the scan.

It is its own backend name, ``virtual-matrix``, never an option of ``gpio``: a
counter configured for ``gpio`` cannot end up on mock pins, and the name shows
on the diagnostics screen. It says what it is (``simulated = True``, a label the
PIN prompt shows). The keys cross the socket as text, so it is for the demo and
tests on the virtual card only, never for a real applicant's PIN.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import socketserver
import stat
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from gpiozero.pins.mock import MockFactory

from drivers.keypad.control import CONFIRM_TIMEOUT_S, MAX_LINE, PadControlError
from drivers.keypad.matrix import MatrixKeypad, PinName
from drivers.keypad.matrix_model import KeypadMatrixModel
from madoguchi.errors import ConfigError, KeypadError

log = logging.getLogger(__name__)

#: longest path a unix socket address holds (``sun_path`` is 108 bytes with the NUL)
MAX_SOCKET_PATH = 107


class VirtualMatrixKeypad(MatrixKeypad):
    """A :class:`MatrixKeypad` on mock pins whose contacts another process presses.

    :param rows: row pin numbers (any numbers: the pins are mock pins).
    :param cols: column pin numbers.
    :param control_socket: where to listen for the control channel; a socket left
        there by a process that died is replaced, a live one is an error.
    :param options: as for :class:`MatrixKeypad` (``layout``, ``keymap``,
        ``debounce_time``, ``scan_interval`` ...), except ``pin_factory``.

    Example::

        pad = VirtualMatrixKeypad([5, 6, 13, 19], [12, 16, 20],
                                  control_socket=state_dir / "keypad.sock")
        # elsewhere: PadControl(state_dir / "keypad.sock").tap("5")
    """

    simulated = True
    label = "模擬PINパッド（仮想マトリクス） / Simulated PIN pad (virtual matrix)"

    def __init__(
        self,
        rows: Sequence[PinName],
        cols: Sequence[PinName],
        *,
        control_socket: str | Path,
        layout: str = "4x3",
        keymap: Sequence[str] = (),
        **options: Any,
    ) -> None:
        path = Path(control_socket)
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise ConfigError(
                f"keypad control socket path is {len(os.fsencode(path))} bytes; a unix "
                f"socket allows {MAX_SOCKET_PATH}: set a shorter [keypad] control_socket"
            )
        factory = MockFactory()
        #: the modelled switches (for tests; other processes use the socket)
        self.model = KeypadMatrixModel(factory, rows, cols, layout=layout, keymap=keymap)
        self._rng = random.Random()
        self._server: _ControlServer | None = None
        self._server_thread: threading.Thread | None = None
        super().__init__(rows, cols, layout=layout, keymap=keymap, pin_factory=factory, **options)
        try:
            server = _ControlServer(path, self)
        except BaseException:
            super().close()
            raise
        self._server = server
        self._server_thread = threading.Thread(
            # the poll interval bounds how long close() waits for the loop to end
            target=server.serve_forever, args=(0.05,), name="keypad-control", daemon=True
        )
        self._server_thread.start()
        log.info("virtual PIN pad listening on %s", path)

    @property
    def control_socket(self) -> Path | None:
        """The control channel's socket, ``None`` once closed."""
        return None if self._server is None else self._server.path

    def handle_request(self, line: str) -> str:
        """Carry out one request line of the control protocol; return the reply line."""
        words = line.split()
        try:
            if self.closed:
                raise PadControlError("the pad is closed")
            match words:
                case ["status"]:
                    return "ok " + " ".join(f"{k}={v}" for k, v in self._counters().items())
                case ["press" | "release" as verb, key] | ["press" | "release" as verb, key,
                                                             "bounce"]:
                    self._switch(key, verb == "press", bounce=words[-1] == "bounce")
                case ["tap", key, hold] | ["tap", key, hold, "bounce"] if hold.isdigit():
                    self._tap(key, int(hold) / 1000.0, bounce=words[-1] == "bounce")
                case _:
                    raise PadControlError("unknown request; see drivers/keypad/control.py")
        except PadControlError as exc:
            return f"error {exc}"
        return "ok"

    def _counters(self) -> dict[str, int]:
        return {
            "prompt": int(self.prompt_active),
            "down": len(self.model.closed),
            "pressed": len(self.pressed_keys),
            "shorts": self.model.shorts,
            "scans": self.scans,
        }

    def _switch(self, key: str, closed: bool, *, bounce: bool) -> None:
        # never name the key in a reply or a log: on a PIN pad it is a PIN digit
        if key not in self.keys:
            raise PadControlError("no such key on this pad")
        if bounce:
            self.model.chatter(key, closed, self._rng)
        else:
            self.model.set_switch(key, closed)

    def _tap(self, key: str, hold_s: float, *, bounce: bool) -> None:
        started = time.monotonic()
        self._switch(key, True, bounce=bounce)
        try:
            self._await_scan(key, down=True)
            rest = hold_s - (time.monotonic() - started)
            if rest > 0:
                time.sleep(rest)
        finally:
            self._switch(key, False, bounce=bounce)
        self._await_scan(key, down=False)

    def _await_scan(self, key: str, *, down: bool) -> None:
        """Wait until the debounced scan reports ``key`` down (or up)."""
        deadline = time.monotonic() + CONFIRM_TIMEOUT_S
        while (key in self.pressed_keys) != down:
            if time.monotonic() > deadline:
                what = "down" if down else "up"
                raise PadControlError(
                    f"the scan did not see the key {what} within {CONFIRM_TIMEOUT_S:g} s"
                )
            time.sleep(0.001)

    def close(self) -> None:
        """Stop the control channel (removing its socket), then the scan and the pins."""
        server, self._server = getattr(self, "_server", None), None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.hang_up()
            server.path.unlink(missing_ok=True)
        super().close()


class _ControlHandler(socketserver.StreamRequestHandler):
    """One client connection: request lines in, reply lines out."""

    def handle(self) -> None:
        # socketserver hands every handler the server that made it: always ours.
        server = cast(_ControlServer, self.server)
        with server.lock:
            server.connections.add(self.connection)
        try:
            self._serve(server)
        finally:
            with server.lock:
                server.connections.discard(self.connection)

    def _serve(self, server: _ControlServer) -> None:
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            if not line:
                return
            if len(line) > MAX_LINE or not line.endswith(b"\n"):
                self.wfile.write(b"error request line too long\n")
                return
            reply = server.pad.handle_request(line.decode("ascii", "replace"))
            self.wfile.write(reply.encode("ascii", "replace") + b"\n")


class _ControlServer(socketserver.ThreadingUnixStreamServer):
    """The unix-socket listener of a :class:`VirtualMatrixKeypad` (mode 0600)."""

    daemon_threads = True

    def __init__(self, path: Path, pad: VirtualMatrixKeypad) -> None:
        self.path = path
        self.pad = pad
        self.lock = threading.Lock()
        #: open client connections, hung up when the pad closes
        self.connections: set[socket.socket] = set()
        _clear_stale_socket(path)
        try:
            super().__init__(str(path), _ControlHandler)
        except OSError as exc:
            raise KeypadError(f"cannot listen on {path}: {exc}") from exc
        # only the appliance's own user may press keys
        os.chmod(path, 0o600)


    def hang_up(self) -> None:
        """End every client connection: a client then learns the pad has gone."""
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _clear_stale_socket(path: Path) -> None:
    """Remove a socket left by a pad that died; refuse a live one or any other file."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise KeypadError(f"{path} exists and is not a socket; not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        path.unlink(missing_ok=True)
        return
    except FileNotFoundError:
        return
    finally:
        probe.close()
    raise KeypadError(f"another virtual PIN pad already listens on {path}")
