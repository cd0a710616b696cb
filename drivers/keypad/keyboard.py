"""A simulated PIN pad fed from the clerk's keyboard (demo, counters without a pad).

It produces the same :class:`~drivers.keypad.events.KeyEvent` stream as the
GPIO matrix, so PIN entry cannot tell the two apart, but it says what it is:
:attr:`KeyboardKeypad.simulated` is ``True`` and :attr:`KeyboardKeypad.label`
is the text the TUI shows beside the prompt. It takes keys only while a PIN
prompt is active; at any other time :meth:`KeyboardKeypad.feed` refuses them and
the TUI keeps its own key bindings.

Named keys stand in for the function keys of the 4x4 pad: Enter is ``#``,
Backspace is ``*``, Escape is ``A`` (cancel) and Delete is ``C`` (clear). The ``#``
and ``*`` keys themselves work too: the prompts say 「#を押してください」, and a clerk
or applicant reading them types ``#``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from drivers.keypad.events import KeyDispatcher, KeyEvent, KeySource

#: keyboard key name (as Textual names keys) -> pad key label
NAMED_KEYS: dict[str, str] = {
    "enter": "#",
    "backspace": "*",
    "escape": "A",
    "delete": "C",
    "number_sign": "#",
    "asterisk": "*",
}


class KeyboardKeypad(KeySource):
    """The keyboard standing in for the applicant's pad, clearly labelled as such.

    :param clock: monotonic clock for event timestamps (injectable for tests).
    """

    simulated = True
    label = "模擬PINパッド（キーボード） / Simulated PIN pad (keyboard)"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._dispatcher = KeyDispatcher()
        self._clock = clock
        self._closed = False

    def feed(self, key: str) -> bool:
        """Offer one keyboard key (a digit or a name from :data:`NAMED_KEYS`).

        Returns ``True`` if the key was taken as a pad key (the TUI must then not
        act on it), ``False`` if no prompt is active or the key has no pad meaning.
        """
        if self._closed or not self._dispatcher.prompt_active:
            return False
        label = key if len(key) == 1 and key.isascii() and key.isdigit() else NAMED_KEYS.get(key)
        if label is None:
            return False
        now = self._clock()
        self._dispatcher.dispatch(KeyEvent(label, True, now))
        self._dispatcher.dispatch(KeyEvent(label, False, now))
        return True

    def close(self) -> None:
        """Stop taking keys."""
        self._closed = True
        self._dispatcher.set_prompt_active(False)
