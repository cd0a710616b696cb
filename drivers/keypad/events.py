"""Key events and the listener seam shared by every keypad backend.

A backend (the GPIO matrix, the keyboard stand-in) knows keys, never PINs: it
turns contacts into :class:`KeyEvent` objects and hands them to listeners. What
a key *means* (a digit, Enter, a multi-tap letter) is decided above, in
``device.pin_entry``.

Because a key label on a PIN pad is a PIN digit, :class:`KeyEvent` hides its
label from ``repr`` and ``str``: an event that lands in a log line or a
traceback shows ``key=<hidden>``.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: What a key label on the pad can be: a PIN digit.
DIGITS = re.compile(r"[0-9]")


def mask_secret_chars(text: str, secret_chars: re.Pattern[str] = DIGITS) -> str:
    """``text`` with every character a PIN could be made of replaced by ``#``.

    On a PIN pad the digit keys are the PIN; an error message written by code
    that handles keys (``KeyError('7')``) could quote one.
    """
    return secret_chars.sub("#", text)


def describe_failure(error: BaseException, secret_chars: re.Pattern[str] = DIGITS) -> str:
    """A traceback of ``error`` for the log, safe on a PIN pad.

    The frames (file, line, source line) are kept as they are: they show code,
    never values. The exception lines, which carry messages, have every
    ``secret_chars`` character masked (:func:`mask_secret_chars`); causes and
    contexts are included the same way.
    """
    parts: list[str] = []
    current: traceback.TracebackException | None = traceback.TracebackException.from_exception(
        error
    )
    while current is not None:
        frames = "".join(current.stack.format())
        lines = "".join(
            mask_secret_chars(line, secret_chars) for line in current.format_exception_only()
        )
        parts.append(f"Traceback (most recent call last):\n{frames}{lines}")
        if current.__cause__ is not None:
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    # the chain is walked from the last error back; print it oldest first, as Python does
    return "\nwhich led to\n".join(reversed(parts)).rstrip("\n")


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """One debounced key transition.

    :param key: the label of the key as printed on the keycap (``"7"``, ``"#"``).
    :param pressed: ``True`` for key-down, ``False`` for key-up.
    :param monotonic: :func:`time.monotonic` when the transition was confirmed.
    """

    key: str = field(repr=False)
    pressed: bool
    monotonic: float

    def __repr__(self) -> str:
        return f"KeyEvent(key=<hidden>, pressed={self.pressed}, monotonic={self.monotonic:.6f})"

    __str__ = __repr__


KeyListener = Callable[[KeyEvent], None]


class KeyDispatcher:
    """Delivers key events to listeners, and only while a PIN prompt is active.

    Prompt gating is the "prompt control" idea of PIN entry devices: a key typed
    while no PIN screen is up goes nowhere, so no other flow can borrow the pad.
    The one exception is the keypad test of the diagnostics screen: while it is
    open (:meth:`open_key_test`) its single listener, and nothing else, hears the
    keys. The two never overlap: the test cannot open during a prompt, and a
    prompt opening closes the test.
    Listeners run on the backend's thread (the scan thread for the GPIO pad);
    one that raises is logged with its traceback (digits of its message masked,
    :func:`describe_failure`) and neither stops the others nor the thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: tuple[KeyListener, ...] = ()
        self._prompt_active = False
        self._key_test: KeyListener | None = None
        #: events dropped because no prompt was active (a count, never the keys)
        self.dropped = 0

    @property
    def prompt_active(self) -> bool:
        """Whether a PIN prompt currently accepts keys."""
        return self._prompt_active

    def set_prompt_active(self, active: bool) -> None:
        """Open (``True``) or close (``False``) the gate; PIN entry calls this."""
        with self._lock:
            if active:
                self._key_test = None  # a PIN prompt ends any keypad test at once
            self._prompt_active = active

    @property
    def key_test_active(self) -> bool:
        """Whether the diagnostics keypad test currently hears the keys."""
        return self._key_test is not None

    def open_key_test(self, listener: KeyListener) -> bool:
        """Let ``listener`` alone hear the keys (the keypad test); False during a prompt."""
        with self._lock:
            if self._prompt_active:
                return False
            self._key_test = listener
            return True

    def close_key_test(self, listener: KeyListener) -> None:
        """End the keypad test ``listener`` opened (a later test or prompt is left alone)."""
        with self._lock:
            if self._key_test == listener:
                self._key_test = None

    def add_listener(self, listener: KeyListener) -> None:
        """Call ``listener(event)`` for every key event while a prompt is active."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def remove_listener(self, listener: KeyListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        with self._lock:
            # ==, not "is": a bound method is a new object at every attribute access
            self._listeners = tuple(item for item in self._listeners if item != listener)

    def dispatch(self, event: KeyEvent) -> bool:
        """Hand ``event`` to every listener; returns ``False`` if the gate dropped it."""
        with self._lock:
            prompt, key_test = self._prompt_active, self._key_test
        if not prompt:
            if key_test is None:
                self.dropped += 1
                return False
            listeners: tuple[KeyListener, ...] = (key_test,)
        else:
            listeners = self._listeners
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:
                # the last resort: the scan thread must outlive a broken listener, and
                # the error must still be seen (PinEntry reports its consumer's errors
                # itself, so what lands here is a bug)
                log.error("key listener %r failed:\n%s", listener, describe_failure(exc))
        return True


class KeySource:
    """Listener and prompt-gate methods shared by the pad backends.

    A backend sets ``self._dispatcher = KeyDispatcher()`` and sends its events
    through it; these methods are its public face.
    """

    _dispatcher: KeyDispatcher

    @property
    def pin_factory_name(self) -> str:
        """gpiozero's name of the pin factory under the pad; empty when it has no GPIO pins
        (the keyboard standing in for a pad)."""
        return ""

    def add_listener(self, listener: KeyListener) -> None:
        """Call ``listener(event)`` for every key event while a prompt is active."""
        self._dispatcher.add_listener(listener)

    def remove_listener(self, listener: KeyListener) -> None:
        """Stop calling ``listener``."""
        self._dispatcher.remove_listener(listener)

    @property
    def prompt_active(self) -> bool:
        """Whether a PIN prompt is up (only then do key events reach listeners)."""
        return self._dispatcher.prompt_active

    def set_prompt_active(self, active: bool) -> None:
        """PIN entry opens (``True``) and closes (``False``) the prompt through this."""
        self._dispatcher.set_prompt_active(active)

    @property
    def key_test_active(self) -> bool:
        """Whether the diagnostics keypad test hears the keys (never during a prompt)."""
        return self._dispatcher.key_test_active

    def open_key_test(self, listener: KeyListener) -> bool:
        """Open the keypad test for ``listener`` alone; ``False`` while a prompt is up."""
        return self._dispatcher.open_key_test(listener)

    def close_key_test(self, listener: KeyListener) -> None:
        """Close the keypad test ``listener`` opened."""
        self._dispatcher.close_key_test(listener)
