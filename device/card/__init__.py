"""The card-session layer: APDUs, TLV, status words, PIN safety and card kinds for My Number cards.

Start with :class:`device.card.session.CardSession` on a transport from
:func:`drivers.open_reader`, then the operations in :mod:`device.card.reading`
(tap-to-ready, identity check, certificates) and the classification in
:mod:`device.card.kind`.
"""
