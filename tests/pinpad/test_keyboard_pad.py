"""The keyboard standing in for the pad: the keys the prompts name work as they say."""

from __future__ import annotations

import pytest

from drivers.keypad.events import KeyEvent
from drivers.keypad.keyboard import KeyboardKeypad


@pytest.mark.parametrize(
    ("textual_key", "pad_key"),
    [("number_sign", "#"), ("enter", "#"), ("asterisk", "*"), ("backspace", "*"), ("7", "7")],
)
def test_the_keys_the_prompt_names_reach_the_pad(textual_key: str, pad_key: str) -> None:
    pad = KeyboardKeypad(clock=lambda: 0.0)
    seen: list[KeyEvent] = []
    pad.add_listener(seen.append)
    pad.set_prompt_active(True)
    assert pad.feed(textual_key)
    assert [(e.key, e.pressed) for e in seen] == [(pad_key, True), (pad_key, False)]


def test_no_key_is_taken_without_a_prompt_nor_one_with_no_pad_meaning() -> None:
    pad = KeyboardKeypad(clock=lambda: 0.0)
    seen: list[KeyEvent] = []
    pad.add_listener(seen.append)
    assert not pad.feed("number_sign")  # no prompt: the TUI keeps the key
    pad.set_prompt_active(True)
    assert not pad.feed("x")
    assert seen == []
