"""The one error tree of madoguchi.

Every boundary (PC/SC, GPIO, the card's status words, the rules, the store, the
network, update bundles) turns what went wrong into one of these, so that callers
above it catch typed errors and the TUI can show a clear message. Leaves also
inherit the builtin that fits (``TimeoutError``, ``ValueError``, ...), the way
gpiozero's ``exc.py`` does, so generic handlers keep working.

Areas may add leaves in their own modules (for example ``device.card.errors``),
but always under one of these branches::

    MadoguchiError
    ├── ConfigError (ValueError)            bad or unknown configuration, unknown backend name
    ├── DriverError                         hardware seam (drivers/)
    │   ├── ReaderError
    │   │   ├── ReaderNotFoundError         no such reader / no reader at all
    │   │   ├── ReaderUnavailableError      reader unplugged or PC/SC service gone
    │   │   ├── CardAbsentError             no card on the reader
    │   │   ├── CardRemovedError            card taken away mid-command
    │   │   │   └── CardResetError          reset by someone else: session state is gone
    │   │   ├── CardTimeoutError (TimeoutError)
    │   │   └── TransportError              any other transmit failure
    │   └── KeypadError                     GPIO keypad / indicator failures
    ├── CardError                           the card answered, and the answer is a problem
    │   ├── StatusWordError                 a status word other than 9000 (carries ``sw``)
    │   └── MalformedResponseError (ValueError)   bad TLV, lying lengths, oversized data
    ├── PinError                            PIN policy (never carries the PIN itself)
    ├── RuleError                           procedure engine: bad case input, unknown procedure
    ├── PersonalDataError (ValueError)      a record would hold a PIN or an individual number
    ├── StoreError                          local SQLite store
    ├── SyncError                           uploader and central server
    └── UpdateError                         update bundles: signature, hashes, versions

Messages never contain a PIN, a password or an individual number (My Number).
"""

from __future__ import annotations


class MadoguchiError(Exception):
    """Root of every error madoguchi raises on purpose."""


class ConfigError(MadoguchiError, ValueError):
    """The configuration is invalid, or names a backend that does not exist."""


class DriverError(MadoguchiError):
    """A hardware driver (reader, keypad, indicators) failed."""


class ReaderError(DriverError):
    """The card reader or the PC/SC service failed.

    ``code`` keeps the PC/SC ``hresult`` when there is one (shown in hex).
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:
        base = super().__str__()
        if self.code is None:
            return base
        return f"{base} (PC/SC 0x{self.code & 0xFFFFFFFF:08X})"


class ReaderNotFoundError(ReaderError, LookupError):
    """No reader, or no reader with the configured name."""


class ReaderUnavailableError(ReaderError):
    """The reader was unplugged or the PC/SC service is not running."""


class CardAbsentError(ReaderError):
    """No card is on the reader."""


class CardRemovedError(ReaderError):
    """The card was taken off the reader, possibly in the middle of a command."""


class CardResetError(CardRemovedError):
    """The card was reset by another program: selections and verified PINs are gone."""


class CardTimeoutError(ReaderError, TimeoutError):
    """The card or the reader did not answer in time."""


class TransportError(ReaderError):
    """Transmitting an APDU failed for another reason."""


class KeypadError(DriverError):
    """The GPIO keypad or an indicator could not be set up or read."""


class CardError(MadoguchiError):
    """The card answered, and the answer is an error or cannot be understood."""


class StatusWordError(CardError):
    """The card answered with a status word other than 9000."""

    def __init__(self, message: str, *, sw: int) -> None:
        super().__init__(message)
        self.sw = sw

    def __str__(self) -> str:
        return f"{super().__str__()} (SW {self.sw:04X})"


class MalformedResponseError(CardError, ValueError):
    """A card answer does not parse: bad TLV, a lying length field, oversized data."""


class PinError(MadoguchiError):
    """A PIN rule stopped an action. Never carries the PIN."""


class RuleError(MadoguchiError, ValueError):
    """The procedure engine got input it cannot decide on."""


class PersonalDataError(MadoguchiError, ValueError):
    """A record would hold data that is never stored or synced (a PIN, an individual number).

    The message names where, never the value.
    """


class StoreError(MadoguchiError):
    """The local store failed."""


class SyncError(MadoguchiError):
    """Uploading to or serving from the central server failed."""


class UpdateError(MadoguchiError):
    """An update bundle was refused or could not be applied."""
