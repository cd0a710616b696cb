"""The virtual card as a vpcd client, so real pcscd sees it in a real reader slot.

vpcd (Debian ``vsmartcard-vpcd``) is a pcscd reader driver that *listens* on TCP (35963 for
``Virtual PCD 00 00``, 35964 for ``… 00 01``); a card connects to it. Every message in both
directions is a 2-byte big-endian length and a payload. A 1-byte payload from vpcd is control
(``0`` power off, ``1`` power on, ``2`` reset, ``4`` get ATR — only ``4`` is answered); anything
else is a C-APDU, answered with the R-APDU. A closed socket means "card removed".

Two details from test-stack.md matter: ``TCP_QUICKACK`` must be set before *every* ``recv``
(Linux clears it; without it each APDU costs ~44 ms of delayed ACK), and after a disconnect the
card must stay away about a second, or pcscd's 400 ms poll can miss the removal and leave the
slot stuck at "removed".
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

from drivers.simcard.card import LinkDropped, VirtualCard

log = logging.getLogger(__name__)

DEFAULT_PORT = 35963
_POWER_OFF, _POWER_ON, _RESET, _GET_ATR = 0, 1, 2, 4


class VpcdCardClient:
    """Connects ``card`` to vpcd and answers it until :meth:`stop`.

    ``reconnect_delay_s`` is how long the card stays away after any disconnect (a dropped
    link on the ``flaky`` profile, or vpcd closing); a refused connection is retried every
    ``retry_interval_s``.
    """

    def __init__(
        self,
        card: VirtualCard,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        reconnect_delay_s: float = 1.0,
        retry_interval_s: float = 0.5,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.reconnect_delay_s = reconnect_delay_s
        self.retry_interval_s = retry_interval_s
        #: Set while a connection to vpcd is open.
        self.connected = threading.Event()
        #: How many times the client has connected (tests watch reconnects with it).
        self.connections = 0
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._sock_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"vpcd-card-{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect (the card leaves the slot) and end the serving thread."""
        self._stopping.set()
        with self._sock_lock:
            if self._sock is not None:
                with contextlib.suppress(OSError):  # already closed by vpcd
                    self._sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            self._thread = None

    def serve_forever(self) -> None:
        """Connect, answer, reconnect after drops — until :meth:`stop`."""
        while not self._stopping.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
            except OSError as exc:
                log.debug("vpcd %s:%d not reachable (%s); retrying", self.host, self.port, exc)
                self._stopping.wait(self.retry_interval_s)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._sock_lock:
                self._sock = sock
            self.connections += 1
            self.connected.set()
            log.info("virtual card %s connected to vpcd port %d", self.card.profile, self.port)
            try:
                self._serve(sock)
            except OSError as exc:
                log.info("vpcd connection ended: %s", exc)
            finally:
                with self._sock_lock:
                    self._sock = None
                sock.close()
                self.connected.clear()
            # Stay away long enough for pcscd to notice the removal (reconnect rule).
            self._stopping.wait(self.reconnect_delay_s)

    def _serve(self, sock: socket.socket) -> None:
        while not self._stopping.is_set():
            header = _recv_exact(sock, 2)
            if header is None:
                return
            payload = _recv_exact(sock, int.from_bytes(header, "big"))
            if payload is None:
                return
            if len(payload) == 1:
                answer = self._control(payload[0])
                if answer is None:
                    continue
            else:
                try:
                    answer = self.card.process(payload)
                except LinkDropped:
                    log.info("virtual card dropped the link; disconnecting")
                    return
            sock.sendall(len(answer).to_bytes(2, "big") + answer)

    def _control(self, code: int) -> bytes | None:
        if code == _GET_ATR:
            return self.card.atr
        if code in (_POWER_OFF, _POWER_ON, _RESET):
            self.card.reset()
        return None


def _recv_exact(sock: socket.socket, count: int) -> bytes | None:
    """``count`` bytes, or None when the peer closed the connection first."""
    buffer = bytearray()
    while len(buffer) < count:
        # Linux clears TCP_QUICKACK after ACKing; set it before every receive.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(count - len(buffer))
        if not chunk:
            return None
        buffer += chunk
    return bytes(buffer)
