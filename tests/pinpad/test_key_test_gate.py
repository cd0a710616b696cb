"""The pad's keypad-test gate: its one listener hears keys, never during a PIN prompt.

On the real matrix driver (scan thread, debounce) on mock pins, pressed through
the control socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers import open_keypad
from drivers.keypad.control import PadControl
from drivers.keypad.events import KeyEvent
from drivers.keypad.virtual import VirtualMatrixKeypad


@pytest.fixture
def pad(tmp_path: Path) -> Iterator[VirtualMatrixKeypad]:
    virtual = open_keypad("virtual-matrix", rows=(5, 6, 13, 19), cols=(12, 16, 20),
                          control_socket=tmp_path / "keypad.sock")
    assert isinstance(virtual, VirtualMatrixKeypad)
    yield virtual
    virtual.close()


def _downs(events: list[KeyEvent]) -> str:
    return "".join(event.key for event in events if event.pressed)


def test_only_the_test_listener_hears_keys_while_the_test_is_open(
    pad: VirtualMatrixKeypad,
) -> None:
    prompt_heard: list[KeyEvent] = []
    test_heard: list[KeyEvent] = []
    pad.add_listener(prompt_heard.append)  # a PIN entry left registered
    assert pad.open_key_test(test_heard.append)
    with PadControl(pad.control_socket) as control:  # type: ignore[arg-type]
        control.tap("4")
        pad.close_key_test(test_heard.append)
        control.tap("8")  # neither prompt nor test: dropped
        counters = control.status()
    assert _downs(test_heard) == "4"
    assert prompt_heard == []
    assert counters["prompt"] == 0
    assert pad._dispatcher.dropped == 2  # the press and the release of 8


def test_a_prompt_refuses_the_test_and_ends_an_open_one(pad: VirtualMatrixKeypad) -> None:
    prompt_heard: list[KeyEvent] = []
    test_heard: list[KeyEvent] = []
    pad.add_listener(prompt_heard.append)
    assert pad.open_key_test(test_heard.append)
    pad.set_prompt_active(True)  # the prompt opens: the test ends at once
    assert not pad.key_test_active
    assert not pad.open_key_test(test_heard.append)  # and cannot reopen meanwhile
    with PadControl(pad.control_socket) as control:  # type: ignore[arg-type]
        control.tap("1")
    pad.close_key_test(test_heard.append)  # a late close leaves the prompt alone
    assert pad.prompt_active
    assert _downs(prompt_heard) == "1"
    assert test_heard == []
    pad.set_prompt_active(False)
    assert pad.open_key_test(test_heard.append)
