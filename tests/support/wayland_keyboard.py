"""A Wayland virtual keyboard for the kiosk test: the clerk's keys, typed into cage.

Why not ``wtype`` (Debian's Wayland typist)? cage 0.1.4 has no virtual-keyboard
protocol of its own, so keys reach it through the headless sway that stands in for the
panel (cage is sway's client there, through wlroots' Wayland backend). That backend
ignores the keymap its parent compositor sends and reads every key code with cage's
own keymap (US). wtype makes up a keymap per run (its first character is key code 1,
its second code 2, ...), so through sway and cage ``wtype ab12`` arrives as Esc, 1, 2,
3 — tried. The keyboard here sends the kernel's own key codes (``linux/input-event-
codes.h``) with a standard ``pc+us`` keymap, so any compositor in between reads them as
a real USB keyboard's.

The client speaks the Wayland wire protocol directly (a Unix socket, 32-bit words,
the keymap's file descriptor with ``SCM_RIGHTS``): it needs five requests of two
interfaces, ``wl_seat`` and ``zwp_virtual_keyboard_manager_v1`` (wlroots' "virtual
keyboard unstable v1", which sway offers), and Debian ships no Python binding that
knows the latter. It is test equipment, not part of the appliance.

The keyboard is made once, before cage starts, and kept for the kiosk's life: a
keyboard that appears later reaches cage only after cage has bound it, and keys sent
in between are lost.
"""

from __future__ import annotations

import array
import os
import socket
import struct
import time
from collections.abc import Iterator

#: Resolved by the compositor against the system's xkb data (``xkb-data``).
KEYMAP = (
    b'xkb_keymap { xkb_keycodes { include "evdev+aliases(qwerty)" };'
    b' xkb_types { include "complete" }; xkb_compat { include "complete" };'
    b' xkb_symbols { include "pc+us+inet(evdev)" }; };\0'
)
#: Key names (as Textual and tmux spell them) -> Linux key codes.
NAMED = {
    "Escape": 1, "BackSpace": 14, "Tab": 15, "Enter": 28, "Space": 57, "F3": 61,
    "Home": 102, "Up": 103, "Left": 105, "Right": 106, "End": 107, "Down": 108,
}
SHIFT = 42
_LETTERS = {
    **dict(zip("qwertyuiop", range(16, 26), strict=True)),
    **dict(zip("asdfghjkl", range(30, 39), strict=True)),
    **dict(zip("zxcvbnm", range(44, 51), strict=True)),
}
#: Characters -> (key code, shifted).
CHARACTERS: dict[str, tuple[int, bool]] = {
    **{char: (code, False) for char, code in _LETTERS.items()},
    **{char.upper(): (code, True) for char, code in _LETTERS.items()},
    **{str(digit): (2 + (digit - 1) % 10, False) for digit in range(10)},
    "-": (12, False), "_": (12, True), ".": (52, False), " ": (57, False), "#": (4, True),
}
#: Requests by opcode.
DISPLAY_SYNC, DISPLAY_GET_REGISTRY, REGISTRY_BIND = 0, 1, 0
CREATE_VIRTUAL_KEYBOARD, KEYBOARD_KEYMAP, KEYBOARD_KEY = 0, 0, 1
KEYMAP_FORMAT_XKB_V1 = 1
PRESSED, RELEASED = 1, 0


def _string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("=I", len(data)) + data + bytes(-len(data) % 4)


