"""The card-write seam for PINs: what writes a PIN onto the card, on every backend.

A change by the holder (the current PIN known) is public: VERIFY, then CHANGE
REFERENCE DATA ``00 24 01 80`` (JPKI, 入力補助) or CHANGE KEY ``80 32 00 80`` (住基),
reference §8. :class:`CardPinWriter` does it through a
:class:`~device.card.session.CardSession` on whatever transport the reader gives
(the in-process virtual card, or pyscard → pcscd → vpcd / a real reader), so a
change always goes to the card itself.

Writing a PIN *without* the current one (暗証番号の初期化・再設定, or the first PIN
of a new certificate) needs J-LIS's terminal keys and is not public; on a real
counter the J-LIS terminal does that card step. So ``initialise`` has two
implementations: :class:`CardPinWriter` (production) hands it to the J-LIS
terminal and says so (:attr:`PinWriteOutcome.HANDED_TO_JLIS`: the applicant types
the new PIN on that terminal, the clerk confirms it was done, the appliance
records it); :class:`TestTerminalPinWriter` performs it on the virtual card under
its *modelled* test terminal key (``drivers.simcard.TEST_TERMINAL_KEY``), so the
demo and the tests can run a reset end to end. Nothing of the modelled path
claims to be J-LIS's protocol.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from device.card import apdu
from device.card.layout import PinKind
from device.card.pins import PinStatus
from device.card.session import CardSession
from drivers.transport.base import CardTransport
from madoguchi.errors import MadoguchiError

log = logging.getLogger(__name__)


class PinWriteOutcome(enum.Enum):
    """What :meth:`PinWriter.initialise` did."""

    WRITTEN = "written"  # this appliance wrote the PIN on the card (virtual card only)
    HANDED_TO_JLIS = "handed_to_jlis"  # the J-LIS terminal does the card step


class PinWriter(Protocol):
    """Writes holder PINs onto the card."""

    def initialise(self, kind: PinKind, new: bytearray | None) -> PinWriteOutcome:
        """Write ``kind`` without its current value (reset, or a first PIN), or hand it on.

        ``new`` (when given) is wiped before this returns or raises. On a counter the
        step belongs to the J-LIS terminal and ``new`` is never needed here.
        """
        ...

    def change(
        self,
        kind: PinKind,
        current: bytearray,
        new: bytearray,
        *,
        confirm_last_try: bool = False,
    ) -> PinStatus:
        """Change ``kind`` from ``current`` to ``new`` on the card, once.

        Both buffers are wiped before this returns or raises. The rules of
        :meth:`~device.card.session.CardSession.change_pin` apply: tries read before
        the VERIFY, the last try only with ``confirm_last_try``, never retried.
        """
        ...


class CardPinWriter:
    """:class:`PinWriter` on a card reached through ``connect`` (any transport backend).

    ``change`` goes to the card; ``initialise`` is handed to the J-LIS terminal.

    :param connect: opens a transport to the card on the reader
        (``CardReader.connect``); it is closed after each change, which resets the
        card on the backends that can, and the session logs out first in any case.
    :param lock: held for the whole change, so no other card work interleaves.
    """

    def __init__(
        self,
        connect: Callable[[], CardTransport],
        *,
        lock: threading.Lock | threading.RLock | None = None,
    ) -> None:
        self._connect = connect
        self._lock = lock

    def _guard(self) -> AbstractContextManager[object]:
        return self._lock if self._lock is not None else nullcontext()

    def change(
        self,
        kind: PinKind,
        current: bytearray,
        new: bytearray,
        *,
        confirm_last_try: bool = False,
    ) -> PinStatus:
        """See :meth:`PinWriter.change`."""
        try:
            with self._guard(), self._connect() as transport:
                session = CardSession(transport)
                try:
                    return session.change_pin(
                        kind, current, new, confirm_last_try=confirm_last_try
                    )
                finally:
                    _logout(session)
        finally:
            apdu.wipe(current)
            apdu.wipe(new)


    def initialise(self, kind: PinKind, new: bytearray | None = None) -> PinWriteOutcome:
        """Hand the write to the J-LIS terminal: nothing is sent from here (``new`` wiped)."""
        if new is not None:
            apdu.wipe(new)
        log.info("writing the %s is handed to the J-LIS terminal", kind.key.label)
        return PinWriteOutcome.HANDED_TO_JLIS


class TestTerminalPinWriter(CardPinWriter):
    """:class:`CardPinWriter` whose ``initialise`` writes on the virtual card. MODELLED.

    The card's challenge is answered with HMAC-SHA256 under ``terminal_key`` (the
    virtual card's test key); a real card refuses it. For the demo and the tests only.
    """

    __test__ = False  # not a pytest class, whatever its name says

    def __init__(
        self,
        connect: Callable[[], CardTransport],
        terminal_key: bytes,
        *,
        lock: threading.Lock | threading.RLock | None = None,
    ) -> None:
        super().__init__(connect, lock=lock)
        self._key = terminal_key

    def _prove(self, challenge: bytes) -> bytes:
        return hmac.new(self._key, challenge, hashlib.sha256).digest()

    def initialise(self, kind: PinKind, new: bytearray | None = None) -> PinWriteOutcome:
        """Write ``new`` on the card as the test terminal (wiped on every path)."""
        if new is None:
            raise ValueError("the test terminal writes the PIN itself: pass the new PIN")
        try:
            with self._guard(), self._connect() as transport:
                session = CardSession(transport)
                try:
                    session.write_pin_as_terminal(kind, new, self._prove)
                finally:
                    _logout(session)
        finally:
            apdu.wipe(new)
        return PinWriteOutcome.WRITTEN


def _logout(session: CardSession) -> None:
    """Drop the verified state before the connection goes; a gone card has none left."""
    try:
        session.logout()
    except MadoguchiError as exc:
        log.debug("logout after a PIN change failed: %s", type(exc).__name__)
