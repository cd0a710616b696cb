"""PC/SC reader backend on pyscard's ``smartcard.scard`` layer.

The thin ``scard`` API is used rather than pyscard's object framework because it
hands back the PC/SC ``hresult`` of every call, which is what we map into the
error tree, and because ``SCardGetStatusChange`` gives real insert/remove events
with a timeout instead of a polling observer thread.

Transmit timeouts: ``SCardTransmit`` itself cannot be cancelled, so each
transport owns one I/O thread; :meth:`PcscTransport._transmit_raw` waits for it
with a deadline. After a timeout the card's state is unknown, so the transport
is closed and the card reset on release: the protocol layer must start over.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, ClassVar, TypeVar

from smartcard import scard

from drivers import part10
from drivers.transport.base import (
    CardPresence,
    CardReader,
    CardTransport,
    RApdu,
    ReaderEvent,
)
from madoguchi.errors import (
    CardAbsentError,
    CardRemovedError,
    CardResetError,
    CardTimeoutError,
    ReaderError,
    ReaderNotFoundError,
    ReaderUnavailableError,
    TransportError,
)

_MASK = 0xFFFFFFFF
_T = TypeVar("_T")


def _code(hresult: int) -> int:
    return hresult & _MASK


# hresult -> (error class, message). Anything not listed becomes TransportError.
_ERRORS: dict[int, tuple[type[ReaderError], str]] = {
    _code(scard.SCARD_W_REMOVED_CARD): (CardRemovedError, "the card was removed"),
    _code(scard.SCARD_E_NO_SMARTCARD): (CardAbsentError, "no card on the reader"),
    _code(scard.SCARD_W_RESET_CARD): (CardResetError, "the card was reset by another program"),
    _code(scard.SCARD_W_UNPOWERED_CARD): (CardRemovedError, "the card lost power"),
    _code(scard.SCARD_W_UNRESPONSIVE_CARD): (CardRemovedError, "the card does not answer"),
    _code(scard.SCARD_E_NOT_TRANSACTED): (CardRemovedError, "the exchange with the card failed"),
    _code(scard.SCARD_E_TIMEOUT): (CardTimeoutError, "the reader timed out"),
    _code(scard.SCARD_E_NO_SERVICE): (ReaderUnavailableError, "the PC/SC service is not running"),
    _code(scard.SCARD_E_SERVICE_STOPPED): (ReaderUnavailableError, "the PC/SC service stopped"),
    _code(scard.SCARD_E_READER_UNAVAILABLE): (ReaderUnavailableError, "the reader was unplugged"),
    _code(scard.SCARD_E_UNKNOWN_READER): (ReaderUnavailableError, "the reader was unplugged"),
    _code(scard.SCARD_E_NO_READERS_AVAILABLE): (ReaderNotFoundError, "no card reader found"),
    _code(scard.SCARD_E_SHARING_VIOLATION): (
        ReaderError, "the card is in use by another program"
    ),
}


def pcsc_error(hresult: int, doing: str) -> ReaderError:
    """The error-tree exception for a failed PC/SC call."""
    cls, message = _ERRORS.get(_code(hresult), (TransportError, ""))
    if not message:
        message = str(scard.SCardGetErrorMessage(hresult)).strip() or "PC/SC failure"
    return cls(f"{doing}: {message}", code=_code(hresult))


def _check(hresult: int, doing: str) -> None:
    if hresult != scard.SCARD_S_SUCCESS:
        raise pcsc_error(hresult, doing)


_SHARE_MODES = {"exclusive": scard.SCARD_SHARE_EXCLUSIVE, "shared": scard.SCARD_SHARE_SHARED}


class _IoThread:
    """One daemon thread that runs blocking PC/SC calls so callers can time out."""

    def __init__(self, name: str) -> None:
        self._jobs: list[tuple[Callable[[], Any], Future[Any]]] = []
        self._cv = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._jobs and not self._stopped:
                    self._cv.wait()
                if not self._jobs:
                    return
                func, future = self._jobs.pop(0)
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(func())
                except BaseException as exc:  # handed to the caller, not swallowed
                    future.set_exception(exc)

    def submit(self, func: Callable[[], _T]) -> Future[_T]:
        future: Future[_T] = Future()
        with self._cv:
            self._jobs.append((func, future))
            self._cv.notify()
        return future

    def call(self, func: Callable[[], _T], timeout: float) -> _T:
        return self.submit(func).result(timeout)

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify()


class PcscTransport(CardTransport):
    """A connected card on a PC/SC reader."""

    def __init__(self, *, reader_name: str, share: str, timeout: float) -> None:
        # A context of its own: pcsc-lite serialises calls per context, and the
        # reader's event wait (another thread) must not hold up an exchange.
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(hresult, "opening the PC/SC service")
        self._context: int = context
        self._timeout = timeout
        hresult, handle, protocol = scard.SCardConnect(
            context, reader_name, _SHARE_MODES[share],
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            scard.SCardReleaseContext(context)
            raise pcsc_error(hresult, f"connecting to the card on {reader_name!r}")
        self._handle: int = handle
        self._protocol: int = protocol
        hresult, _reader, _state, _proto, atr = scard.SCardStatus(handle)
        _check(hresult, "reading the card status")
        super().__init__(reader_name=reader_name, atr=bytes(atr))
        self._io = _IoThread(f"pcsc-io:{reader_name}")
        self._stuck = False
        self._gone = False
        self._features: dict[int, int] | None = None

    def _call(self, func: Callable[[], tuple[int, list[int]]], timeout: float, doing: str) -> bytes:
        """Run one blocking PC/SC call on the I/O thread and map every failure.

        A call that outlives ``timeout`` leaves the card in an unknown state: the
        transport is closed (the release resets the card) and CardTimeoutError
        raised. A card or reader that went away closes the transport too.
        """
        if self.closed:
            raise CardRemovedError("the card connection is closed")
        try:
            hresult, response = self._io.call(func, timeout)
        except FutureTimeout:
            self._stuck = True
            self.close()
            raise CardTimeoutError(f"{doing}: no answer within {timeout:g} s") from None
        if hresult != scard.SCARD_S_SUCCESS:
            error = pcsc_error(hresult, doing)
            if isinstance(error, CardRemovedError | ReaderUnavailableError | CardAbsentError):
                self._gone = True
                self.close()
            raise error
        return bytes(response)

    def _transmit_raw(self, apdu: bytes | bytearray) -> bytes:
        handle, protocol = self._handle, self._protocol
        # pyscard wants a list of ints. Overwrite it afterwards: it may hold a PIN.
        # (pyscard's own C buffer is freed by SWIG unwiped; see docs/security.md.)
        command = list(apdu)

        def exchange() -> tuple[int, list[int]]:
            try:
                result: tuple[int, list[int]] = scard.SCardTransmit(handle, protocol, command)
            finally:
                command[:] = bytes(len(command))
            return result

        response = self._call(exchange, self._timeout, "exchanging with the card")
        if not response:
            # A card always answers at least a status word. An empty answer with a
            # "success" hresult is what pcscd reports when the link dropped during
            # the exchange (seen with vpcd); a real reader reports it as removed.
            self._gone = True
            self.close()
            raise CardRemovedError("the card stopped answering in the middle of a command")
        return response

    def control(self, code: int, data: bytes = b"", *, timeout: float | None = None) -> bytes:
        """Send a reader control command (``SCardControl``), e.g. PC/SC Part 10 features."""
        handle = self._handle

        def request() -> tuple[int, list[int]]:
            result: tuple[int, list[int]] = scard.SCardControl(handle, code, list(data))
            return result

        return self._call(
            request, self._timeout if timeout is None else timeout, f"reader control 0x{code:08X}"
        )

    def pinpad_features(self) -> dict[int, int]:
        if self._features is None:
            try:
                answer = self.control(part10.CM_IOCTL_GET_FEATURE_REQUEST)
            except TransportError:
                # Readers (and pcsc-lite drivers) without Part 10 refuse the ioctl.
                answer = b""
            self._features = part10.parse_features(answer)
        return dict(self._features)

    def verify_pin_on_reader(self, pin_verify_structure: bytes) -> RApdu:
        if self.closed:
            raise CardRemovedError("the card connection is closed")
        code = self.pinpad_features().get(part10.FEATURE_VERIFY_PIN_DIRECT)
        if code is None:
            return super().verify_pin_on_reader(pin_verify_structure)
        with self._lock:
            # The applicant types on the reader: allow for the reader's own timeouts
            # (bTimeOut is at most 255 s).
            answer = self.control(code, pin_verify_structure, timeout=self._timeout + 256.0)
        self.stats.apdus += 1
        return RApdu(b"", part10.parse_verify_result(answer))

    def _close(self) -> None:
        handle, context = self._handle, self._context
        # Reset, so that no PIN verified in this session stays verified for
        # whichever program opens the card next; a card that is gone has nothing
        # to reset (and resetting it upsets vpcd's slot).
        disposition = scard.SCARD_LEAVE_CARD if self._gone else scard.SCARD_RESET_CARD

        def release() -> None:
            scard.SCardDisconnect(handle, disposition)
            scard.SCardReleaseContext(context)

        released = self._io.submit(release)
        self._io.stop()
        if not self._stuck:
            # Wait, so that an exclusive reconnect right after close() succeeds.
            # After a timeout the release is queued behind the stuck exchange
            # instead: the caller never waits for a card that does not answer.
            with contextlib.suppress(FutureTimeout):
                released.result(self._timeout)


class PcscReader(CardReader):
    """One PC/SC reader, found by (a substring of) its name; the first one when empty."""

    backend: ClassVar[str] = "pcsc"

    def __init__(
        self,
        *,
        name: str = "",
        timeout: float = 5.0,
        share: str = "exclusive",
    ) -> None:
        if share not in _SHARE_MODES:
            from madoguchi.errors import ConfigError

            raise ConfigError(f"share must be one of {sorted(_SHARE_MODES)}, not {share!r}")
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(hresult, "opening the PC/SC service")
        self._context: int = context
        self._pattern = name
        self._timeout = timeout
        self._share = share
        self._known_state = scard.SCARD_STATE_UNAWARE
        self._resolved: str | None = None

    @staticmethod
    def list_readers() -> list[str]:
        """Names of all readers PC/SC knows now (empty when there are none)."""
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(hresult, "opening the PC/SC service")
        try:
            return _list(context)
        finally:
            scard.SCardReleaseContext(context)

    def _find(self) -> str | None:
        for reader in _list(self._context):
            if self._pattern in reader:
                return reader
        return None

    @property
    def name(self) -> str:
        if self._resolved is None:
            self._resolved = self._find()
        if self._resolved is None:
            wanted = f"matching {self._pattern!r}" if self._pattern else "at all"
            raise ReaderNotFoundError(f"no card reader {wanted}")
        return self._resolved

    def _state(self, timeout_ms: int, current: int) -> tuple[int, int, bytes]:
        """(hresult, event state, ATR) from one SCardGetStatusChange call."""
        hresult, states = scard.SCardGetStatusChange(
            self._context, timeout_ms, [(self.name, current)]
        )
        if hresult != scard.SCARD_S_SUCCESS:
            return hresult, 0, b""
        _reader, event_state, atr = states[0]
        return hresult, event_state, bytes(atr)

    @staticmethod
    def _presence(event_state: int) -> CardPresence:
        if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
            return CardPresence.READER_GONE
        if event_state & scard.SCARD_STATE_PRESENT and not event_state & scard.SCARD_STATE_MUTE:
            return CardPresence.PRESENT
        return CardPresence.ABSENT

    def presence(self) -> CardPresence:
        try:
            name = self.name
        except ReaderNotFoundError:
            return CardPresence.READER_GONE
        hresult, event_state, _atr = self._state(0, scard.SCARD_STATE_UNAWARE)
        if hresult != scard.SCARD_S_SUCCESS:
            error = pcsc_error(hresult, f"asking {name!r} for its state")
            if isinstance(error, ReaderUnavailableError):
                self._resolved = None
                return CardPresence.READER_GONE
            raise error
        return self._presence(event_state)

    def wait_for_change(self, timeout: float) -> ReaderEvent | None:
        deadline = time.monotonic() + timeout
        try:
            name = self.name
        except ReaderNotFoundError:
            # Wait for a reader to be plugged in, then report what it holds.
            time.sleep(min(timeout, 0.2))
            self._resolved = None
            if self._find() is None:
                return None
            return ReaderEvent(self.name, self.presence(), None, time.monotonic())
        remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
        hresult, event_state, atr = self._state(remaining_ms, self._known_state)
        if _code(hresult) == _code(scard.SCARD_E_TIMEOUT):
            return None
        if hresult != scard.SCARD_S_SUCCESS:
            error = pcsc_error(hresult, f"waiting for {name!r}")
            if not isinstance(error, ReaderUnavailableError):
                raise error
            self._resolved = None
            self._known_state = scard.SCARD_STATE_UNAWARE
            return ReaderEvent(name, CardPresence.READER_GONE, None, time.monotonic())
        self._known_state = event_state & ~scard.SCARD_STATE_CHANGED
        presence = self._presence(event_state)
        if presence is CardPresence.READER_GONE:
            self._resolved = None
            self._known_state = scard.SCARD_STATE_UNAWARE
        return ReaderEvent(
            name, presence, atr if presence is CardPresence.PRESENT else None, time.monotonic()
        )

    def connect(self) -> PcscTransport:
        return PcscTransport(reader_name=self.name, share=self._share, timeout=self._timeout)

    def close(self) -> None:
        scard.SCardReleaseContext(self._context)


def _list(context: int) -> list[str]:
    hresult, readers = scard.SCardListReaders(context, [])
    if _code(hresult) == _code(scard.SCARD_E_NO_READERS_AVAILABLE):
        return []
    _check(hresult, "listing readers")
    return list(readers)
