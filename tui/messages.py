"""Messages that carry results from driver threads and workers to the screens.

Thread workers and the reader-watch thread only ever call ``post_message`` (safe
from any thread); the app's handlers then update its reactive state on the
event loop, and the screens watch that state.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.message import Message

from device.operators import OperatorAuthError, OperatorSession
from device.pin_entry import PinEntryEvent
from device.records import TransactionRecord
from tui.services import (
    CardStatus,
    HealthItem,
    HistoryPage,
    PinVerifyResult,
    PinView,
    ReaderState,
    ReaderTestResult,
    SyncState,
)


class ReaderChanged(Message):
    """The reader slot changed (card put down or taken away, reader unplugged)."""

    def __init__(self, state: ReaderState) -> None:
        super().__init__()
        self.state = state
        """The new state of the slot."""


class CardStatusRead(Message):
    """The card layer finished reading the card on the reader."""

    def __init__(self, status: CardStatus) -> None:
        super().__init__()
        self.status = status
        """What the card layer reported."""


class StatusPolled(Message):
    """A periodic look at the outbox, the server and the device health finished."""

    def __init__(self, sync: SyncState, health: Sequence[HealthItem]) -> None:
        super().__init__()
        self.sync = sync
        """Outbox and server."""
        self.health = tuple(health)
        """Device health lines."""


class SignInFinished(Message):
    """The password check finished: a session, or the typed error that refused it."""

    def __init__(
        self, session: OperatorSession | None, error: OperatorAuthError | None
    ) -> None:
        super().__init__()
        self.session = session
        """The new session when the password was right."""
        self.error = error
        """Why sign-in was refused otherwise (never holds the password)."""


class ReaderTested(Message):
    """The diagnostics reader test finished."""

    def __init__(self, result: ReaderTestResult) -> None:
        super().__init__()
        self.result = result
        """What the test found."""


class KeypadKey(Message):
    """A key on the PIN pad was pressed during the keypad test (never during PIN entry)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        """The key's label as printed on the pad."""


class ProfileSwitched(Message):
    """The demo put a card of another profile on the virtual reader."""

    def __init__(self, profile: str, error: str | None = None) -> None:
        super().__init__()
        self.profile = profile
        """The profile now on the reader."""
        self.error = error
        """Why switching failed, if it did."""


class PinStatusRead(Message):
    """The tries left of a PIN were read (right before offering the prompt)."""

    def __init__(self, status: PinView | None, error: str | None = None) -> None:
        super().__init__()
        self.status = status
        """The counter, or ``None`` when it could not be read."""
        self.error = error
        """Why it could not be read."""


class PinProgress(Message):
    """PIN entry changed: a mask more or less, a refused key, the end (never a character)."""

    def __init__(self, event: PinEntryEvent) -> None:
        super().__init__()
        self.event = event
        """Lengths, states and problems from :mod:`device.pin_entry`."""


class PinVerified(Message):
    """The VERIFY of the entered PIN finished (the PIN is already wiped)."""

    def __init__(self, result: PinVerifyResult) -> None:
        super().__init__()
        self.result = result
        """How it ended."""


class TransactionStored(Message):
    """The decided procedure's transaction record was written (or why not)."""

    def __init__(self, transaction_id: str | None, error: str | None) -> None:
        super().__init__()
        self.transaction_id = transaction_id
        """The stored record's id."""
        self.error = error
        """Why it could not be stored."""


class TodayLoaded(Message):
    """Today's transaction records were read from the store."""

    def __init__(self, records: tuple[TransactionRecord, ...], error: str | None) -> None:
        super().__init__()
        self.records = records
        """Today's records, oldest first."""
        self.error = error
        """Why they could not be read."""


class HistoryLoaded(Message):
    """A page of the local history was read from the store (or why not)."""

    def __init__(self, offset: int, page: HistoryPage | None, error: str | None) -> None:
        super().__init__()
        self.offset = offset
        """Where the page starts (0 = the newest transaction)."""
        self.page = page
        """The page, or ``None`` when it could not be read."""
        self.error = error
        """Why it could not be read."""