class VirtualKeyboard:
    """One keyboard on a wlroots compositor's seat, typing as the clerk would.

    Args:
        display: path of the compositor's Wayland socket.
        key_delay: pause after each key, as a quick typist leaves (seconds).
    """

    def __init__(self, display: str, *, key_delay: float = 0.03) -> None:
        self.key_delay = key_delay
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(display)
        self._buffer = b""
        self._next_id = 2  # 1 is wl_display
        self._started = time.monotonic()
        registry = self._new_id()
        self._send(1, DISPLAY_GET_REGISTRY, struct.pack("=I", registry))
        offered: dict[str, int] = {}
        for obj, opcode, payload in self._roundtrip():
            if obj == registry and opcode == 0:  # wl_registry.global(name, interface, version)
                name, length = struct.unpack_from("=II", payload)
                offered[payload[8 : 8 + length - 1].decode()] = name
        missing = {"wl_seat", "zwp_virtual_keyboard_manager_v1"} - set(offered)
        if missing:
            raise RuntimeError(f"the compositor offers no {sorted(missing)}")
        seat = self._bind(registry, offered, "wl_seat")
        manager = self._bind(registry, offered, "zwp_virtual_keyboard_manager_v1")
        self._keyboard = self._new_id()
        self._send(manager, CREATE_VIRTUAL_KEYBOARD, struct.pack("=II", seat, self._keyboard))
        keymap = os.memfd_create("keymap")
        try:
            os.write(keymap, KEYMAP)
            self._send(self._keyboard, KEYBOARD_KEYMAP,
                       struct.pack("=II", KEYMAP_FORMAT_XKB_V1, len(KEYMAP)), fds=(keymap,))
        finally:
            os.close(keymap)
        list(self._roundtrip())

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _bind(self, registry: int, offered: dict[str, int], interface: str) -> int:
        new = self._new_id()
        self._send(registry, REGISTRY_BIND, struct.pack("=I", offered[interface])
                   + _string(interface) + struct.pack("=II", 1, new))
        return new

    def _send(self, obj: int, opcode: int, payload: bytes, fds: tuple[int, ...] = ()) -> None:
        message = struct.pack("=II", obj, (8 + len(payload)) << 16 | opcode) + payload
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        self._sock.sendmsg([message], ancillary)

    def _roundtrip(self) -> Iterator[tuple[int, int, bytes]]:
        """Every event up to the answer to a ``wl_display.sync``; raise on a protocol error."""
        callback = self._new_id()
        self._send(1, DISPLAY_SYNC, struct.pack("=I", callback))
        self._sock.settimeout(10)
        while True:
            while len(self._buffer) < 8 or len(self._buffer) < self._size():
                data = self._sock.recv(65536)
                if not data:
                    raise RuntimeError("the compositor closed the connection")
                self._buffer += data
            obj, word = struct.unpack_from("=II", self._buffer)
            size = word >> 16
            payload, self._buffer = self._buffer[8:size], self._buffer[size:]
            if obj == 1 and word & 0xFFFF == 0:  # wl_display.error
                raise RuntimeError(f"Wayland protocol error: {payload!r}")
            if obj == callback:
                return
            yield obj, word & 0xFFFF, payload

    def _size(self) -> int:
        word: int = struct.unpack_from("=I", self._buffer, 4)[0]
        return word >> 16

    def _key(self, code: int, state: int) -> None:
        stamp = int((time.monotonic() - self._started) * 1000) & 0xFFFFFFFF
        self._send(self._keyboard, KEYBOARD_KEY, struct.pack("=III", stamp, code, state))

    def _tap(self, code: int, *, shifted: bool = False) -> None:
        if shifted:
            self._key(SHIFT, PRESSED)
        self._key(code, PRESSED)
        self._key(code, RELEASED)
        if shifted:
            self._key(SHIFT, RELEASED)
        list(self._roundtrip())  # the compositor has them before the next pause starts
        time.sleep(self.key_delay)

    def press(self, *names: str) -> None:
        """Press named keys (``Enter``, ``Down``, ``Escape``...) one after another."""
        for name in names:
            self._tap(NAMED[name])

    def type(self, text: str) -> None:
        """Type ``text`` (US layout: letters, digits, ``-_.#`` and space)."""
        for char in text:
            code, shifted = CHARACTERS[char]
            self._tap(code, shifted=shifted)

    def close(self) -> None:
        self._sock.close()
