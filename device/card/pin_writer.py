"""The card-write seam for PINs: what writes a PIN onto the card, on every backend.

A change by the holder (the current PIN known) is public: VERIFY, then CHANGE
REFERENCE DATA ``00 24 01 80`` (JPKI, 入力補助) or CHANGE KEY ``80 32 00 80`` (住基),
reference §8. :class:`CardPinWriter` does it through a
:class:`~device.card.session.CardSession` on whatever transport the reader gives
(the in-process virtual card, or pyscard → pcscd → vpcd / a real reader), so a
change always goes to the card itself.

Writing a PIN *without* the current one (暗証番号の初期化・再設定, or the first PIN
of a new certificate) needs J-LIS's terminal keys and is not public; on a real
counter the J-LIS terminal does that card step. Those operations are not part of
this protocol yet (issue 17).
"""

from __future__ import annotations

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


class PinWriter(Protocol):
    """Writes holder PINs onto the card."""

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

    def change(
        self,
        kind: PinKind,
        current: bytearray,
        new: bytearray,
        *,
        confirm_last_try: bool = False,
    ) -> PinStatus:
        """See :meth:`PinWriter.change`."""
        guard: AbstractContextManager[object] = (
            self._lock if self._lock is not None else nullcontext()
        )
        try:
            with guard, self._connect() as transport:
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


def _logout(session: CardSession) -> None:
    """Drop the verified state before the connection goes; a gone card has none left."""
    try:
        session.logout()
    except MadoguchiError as exc:
        log.debug("logout after a PIN change failed: %s", type(exc).__name__)
