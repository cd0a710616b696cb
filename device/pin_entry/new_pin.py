"""A new PIN on the pad, typed twice (and, for a change, the current one first).

:class:`NewPinEntry` runs one :class:`~device.pin_entry.machine.PinEntry` per
step, all on the same :class:`~device.pin_entry.spec.PinSpec`:

1. ``CURRENT`` (only when ``ask_current``): the PIN in use now, for CHANGE
   REFERENCE DATA after VERIFY (a change by the holder).
2. ``NEW``: the new PIN. The entry enforces the format of the kind (4 digits;
   the signature password 6–16 of A–Z/0–9 with both, by multi-tap).
3. ``ADVICE`` (only for an easy-to-guess choice, :mod:`device.pin_entry.advice`):
   Enter keeps it, Backspace or Clear chooses another. The UI learns only *that*
   the choice is easy to guess, never why.
4. ``CONFIRM``: the new PIN again. If the two differ, both are wiped and the
   applicant types the new PIN twice again (``MISMATCH``); nothing is released.
   A current PIN already typed stays held.

Only when both entries match (compared in constant time) and the format holds
is the consumer called, once, with a :class:`NewPin` of one-shot handles; every
held buffer is wiped before the call and the handles after it. Cancel, either
timeout, card removal and a failing consumer wipe everything too. The pad is
subscribed once for the whole flow, so no key between two steps reaches anyone
else.
"""

from __future__ import annotations

import enum
import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from device.pin_entry.advice import is_easy_to_guess
from device.pin_entry.events import (
    ConsumerFailure,
    PinEntryEvent,
    PinEntryState,
    PinEventKind,
    TimeoutKind,
)
from device.pin_entry.machine import (
    DEFAULT_KEY_ROLES,
    KeyAction,
    KeyInput,
    PinEntry,
    PinEntryStateError,
    PinPad,
)
from device.pin_entry.secret import PinHandle, SecretBuffer
from device.pin_entry.spec import PinSpec
from drivers.keypad.events import describe_failure

log = logging.getLogger(__name__)


class NewPinStep(enum.Enum):
    """Which PIN the applicant is typing now."""

    CURRENT = "current"
    NEW = "new"
    ADVICE = "advice"
    CONFIRM = "confirm"


class NewPinEventKind(enum.Enum):
    """What happened in the flow (the step's own key events come as ``ENTRY``)."""

    STEP = "step"  # a step began: see ``step``
    ENTRY = "entry"  # an event of the step's PIN entry: see ``entry`` (lengths only)
    ADVICE = "advice"  # the new PIN is easy to guess; Enter keeps it, Clear chooses again
    MISMATCH = "mismatch"  # the two entries differed: both wiped, typed again
    COMPLETED = "completed"  # both matched; the consumer has run
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    CARD_REMOVED = "card_removed"
    FAILED = "failed"  # the consumer raised: see ``failure``

    @property
    def final(self) -> bool:
        """True for the kinds that end the flow."""
        return self in _FINAL


_FINAL = frozenset({
    NewPinEventKind.COMPLETED, NewPinEventKind.CANCELLED, NewPinEventKind.TIMED_OUT,
    NewPinEventKind.CARD_REMOVED, NewPinEventKind.FAILED,
})


@dataclass(frozen=True, slots=True)
class NewPinEvent:
    """One UI-facing notification of the flow. Carries no PIN character by construction."""

    kind: NewPinEventKind
    step: NewPinStep
    entry: PinEntryEvent | None = None
    timeout: TimeoutKind | None = None
    failure: ConsumerFailure | None = None
    mismatches: int = 0


@dataclass(frozen=True, slots=True)
class NewPin:
    """What the consumer receives: the new PIN and, for a change, the current one.

    Both are one-shot :class:`PinHandle`\\ s, wiped when the consumer returns.
    """

    new: PinHandle
    current: PinHandle | None = None


