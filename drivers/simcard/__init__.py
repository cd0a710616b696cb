"""A faithful virtual My Number card, for the demo and for tests on the real PC/SC stack.

:func:`make_card` builds a card of one of the :data:`PROFILES`; the card answers APDUs in
process (:class:`drivers.transport.sim.SimReader`) or as a vpcd client
(:class:`drivers.simcard.vpcd.VpcdCardClient`). ``docs/virtual-card.md`` documents every
application, file, status word and profile.
"""

from __future__ import annotations

from drivers.simcard.card import COUNTER_KEYS, TEST_TERMINAL_KEY, LinkDropped, VirtualCard
from drivers.simcard.facts import CardFacts
from drivers.simcard.names import PROFILES
from drivers.simcard.profiles import make_card

__all__ = [
    "COUNTER_KEYS", "PROFILES", "TEST_TERMINAL_KEY", "CardFacts", "LinkDropped", "VirtualCard",
    "make_card",
]
