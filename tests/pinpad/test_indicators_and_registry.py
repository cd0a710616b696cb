"""Indicators on MockFactory, and the keypad / indicator backend registries."""

from __future__ import annotations

import time

import pytest
from gpiozero.pins.mock import MockFactory

from drivers import INDICATOR_BACKENDS, KEYPAD_BACKENDS, open_indicators, open_keypad
from drivers.indicators import GpioIndicators, NullIndicators
from drivers.keypad.keyboard import KeyboardKeypad
from drivers.keypad.matrix import MatrixKeypad
from madoguchi.config import KeypadConfig
from madoguchi.errors import ConfigError


def _levels(factory: MockFactory, pin: int) -> list[bool]:
    return [s.state for s in factory.pin(pin).states]


def test_patterns_drive_the_leds_and_the_buzzer(mock_factory: MockFactory) -> None:
    ind = GpioIndicators(ok_led_pin=17, error_led_pin=27, buzzer_pin=22, pin_factory=mock_factory)
    try:
        ind.success(wait=True)
        assert _levels(mock_factory, 17)[-2:] == [True, False]
        ind.failure(wait=True)
        assert _levels(mock_factory, 27)[-2:] == [True, False]
        ind.last_try_warning(wait=True)
        assert _levels(mock_factory, 27).count(True) == 1 + 5
        ind.key_click(wait=True)
        end = time.monotonic() + 5
        # one success beep, two failure beeps, three warning beeps, one click
        while _levels(mock_factory, 22).count(True) < 7 and time.monotonic() < end:
            time.sleep(0.01)
        assert _levels(mock_factory, 22).count(True) == 7
    finally:
        ind.off()
        ind.close()


def test_unfitted_parts_are_skipped_and_click_can_be_off(mock_factory: MockFactory) -> None:
    ind = GpioIndicators(buzzer_pin=22, key_click=False, pin_factory=mock_factory)
    ind.key_click(wait=True)
    ind.success(wait=True)  # no LEDs fitted: nothing to wait for, nothing fails
    assert ind.ok_led is None
    assert ind.error_led is None
    ind.close()
    null = NullIndicators()
    null.success()
    null.close()


def test_registries_name_the_backends() -> None:
    assert set(KEYPAD_BACKENDS) == {"gpio", "keyboard", "virtual-matrix"}
    assert set(INDICATOR_BACKENDS) == {"gpio", "none"}
    assert isinstance(open_keypad("keyboard"), KeyboardKeypad)
    assert isinstance(open_indicators("none"), NullIndicators)


def test_unknown_backend_is_a_config_error_not_a_fallback() -> None:
    with pytest.raises(ConfigError, match="valid: gpio, keyboard, virtual-matrix"):
        open_keypad("usb")
    with pytest.raises(ConfigError, match="valid: gpio, none"):
        open_indicators("lcd")


def test_gpio_keypad_opens_from_the_default_config_pins(mock_factory: MockFactory) -> None:
    cfg = KeypadConfig()
    pad = open_keypad(
        "gpio",
        rows=cfg.row_pins,
        cols=cfg.col_pins,
        layout=cfg.layout,
        keymap=cfg.keymap,
        debounce_time=cfg.debounce_ms / 1000,
        scan_interval=cfg.scan_interval_ms / 1000,
        pin_factory=mock_factory,
    )
    try:
        assert isinstance(pad, MatrixKeypad)
        assert pad.simulated is False
        assert pad.keys == "123456789*0#"
    finally:
        pad.close()
