"""The PIN entry state machine: keys in, masked events out, a wiped buffer always.

One :class:`PinEntry` serves one PIN prompt. It takes key events from a pad
backend (on the pad's thread), keeps the characters in a
:class:`~device.pin_entry.secret.SecretBuffer`, tells the UI only lengths and
states through ``on_event``, and on a valid Enter hands the PIN to
``on_complete`` as a one-shot :class:`~device.pin_entry.secret.PinHandle`.

Every way out wipes the buffer: Enter (after the hand-off, and the handle again
once ``on_complete`` returns), cancel, either timeout, card removal.

Time comes from an injected ``clock`` and timeouts are checked by
:meth:`PinEntry.check_timeouts`, which a :class:`~device.pin_entry.ticker.TimeoutTicker`
calls on the appliance and a test calls after moving its fake clock.

Callbacks run with the entry's lock held, on whichever thread fed the key or
called the method; a UI must marshal ``on_event`` to its own thread (Textual:
``App.call_from_thread``) and must not wait there on another thread that calls
back into this entry.
"""

from __future__ import annotations

import enum
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from device.card.errors import WrongPinError
from device.pin_entry.events import (
    ConsumerFailure,
    PinEntryEvent,
    PinEntryState,
    PinEventKind,
    TimeoutKind,
)
from device.pin_entry.multitap import MULTITAP_GROUPS
from device.pin_entry.secret import PinHandle, SecretBuffer
from device.pin_entry.spec import PinProblem, PinSpec
from drivers.keypad.events import DIGITS, describe_failure, mask_secret_chars
from madoguchi.errors import MadoguchiError, PinError

log = logging.getLogger(__name__)

#: What a multi-tap password can be made of (upper-case letters and digits).
_PASSWORD_CHARS = re.compile(r"[0-9A-Z]")


class KeyAction(enum.Enum):
    """What a non-digit key does."""

    ENTER = "enter"
    BACKSPACE = "backspace"
    CLEAR = "clear"
    CANCEL = "cancel"


#: key label -> action; digits are characters. Fits the 4x3 (``*``, ``#``) and
#: the 4x4 pad (``A``–``D`` down the right-hand column).
DEFAULT_KEY_ROLES: Mapping[str, KeyAction] = {
    "#": KeyAction.ENTER,
    "D": KeyAction.ENTER,
    "*": KeyAction.BACKSPACE,
    "B": KeyAction.BACKSPACE,
    "C": KeyAction.CLEAR,
    "A": KeyAction.CANCEL,
}


class KeyInput(Protocol):
    """What PIN entry reads from a pad's key event (``drivers.keypad.KeyEvent``)."""

    @property
    def key(self) -> str: ...

    @property
    def pressed(self) -> bool: ...


class PinPad(Protocol):
    """A pad backend (``drivers.keypad``): listeners, and a gate that passes keys
    only while a PIN prompt is active."""

    def set_prompt_active(self, active: bool) -> None: ...

    def add_listener(self, listener: Callable[[Any], None]) -> None: ...

    def remove_listener(self, listener: Callable[[Any], None]) -> None: ...


class PinEntryStateError(PinError):
    """A PIN entry was asked to do something its state does not allow."""