class NewPinEntry:
    """Collects a new PIN of ``spec`` twice (and the current one first if ``ask_current``).

    :param spec: the PIN kind's rules; the same for the current and the new PIN.
    :param on_event: receives every :class:`NewPinEvent` (no characters).
    :param on_complete: receives the :class:`NewPin` once both entries matched; must
        use it before returning. What it raises becomes a ``FAILED`` event.
    :param ask_current: ask for the PIN in use first (a change by the holder).
    :param avoid: birth-date forms read from the card
        (:func:`~device.pin_entry.advice.birth_date_forms`) for the advice; card
        data, not a PIN.
    :param pad: the pad backend: subscribed and its prompt gate opened on
        :meth:`start`, closed and unsubscribed on every way out.

    The timeouts apply to each step as to one :class:`PinEntry`; the ``ADVICE``
    step has the inter-key limit.
    """

    def __init__(
        self,
        spec: PinSpec,
        *,
        on_event: Callable[[NewPinEvent], None],
        on_complete: Callable[[NewPin], None],
        ask_current: bool = False,
        avoid: Sequence[bytes | bytearray] = (),
        clock: Callable[[], float] = time.monotonic,
        overall_timeout: float = 60.0,
        inter_key_timeout: float = 15.0,
        multitap_commit: float = 1.0,
        key_roles: Mapping[str, KeyAction] = DEFAULT_KEY_ROLES,
        pad: PinPad | None = None,
    ) -> None:
        if overall_timeout <= 0 or inter_key_timeout <= 0 or multitap_commit <= 0:
            raise ValueError("PIN entry timeouts must be positive")
        self.spec = spec
        self._on_event = on_event
        self._on_complete = on_complete
        self._ask_current = ask_current
        self._avoid = tuple(avoid)
        self._clock = clock
        self._overall_timeout = overall_timeout
        self._inter_key_timeout = inter_key_timeout
        self._multitap_commit = multitap_commit
        self._key_roles = dict(key_roles)
        self._pad = pad
        self._lock = threading.RLock()
        # the PINs held between steps, fixed-size like the entry's own buffer
        self._current = SecretBuffer(spec.max_length)
        self._first = SecretBuffer(spec.max_length)
        self._entry: PinEntry | None = None
        self._step = NewPinStep.NEW
        self._state = PinEntryState.IDLE
        self._advice_since = 0.0
        self._mismatches = 0
        self._released = 0

    def __repr__(self) -> str:
        return f"<NewPinEntry {self.spec.name} step={self._step.value} state={self._state.value}>"

    # -- read-only views -----------------------------------------------------
    @property
    def state(self) -> PinEntryState:
        """``ENTERING`` while running; the final state afterwards."""
        return self._state

    @property
    def step(self) -> NewPinStep:
        """The step the applicant is on."""
        return self._step

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock the timeouts are measured with."""
        return self._clock

    @property
    def released(self) -> int:
        """How many times a new PIN went to the consumer (0 or 1)."""
        return self._released

    @property
    def mismatches(self) -> int:
        """How many times the confirmation differed from the first entry."""
        return self._mismatches

    def buffers(self) -> list[bytearray]:
        """Every backing buffer of the flow (held PINs and the step's entry), for tests."""
        with self._lock:
            held = [self._current.raw(), self._first.raw()]
            if self._entry is not None:
                held.append(self._entry.buffer_bytes())
            return held

    def held_lengths(self) -> tuple[int, int]:
        """Characters held for (current, first new): what the flow keeps between steps."""
        return len(self._current), len(self._first)

    def next_deadline(self) -> float | None:
        """The next monotonic time :meth:`check_timeouts` has something to do."""
        with self._lock:
            if self._state is not PinEntryState.ENTERING:
                return None
            if self._step is NewPinStep.ADVICE:
                return self._advice_since + self._inter_key_timeout
            return self._entry.next_deadline() if self._entry is not None else None

    def time_left(self) -> float | None:
        """Seconds until the current step times out (for a countdown); ``None`` when done."""
        with self._lock:
            if self._state is not PinEntryState.ENTERING:
                return None
            if self._step is NewPinStep.ADVICE:
                return max(0.0, self._advice_since + self._inter_key_timeout - self._clock())
            return self._entry.time_left() if self._entry is not None else None

    # -- life cycle ----------------------------------------------------------
    def start(self) -> None:
        """Open the prompt and begin with the first step."""
        with self._lock:
            if self._state is not PinEntryState.IDLE:
                raise PinEntryStateError(
                    f"cannot start a new-PIN entry that is {self._state.value}"
                )
            self._state = PinEntryState.ENTERING
            if self._pad is not None:
                self._pad.add_listener(self.on_key)
                self._pad.set_prompt_active(True)
            log.info("new-PIN entry started: %s (change=%s)", self.spec.name, self._ask_current)
            self._begin(NewPinStep.CURRENT if self._ask_current else NewPinStep.NEW)

    def cancel(self) -> None:
        """Abandon the flow (Cancel key, the clerk, or a screen change)."""
        self._finish(PinEntryState.CANCELLED, NewPinEventKind.CANCELLED)

    def card_removed(self) -> None:
        """The card left the reader: abandon the flow."""
        self._finish(PinEntryState.CARD_REMOVED, NewPinEventKind.CARD_REMOVED)

    def keep_advised(self) -> None:
        """At ``ADVICE``: keep the easy-to-guess choice and go on to the confirmation."""
        with self._lock:
            if self._state is PinEntryState.ENTERING and self._step is NewPinStep.ADVICE:
                self._begin(NewPinStep.CONFIRM)

    def choose_again(self) -> None:
        """At ``ADVICE``: drop the choice (wiped) and type another new PIN."""
        with self._lock:
            if self._state is PinEntryState.ENTERING and self._step is NewPinStep.ADVICE:
                self._first.clear()
                self._begin(NewPinStep.NEW)

    def check_timeouts(self) -> None:
        """Apply whatever limit has run out at the clock's current time."""
        with self._lock:
            if self._state is not PinEntryState.ENTERING:
                return
            if self._step is NewPinStep.ADVICE:
                if self._clock() - self._advice_since >= self._inter_key_timeout:
                    self._finish(
                        PinEntryState.TIMED_OUT, NewPinEventKind.TIMED_OUT, TimeoutKind.INTER_KEY
                    )
            elif self._entry is not None:
                self._entry.check_timeouts()

    # -- keys ----------------------------------------------------------------
    def on_key(self, event: KeyInput) -> None:
        """Feed one pad key event to the current step."""
        if not event.pressed:
            return
        with self._lock:
            self.check_timeouts()
            if self._state is not PinEntryState.ENTERING:
                return
            if self._step is not NewPinStep.ADVICE:
                if self._entry is not None:
                    self._entry.on_key(event)
                return
            action = self._key_roles.get(event.key)
            if action is KeyAction.ENTER:
                self.keep_advised()
            elif action in (KeyAction.BACKSPACE, KeyAction.CLEAR):
                self.choose_again()
            elif action is KeyAction.CANCEL:
                self.cancel()
            else:
                self._emit(NewPinEventKind.ADVICE)  # a reminder of the two choices

    def entry(self) -> PinEntry | None:
        """The current step's PIN entry (``None`` at ``ADVICE`` and after the end)."""
        return self._entry

    # -- steps ---------------------------------------------------------------
    def _begin(self, step: NewPinStep) -> None:
        self._step = step
        self._entry = PinEntry(
            self.spec,
            on_event=self._entry_event,
            on_complete=self._took,
            clock=self._clock,
            overall_timeout=self._overall_timeout,
            inter_key_timeout=self._inter_key_timeout,
            multitap_commit=self._multitap_commit,
            key_roles=self._key_roles,
        )
        self._emit(NewPinEventKind.STEP)
        self._entry.start()

    def _entry_event(self, event: PinEntryEvent) -> None:
        """The step's entry spoke: pass its masks on, and end the flow with it."""
        if event.kind is PinEventKind.CANCELLED:
            self.cancel()
        elif event.kind is PinEventKind.TIMED_OUT:
            self._finish(PinEntryState.TIMED_OUT, NewPinEventKind.TIMED_OUT, event.timeout)
        elif event.kind is PinEventKind.CARD_REMOVED:
            self.card_removed()
        elif event.kind is PinEventKind.FAILED:
            # only the confirmation step hands the PIN to the consumer
            self._finish(PinEntryState.COMPLETE, NewPinEventKind.FAILED, failure=event.failure)
        else:
            self._emit(NewPinEventKind.ENTRY, entry=event)

    def _took(self, handle: PinHandle) -> None:
        """A step's PIN was entered (the entry wipes ``handle`` when this returns)."""
        with handle.open() as pin:
            if self._step is NewPinStep.CURRENT:
                _hold(self._current, pin)
                self._begin(NewPinStep.NEW)
            elif self._step is NewPinStep.NEW:
                _hold(self._first, pin)
                if is_easy_to_guess(pin, avoid=self._avoid):
                    self._entry = None
                    self._step = NewPinStep.ADVICE
                    self._advice_since = self._clock()
                    self._emit(NewPinEventKind.ADVICE)
                else:
                    self._begin(NewPinStep.CONFIRM)
            else:
                self._confirm(pin)

    def _confirm(self, pin: bytearray) -> None:
        first = self._first.view()
        same = len(first) == len(pin) and hmac.compare_digest(first, pin)
        del first  # the view must go before the buffer may be touched again
        if not same or self.spec.check(pin) is not None:
            self._first.clear()
            self._mismatches += 1
            log.info("new-PIN entry: the confirmation differed; typed again")
            self._emit(NewPinEventKind.MISMATCH)
            # the current PIN (a change) stays held: only the new one is typed twice again
            self._begin(NewPinStep.NEW)
            return
        new = self._first.hand_off()
        current = self._current.hand_off() if self._ask_current else None
        self._released += 1
        try:
            # errors go back to the step's entry, which turns them into FAILED
            self._on_complete(NewPin(new=new, current=current))
        finally:
            new.wipe()
            if current is not None:
                current.wipe()
        self._finish(PinEntryState.COMPLETE, NewPinEventKind.COMPLETED)

    def _finish(
        self,
        state: PinEntryState,
        kind: NewPinEventKind,
        timeout: TimeoutKind | None = None,
        failure: ConsumerFailure | None = None,
    ) -> None:
        with self._lock:
            if self._state.finished:
                return
            self._state = state
            self._current.clear()
            self._first.clear()
            entry, self._entry = self._entry, None
            if entry is not None and not entry.state.finished:
                entry.cancel()  # wipes its buffer; its CANCELLED is ignored (already final)
            if self._pad is not None:
                self._pad.set_prompt_active(False)
                self._pad.remove_listener(self.on_key)
            log.info("new-PIN entry ended: %s %s", self.spec.name, state.value)
            self._emit(kind, timeout=timeout, failure=failure)

    def _emit(
        self,
        kind: NewPinEventKind,
        *,
        entry: PinEntryEvent | None = None,
        timeout: TimeoutKind | None = None,
        failure: ConsumerFailure | None = None,
    ) -> None:
        event = NewPinEvent(kind, self._step, entry, timeout, failure, self._mismatches)
        try:
            self._on_event(event)
        except Exception as exc:
            # the flow goes on (its buffers must still be wiped on the way out); masked
            # like any listener failure on the pad
            log.error("new-PIN event listener failed:\n%s", describe_failure(exc))


def _hold(buffer: SecretBuffer, pin: bytearray) -> None:
    """Copy ``pin`` into ``buffer`` byte by byte (no intermediate object)."""
    buffer.clear()
    for byte in pin:
        buffer.append(byte)
