"""Which card is on the reader, read without a PIN: so a card swapped mid-procedure is noticed.

The JPKI user-authentication certificate (EF 000A) is free to read; its opening
bytes (the DER headers, the version and the serial number) name one card, and one
READ BINARY gets them, so a card read costs one APDU more, not a whole certificate.
A card without it (a 住基 card, a card whose certificates were never issued or were
revoked) is named by what tap-to-ready read instead: the JPKI token, the expiry and
which applications answer. Either way only a digest leaves here; it is compared,
never shown, stored or synced.
"""

from __future__ import annotations

import hashlib

from device.card import layout
from device.card.layout import Application
from device.card.reading import ReadyReport
from device.card.session import CardSession
from madoguchi.errors import MalformedResponseError, StatusWordError

#: Bytes read from the start of the certificate EF: its SEQUENCE and TBSCertificate
#: headers, the version and a serial number of up to 20 bytes fit in 40.
CERT_HEAD = 40
#: Hex digits of the digest kept (64 bits: enough to tell two cards apart at a counter).
DIGEST_HEX = 16


def card_identity(session: CardSession, ready: ReadyReport, atr: bytes = b"") -> str | None:
    """A digest naming the card on the reader, or ``None`` when nothing identifies it."""
    parts: list[str] = []
    if ready.certificates is not None and ready.certificates.auth:
        try:
            head = session.read_exact(Application.JPKI, layout.JPKI_AUTH_CERT, CERT_HEAD)
        except (StatusWordError, MalformedResponseError):
            pass
        else:
            parts += ["auth", head.hex()]
    if not parts:
        if ready.token is None and ready.expiry is None:
            return None
        parts += [
            "card",
            atr.hex(),
            ready.token.name if ready.token is not None else "",
            ready.expiry.isoformat() if ready.expiry is not None else "",
            ",".join(sorted(app.name for app, present in ready.applications.items() if present)),
        ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return digest[:DIGEST_HEX]
