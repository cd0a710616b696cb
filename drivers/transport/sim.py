"""The in-process reader backend ``"sim"``: a virtual My Number card on a virtual slot.

The demo runs on it, and so do fast tests of everything above the transport. The card is the
same :class:`~drivers.simcard.VirtualCard` that the vpcd attachment puts behind real pcscd; only
the path between differs. Inserting and removing the card are real events that
:meth:`SimReader.wait_for_change` reports; a ``flaky`` card dropping the link removes it from
the slot and surfaces as :class:`~madoguchi.errors.CardRemovedError`, as a real reader would.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from drivers.simcard import LinkDropped, VirtualCard, make_card
from drivers.transport.base import CardPresence, CardReader, CardTransport, ReaderEvent
from madoguchi.errors import CardAbsentError, CardRemovedError, ConfigError


class SimTransport(CardTransport):
    """A connection to the card on a :class:`SimReader`; closing it resets the card."""

    def __init__(self, reader: SimReader, card: VirtualCard) -> None:
        super().__init__(reader_name=reader.name, atr=card.atr)
        self._reader = reader
        self._card = card

    def _transmit_raw(self, apdu: bytes | bytearray) -> bytes:
        if self._reader.card is not self._card:
            raise CardRemovedError("the card was taken off the reader")
        try:
            # The card is simulated: its copy of a PIN is the card's own business.
            return self._card.process(bytes(apdu))
        except LinkDropped:
            self._reader._link_dropped(self._card)
            raise CardRemovedError("the card link dropped in the middle of a command") from None

    def _close(self) -> None:
        # Like SCardDisconnect(SCARD_RESET_CARD): no verified PIN outlives the session.
        if self._reader.card is self._card:
            self._card.reset()


class SimReader(CardReader):
    """One virtual slot holding (or not) a :class:`VirtualCard`."""

    backend: ClassVar[str] = "sim"

    def __init__(
        self,
        *,
        profile: str = "standard",
        name: str = "madoguchi virtual card",
        card: VirtualCard | None = None,
        pki_dir: Path | None = None,
        **card_options: Any,
    ) -> None:
        if card is not None and card_options:
            raise ConfigError(
                f"card options ({', '.join(sorted(card_options))}) apply to a new card, "
                "not to the card given"
            )
        self._name = name
        self._changed = threading.Condition()
        self._card: VirtualCard | None = (
            card if card is not None else make_card(profile, pki_dir=pki_dir, **card_options)
        )
        self._last_card: VirtualCard = self._card
        self._card.reset()
        # Every insert/remove bumps the generation; a waiter reports when it differs from
        # what it saw last. -1 makes the first wait report the current state at once,
        # as PC/SC does for a caller that knows nothing yet.
        self._generation = 0
        self._seen_generation = -1

    @property
    def name(self) -> str:
        return self._name

    @property
    def card(self) -> VirtualCard | None:
        """The card on the reader, or None."""
        with self._changed:
            return self._card

    def insert(self, card: VirtualCard | None = None) -> None:
        """Put ``card`` (default: the last card seen) on the reader; it is powered on."""
        with self._changed:
            chosen = card if card is not None else self._last_card
            chosen.reset()
            self._card = chosen
            self._last_card = chosen
            self._bump()

    def remove(self) -> None:
        """Take the card off the reader (no-op when there is none)."""
        with self._changed:
            if self._card is not None:
                self._card = None
                self._bump()

    def _link_dropped(self, card: VirtualCard) -> None:
        with self._changed:
            if self._card is card:
                self._card = None
                self._bump()

    def _bump(self) -> None:
        self._generation += 1
        self._changed.notify_all()

    def presence(self) -> CardPresence:
        with self._changed:
            return CardPresence.PRESENT if self._card is not None else CardPresence.ABSENT

    def wait_for_change(self, timeout: float) -> ReaderEvent | None:
        with self._changed:
            if not self._changed.wait_for(
                lambda: self._generation != self._seen_generation, timeout=max(0.0, timeout)
            ):
                return None
            self._seen_generation = self._generation
            card = self._card
            presence = CardPresence.PRESENT if card is not None else CardPresence.ABSENT
            return ReaderEvent(
                self._name, presence, card.atr if card is not None else None, time.monotonic()
            )

    def connect(self) -> CardTransport:
        with self._changed:
            card = self._card
        if card is None:
            raise CardAbsentError(f"no card on {self._name!r}")
        return SimTransport(self, card)