class PinEntry:
    """Collects one PIN of type ``spec`` from pad key events.

    :param spec: the PIN's rules (length, alphabet, multi-tap).
    :param on_event: receives every :class:`PinEntryEvent` (UI-facing, no characters).
    :param on_complete: receives the finished PIN as a :class:`PinHandle`; must use
        it before returning. The handle is wiped when it returns or raises. What
        it raises does not escape (on the GPIO pad nobody above the scan thread
        would catch it): it becomes a :attr:`PinEventKind.FAILED` event whose
        :class:`ConsumerFailure` tells the UI the outcome (a wrong PIN and the
        tries left, a refused last try, a removed card...).
    :param clock: monotonic clock in seconds.
    :param overall_timeout: seconds from :meth:`start` until entry is abandoned.
    :param inter_key_timeout: seconds allowed before the first and between keys.
    :param multitap_commit: seconds after which a pending multi-tap letter is fixed.
    :param key_roles: labels of the function keys.
    :param pad: the pad backend: :meth:`start` subscribes :meth:`on_key` and opens
        its prompt gate; every way out closes the gate and unsubscribes. Without
        one, the caller feeds :meth:`on_key` itself.
    """

    def __init__(
        self,
        spec: PinSpec,
        *,
        on_event: Callable[[PinEntryEvent], None],
        on_complete: Callable[[PinHandle], None],
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
        self._clock = clock
        self._overall_timeout = overall_timeout
        self._inter_key_timeout = inter_key_timeout
        self._multitap_commit = multitap_commit
        self._key_roles = dict(key_roles)
        self._pad = pad
        self._lock = threading.RLock()
        self._buffer = SecretBuffer(spec.max_length)
        self._state = PinEntryState.IDLE
        self._started_at = 0.0
        self._last_key_at = 0.0
        # multi-tap: the key whose letter is pending, and where in its group we are
        self._pending_key: str | None = None
        self._tap_index = 0

    def __repr__(self) -> str:
        return f"<PinEntry {self.spec.name} state={self._state.value} length={len(self._buffer)}>"

    # -- read-only views -----------------------------------------------------
    @property
    def state(self) -> PinEntryState:
        """The current state."""
        return self._state

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock this entry measures its timeouts with."""
        return self._clock

    @property
    def length(self) -> int:
        """Characters typed so far, a pending multi-tap letter included."""
        return len(self._buffer)

    def buffer_bytes(self) -> bytearray:
        """The backing buffer itself, for tests that prove it was wiped."""
        return self._buffer.raw()

    def next_deadline(self) -> float | None:
        """The next monotonic time :meth:`check_timeouts` has something to do."""
        with self._lock:
            if self._state is not PinEntryState.ENTERING:
                return None
            deadlines = [
                self._started_at + self._overall_timeout,
                self._last_key_at + self._inter_key_timeout,
            ]
            if self._pending_key is not None:
                deadlines.append(self._last_key_at + self._multitap_commit)
            return min(deadlines)

    def time_left(self) -> float | None:
        """Seconds until the entry times out (the nearer of its two limits), for a countdown.

        ``None`` when the entry is not running. A timeout only ends the entry: no
        VERIFY is sent, so no try is spent.
        """
        with self._lock:
            if self._state is not PinEntryState.ENTERING:
                return None
            deadline = min(
                self._started_at + self._overall_timeout,
                self._last_key_at + self._inter_key_timeout,
            )
            return max(0.0, deadline - self._clock())

    # -- life cycle ----------------------------------------------------------
    def start(self) -> None:
        """Open the prompt: the pad's keys now reach this entry."""
        with self._lock:
            if self._state is not PinEntryState.IDLE:
                raise PinEntryStateError(f"cannot start a PIN entry that is {self._state.value}")
            now = self._clock()
            self._started_at = self._last_key_at = now
            self._state = PinEntryState.ENTERING
            if self._pad is not None:
                self._pad.add_listener(self.on_key)
                self._pad.set_prompt_active(True)
            log.info("PIN entry started: %s", self.spec.name)
            self._emit(PinEventKind.STARTED)

    def cancel(self) -> None:
        """Abandon the entry (Cancel key, the clerk, or a screen change)."""
        self._finish(PinEntryState.CANCELLED, PinEventKind.CANCELLED)

    def card_removed(self) -> None:
        """The card left the reader: abandon the entry."""
        self._finish(PinEntryState.CARD_REMOVED, PinEventKind.CARD_REMOVED)

    def check_timeouts(self) -> None:
        """Apply whatever limit has run out at the clock's current time."""
        with self._lock:
            if self._state is not PinEntryState.ENTERING:
                return
            now = self._clock()
            if now - self._started_at >= self._overall_timeout:
                self._finish(PinEntryState.TIMED_OUT, PinEventKind.TIMED_OUT, TimeoutKind.OVERALL)
            elif now - self._last_key_at >= self._inter_key_timeout:
                self._finish(
                    PinEntryState.TIMED_OUT, PinEventKind.TIMED_OUT, TimeoutKind.INTER_KEY
                )
            elif self._pending_key is not None and now - self._last_key_at >= self._multitap_commit:
                self._commit_pending()
                self._emit(PinEventKind.COMMITTED)

    # -- keys ----------------------------------------------------------------
    def on_key(self, event: KeyInput) -> None:
        """Feed one pad key event; key-ups and keys outside a prompt are ignored."""
        if not event.pressed:
            return
        with self._lock:
            self.check_timeouts()
            if self._state is not PinEntryState.ENTERING:
                return
            key = event.key
            action = self._key_roles.get(key)
            if action is not None:
                self._last_key_at = self._clock()
                self._do(action)
            elif key in MULTITAP_GROUPS:
                self._digit(key, self._clock())
            else:
                self._last_key_at = self._clock()
                self._emit(PinEventKind.REJECTED, problem=PinProblem.KEY_NOT_USED)

    def backspace(self) -> None:
        """Remove the last character (or the pending multi-tap letter)."""
        self._do(KeyAction.BACKSPACE)

    def clear(self) -> None:
        """Remove every character; the prompt stays open."""
        self._do(KeyAction.CLEAR)

    def enter(self) -> None:
        """Finish the entry if the PIN meets its rules, else report why not."""
        self._do(KeyAction.ENTER)

    def _do(self, action: KeyAction) -> None:
        with self._lock:
            if self._state is not PinEntryState.ENTERING:
                return
            if action is KeyAction.CANCEL:
                self.cancel()
            elif action is KeyAction.BACKSPACE:
                self._pending_key = None
                self._buffer.pop()
                self._emit(PinEventKind.LENGTH_CHANGED)
            elif action is KeyAction.CLEAR:
                self._pending_key = None
                self._buffer.clear()
                self._emit(PinEventKind.LENGTH_CHANGED)
            else:
                self._enter()

    def _digit(self, key: str, now: float) -> None:
        group = MULTITAP_GROUPS[key] if self.spec.multitap else key.encode("ascii")
        same_key = self._pending_key == key and now - self._last_key_at < self._multitap_commit
        self._last_key_at = now
        if same_key:
            self._tap_index = (self._tap_index + 1) % len(group)
            self._buffer.replace_last(group[self._tap_index])
            self._emit(PinEventKind.TAP, tap_index=self._tap_index)
            return
        self._commit_pending()
        if len(self._buffer) >= self.spec.max_length:
            self._emit(PinEventKind.REJECTED, problem=PinProblem.TOO_LONG)
            return
        self._buffer.append(group[0])
        if len(group) > 1:
            self._pending_key = key
            self._tap_index = 0
            self._emit(PinEventKind.LENGTH_CHANGED, tap_index=0)
        else:
            self._emit(PinEventKind.LENGTH_CHANGED)

    def _commit_pending(self) -> None:
        self._pending_key = None
        self._tap_index = 0

    def _enter(self) -> None:
        self._commit_pending()
        problem = self.spec.check(self._buffer.view())
        if problem is not None:
            # the buffer is kept: the applicant may correct it (bad input loses nothing)
            self._emit(PinEventKind.REJECTED, problem=problem)
            return
        handle = self._buffer.hand_off()
        self._close(PinEntryState.COMPLETE)
        log.info("PIN entry complete: %s", self.spec.name)
        self._emit(PinEventKind.COMPLETED, length=len(handle))
        try:
            self._on_complete(handle)
        except MadoguchiError as exc:
            # an answer, not a bug: its message never holds a PIN (madoguchi.errors)
            log.info("PIN consumer for %s failed: %s: %s", self.spec.name, type(exc).__name__, exc)
            remaining = exc.remaining if isinstance(exc, WrongPinError) else None
            failure = ConsumerFailure(type(exc), str(exc), expected=True, remaining=remaining)
        except Exception as exc:
            # a bug: nothing vouches for its message, so what could be the PIN is masked
            secret_chars = _PASSWORD_CHARS if self.spec.multitap else DIGITS
            log.error(
                "PIN consumer for %s failed unexpectedly:\n%s",
                self.spec.name,
                describe_failure(exc, secret_chars),
            )
            failure = ConsumerFailure(
                type(exc), mask_secret_chars(str(exc), secret_chars), expected=False
            )
        else:
            return
        finally:
            handle.wipe()
        self._emit(PinEventKind.FAILED, length=len(handle), failure=failure)

    def _finish(
        self, state: PinEntryState, kind: PinEventKind, timeout: TimeoutKind | None = None
    ) -> None:
        with self._lock:
            if self._state.finished:
                return
            self._buffer.clear()
            self._close(state)
            log.info("PIN entry ended: %s %s", self.spec.name, state.value)
            self._emit(kind, timeout=timeout)

    def _close(self, state: PinEntryState) -> None:
        self._pending_key = None
        self._state = state
        if self._pad is not None:
            self._pad.set_prompt_active(False)
            self._pad.remove_listener(self.on_key)

    def _emit(
        self,
        kind: PinEventKind,
        *,
        tap_index: int | None = None,
        problem: PinProblem | None = None,
        timeout: TimeoutKind | None = None,
        length: int | None = None,
        failure: ConsumerFailure | None = None,
    ) -> None:
        event = PinEntryEvent(
            kind=kind,
            state=self._state,
            length=len(self._buffer) if length is None else length,
            tap_index=tap_index,
            problem=problem,
            timeout=timeout,
            failure=failure,
        )
        try:
            self._on_event(event)
        except Exception as exc:
            # the entry goes on (its buffer must still be wiped on the way out); the
            # UI's bug is logged, masked like any listener failure on the pad
            log.error("PIN event listener failed:\n%s", describe_failure(exc))
