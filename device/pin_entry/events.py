"""What the UI learns about PIN entry: lengths, states and problems, never characters.

This is the PED callback model: a certified PIN pad tells the application that
"a digit was added" and the application draws a mask. :class:`PinEntryEvent`
has no field that could hold a character; the only hint about content is
:attr:`PinEntryEvent.tap_index` while a multi-tap letter is being chosen, which
the applicant needs in order to count taps (see ``docs/pinpad.md``). When
the consumer of the finished PIN fails, :attr:`PinEntryEvent.failure` says how
(type, message, tries left), never with the PIN.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from device.pin_entry.spec import PinProblem


class PinEntryState(enum.Enum):
    """Where a PIN entry is in its life."""

    IDLE = "idle"
    ENTERING = "entering"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    CARD_REMOVED = "card_removed"

    @property
    def finished(self) -> bool:
        """True for every state after which the entry takes no more keys."""
        return self not in (PinEntryState.IDLE, PinEntryState.ENTERING)


class PinEventKind(enum.Enum):
    """What happened."""

    STARTED = "started"
    LENGTH_CHANGED = "length_changed"  # a character added, removed, or all cleared
    TAP = "tap"  # multi-tap: the pending letter moved to the next in its group
    COMMITTED = "committed"  # multi-tap: the pending letter was fixed
    REJECTED = "rejected"  # a key or an Enter was refused; see ``problem``
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    CARD_REMOVED = "card_removed"
    FAILED = "failed"  # the consumer of the finished PIN raised; see ``failure``


class TimeoutKind(enum.Enum):
    """Which of the two PIN-entry limits ran out."""

    INTER_KEY = "inter_key"
    OVERALL = "overall"


@dataclass(frozen=True, slots=True)
class ConsumerFailure:
    """Why the consumer of a finished PIN (the VERIFY) failed, for the UI.

    :param error_type: the class of the error (``WrongPinError``,
        ``LastTryNotConfirmedError``, ``CardRemovedError``...), for ``issubclass``.
    :param message: its message. A :class:`~madoguchi.errors.MadoguchiError`
        message never holds a PIN and is passed on as it is; any other message has
        its digits masked, since nothing vouches for it.
    :param expected: ``True`` for a :class:`~madoguchi.errors.MadoguchiError` (an
        answer such as a wrong PIN), ``False`` for any other exception (a bug,
        logged with its traceback).
    :param remaining: tries left, when the error says (a wrong PIN).
    """

    error_type: type[Exception]
    message: str
    expected: bool
    remaining: int | None = None


@dataclass(frozen=True, slots=True)
class PinEntryEvent:
    """One UI-facing notification. Carries no PIN character by construction."""

    kind: PinEventKind
    state: PinEntryState
    length: int
    tap_index: int | None = None
    problem: PinProblem | None = None
    timeout: TimeoutKind | None = None
    failure: ConsumerFailure | None = None
