"""The card-reader seam: one small ABC per side, in python-can's ``BusABC`` style.

A :class:`CardReader` is one reader slot (a USB contactless reader on the Pi, the
in-process virtual card in the demo). It tells whether a card is present, waits for
insert/remove events, and opens a :class:`CardTransport` to the card on it.

:meth:`CardTransport.transmit` is the template method: it counts, times and logs
every exchange, and maps failures into the error tree; a backend writes only
:meth:`CardTransport._transmit_raw`. Logs carry the APDU header and lengths,
never the data field, because VERIFY and CHANGE REFERENCE DATA carry PINs.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar

from madoguchi.errors import CardRemovedError, MalformedResponseError

log = logging.getLogger(__name__)


class CardPresence(enum.Enum):
    """What a reader slot holds."""

    ABSENT = "absent"
    PRESENT = "present"
    READER_GONE = "reader_gone"


@dataclass(frozen=True, slots=True)
class ReaderEvent:
    """A change on a reader slot, with the monotonic time it was seen."""

    reader: str
    presence: CardPresence
    atr: bytes | None
    monotonic: float


@dataclass(slots=True)
class TransportStats:
    """Counters a transport keeps for benchmarks and ``card status --json``."""

    apdus: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    per_command: dict[int, int] = field(default_factory=dict)

    def reset(self) -> None:
        """Zero every counter."""
        self.apdus = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.seconds = 0.0
        self.per_command.clear()


@dataclass(frozen=True, slots=True)
class RApdu:
    """A response APDU: data and the status word."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    @classmethod
    def parse(cls, raw: bytes) -> RApdu:
        """Split a raw response into data and SW; fewer than 2 bytes is malformed."""
        if len(raw) < 2:
            raise MalformedResponseError(
                f"response of {len(raw)} byte(s) has no status word"
            )
        return cls(bytes(raw[:-2]), (raw[-2] << 8) | raw[-1])

    def __repr__(self) -> str:
        # The data may be personal (基本4情報): show only its size.
        return f"RApdu(sw={self.sw:04X}, {len(self.data)} data bytes)"


def describe_command(apdu: bytes | bytearray) -> str:
    """A loggable description of a C-APDU: header and length only, never data."""
    if len(apdu) < 4:
        return f"<{len(apdu)}-byte command>"
    cla, ins, p1, p2 = apdu[:4]
    return f"{cla:02X} {ins:02X} {p1:02X} {p2:02X} +{len(apdu) - 4}B"


class CardTransport(ABC):
    """An open connection to the card on one reader.

    Thread-safe: one exchange at a time. Close it (or use it as a context
    manager) when the card session ends.
    """

    def __init__(self, *, reader_name: str, atr: bytes) -> None:
        self.reader_name = reader_name
        self.atr = atr
        self.stats = TransportStats()
        self._lock = threading.Lock()
        self._closed = False

    def transmit(self, apdu: bytes | bytearray) -> RApdu:
        """Send one C-APDU and return the parsed response.

        Raises :class:`~madoguchi.errors.ReaderError` subclasses for transport
        failures (card removed, timeout, reader gone) and
        :class:`~madoguchi.errors.MalformedResponseError` for an answer without a
        status word. Status words are *not* checked here; the protocol layer does that.
        """
        if self._closed:
            raise CardRemovedError("the card connection is closed")
        # No copy: a VERIFY command carries the PIN in a bytearray that the caller
        # wipes; a bytes copy here could not be wiped.
        command = apdu
        with self._lock:
            started = time.perf_counter()
            raw = self._transmit_raw(command)
            elapsed = time.perf_counter() - started
        stats = self.stats
        stats.apdus += 1
        stats.bytes_sent += len(command)
        stats.bytes_received += len(raw)
        stats.seconds += elapsed
        if len(command) >= 2:
            stats.per_command[command[1]] = stats.per_command.get(command[1], 0) + 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s -> %d B in %.3f ms",
                describe_command(command), len(raw), elapsed * 1000.0,
            )
        return RApdu.parse(raw)

    @abstractmethod
    def _transmit_raw(self, apdu: bytes | bytearray) -> bytes:
        """Exchange raw bytes with the card. Map backend failures to ReaderError.

        ``apdu`` may be the caller's bytearray holding a PIN: do not keep it, and
        wipe any copy the backend has to make.
        """

    def pinpad_features(self) -> dict[int, int]:
        """PC/SC Part 10 features of the reader (tag -> control code); empty when none.

        A reader with its own PIN pad advertises ``FEATURE_VERIFY_PIN_DIRECT``
        (tag 0x06); then :meth:`verify_pin_on_reader` lets the applicant type the
        PIN on the reader, so it never passes through this computer.
        """
        return {}

    def verify_pin_on_reader(self, pin_verify_structure: bytes) -> RApdu:
        """Run VERIFY_PIN_DIRECT with a ``PIN_VERIFY_STRUCTURE`` (see ``drivers.part10``).

        Returns the card's status word (or the reader's 6400 timeout / 6401 cancel).
        """
        from madoguchi.errors import ReaderError

        raise ReaderError(f"{self.reader_name!r} has no PIN pad of its own")

    def close(self) -> None:
        """Release the card. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._close()

    def _close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Backend hook for :meth:`close`."""

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> CardTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CardReader(ABC):
    """One reader slot, chosen by backend name from configuration."""

    backend: ClassVar[str]

    @property
    @abstractmethod
    def name(self) -> str:
        """The reader's name as the backend reports it."""

    @abstractmethod
    def presence(self) -> CardPresence:
        """Whether a card is on the reader right now (one quick look, no waiting)."""

    @abstractmethod
    def wait_for_change(self, timeout: float) -> ReaderEvent | None:
        """Block until the slot changes or ``timeout`` seconds pass (then ``None``)."""

    @abstractmethod
    def connect(self) -> CardTransport:
        """Open the card. Raises CardAbsentError when there is none."""

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release backend resources (contexts, sockets)."""
