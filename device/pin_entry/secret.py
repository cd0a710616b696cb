"""The PIN buffer and the one-shot hand-off of a finished PIN.

The PIN lives in a ``bytearray`` allocated once at its maximum size, so it is
never reallocated (a grown ``bytearray`` leaves its old copy behind unwiped).
It is never turned into ``str`` or ``bytes`` here, and it is overwritten with
zeros on every way out. Python cannot promise more than that: see the checklist
in ``docs/pinpad.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from madoguchi.errors import PinError


class PinAlreadyUsedError(PinError):
    """A :class:`PinHandle` was opened after it had been used or wiped."""


def wipe(buffer: bytearray) -> None:
    """Overwrite every byte of ``buffer`` with zero, in place."""
    buffer[:] = bytes(len(buffer))


class SecretBuffer:
    """A fixed-capacity ``bytearray`` holding the characters typed so far."""

    __slots__ = ("_data", "_length")

    def __init__(self, capacity: int) -> None:
        self._data = bytearray(capacity)
        self._length = 0

    def __repr__(self) -> str:
        return f"<SecretBuffer length={self._length}>"

    def __len__(self) -> int:
        return self._length

    @property
    def capacity(self) -> int:
        """Most characters the buffer can hold."""
        return len(self._data)

    def append(self, char: int) -> None:
        """Add one character (an ASCII code) at the end."""
        if self._length >= len(self._data):
            raise PinError("PIN buffer is full")
        self._data[self._length] = char
        self._length += 1

    def replace_last(self, char: int) -> None:
        """Overwrite the last character (multi-tap cycling)."""
        if self._length:
            self._data[self._length - 1] = char

    def pop(self) -> None:
        """Remove and wipe the last character."""
        if self._length:
            self._length -= 1
            self._data[self._length] = 0

    def clear(self) -> None:
        """Remove every character and wipe the whole buffer."""
        wipe(self._data)
        self._length = 0

    def view(self) -> memoryview:
        """A read-only view of the typed characters (for rule checks, no copy)."""
        return memoryview(self._data)[: self._length].toreadonly()

    def raw(self) -> bytearray:
        """The whole backing ``bytearray`` (tests check it is zeroed)."""
        return self._data

    def hand_off(self) -> PinHandle:
        """Move the characters into a :class:`PinHandle` and wipe this buffer."""
        handle = PinHandle(bytearray(self.view()))
        self.clear()
        return handle


class PinHandle:
    """A finished PIN, usable once, inside a ``with`` block.

    .. code-block:: python

        def on_complete(handle: PinHandle) -> None:
            with handle.open() as pin:          # a bytearray
                transport.transmit(build_verify(pin))   # build, send, then forget
            # here the bytearray is all zeros

    The consumer must use it inside the callback that receives it and must wipe
    anything it builds from it (an APDU ``bytearray``, for example). After the
    block, or after :meth:`wipe`, the bytes are zeros and :meth:`open` refuses.
    """

    __slots__ = ("_pin", "_used")

    def __init__(self, pin: bytearray) -> None:
        self._pin = pin
        self._used = False

    def __repr__(self) -> str:
        return f"<PinHandle length={len(self._pin)} used={self._used}>"

    def __len__(self) -> int:
        return len(self._pin)

    @property
    def used(self) -> bool:
        """True once the PIN has been opened or wiped."""
        return self._used

    @contextmanager
    def open(self) -> Iterator[bytearray]:
        """Yield the PIN as a ``bytearray``; it is wiped when the block ends."""
        if self._used:
            raise PinAlreadyUsedError("this PIN was already used or wiped")
        self._used = True
        try:
            yield self._pin
        finally:
            wipe(self._pin)

    def wipe(self) -> None:
        """Zero the PIN now (safe to call more than once)."""
        self._used = True
        wipe(self._pin)

    def raw(self) -> bytearray:
        """The backing ``bytearray`` without opening it (tests check it is zeroed)."""
        return self._pin
