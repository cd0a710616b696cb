"""Status LEDs and a buzzer beside the PIN pad, through gpiozero; each part optional.

Patterns: a short click per key, a success pattern (green LED and one beep), a
failure pattern (red LED and two beeps) and a "last try" warning (red LED
blinking with three short beeps) shown before the card's final PIN attempt.
A pin number of 0 means the part is not fitted; its patterns are skipped. The
``none`` backend fits nothing at all.

Patterns run in gpiozero's background threads and never block the caller,
unless ``wait=True`` (the tests use that).
"""

from __future__ import annotations

from typing import Any


class NullIndicators:
    """No LEDs, no buzzer."""

    def key_click(self, *, wait: bool = False) -> None:
        """Nothing to click."""

    def success(self, *, wait: bool = False) -> None:
        """Nothing to show."""

    def failure(self, *, wait: bool = False) -> None:
        """Nothing to show."""

    def last_try_warning(self, *, wait: bool = False) -> None:
        """Nothing to show."""

    def off(self) -> None:
        """Nothing to switch off."""

    def close(self) -> None:
        """Nothing to release."""


class GpioIndicators(NullIndicators):
    """LEDs and buzzer on GPIO pins.

    :param ok_led_pin: pin of the green "OK" LED, 0 = not fitted.
    :param error_led_pin: pin of the red "error" LED, 0 = not fitted.
    :param buzzer_pin: pin of an active buzzer, 0 = not fitted.
    :param key_click: beep on every key press.
    :param pin_factory: see gpiozero's pin factories.
    """

    #: (on seconds, off seconds, repeats) of each pattern
    CLICK = (0.015, 0.0, 1)
    SUCCESS_BEEP = (0.15, 0.05, 1)
    FAILURE_BEEP = (0.12, 0.08, 2)
    WARNING_BEEP = (0.06, 0.06, 3)
    LED_ON_TIME = 1.0

    def __init__(
        self,
        ok_led_pin: int = 0,
        error_led_pin: int = 0,
        buzzer_pin: int = 0,
        *,
        key_click: bool = True,
        pin_factory: Any = None,
    ) -> None:
        from gpiozero import LED, Buzzer

        self._key_click = key_click
        self.ok_led: Any = LED(ok_led_pin, pin_factory=pin_factory) if ok_led_pin else None
        self.error_led: Any = (
            LED(error_led_pin, pin_factory=pin_factory) if error_led_pin else None
        )
        self.buzzer: Any = Buzzer(buzzer_pin, pin_factory=pin_factory) if buzzer_pin else None

    def _beep(self, pattern: tuple[float, float, int], wait: bool) -> None:
        if self.buzzer is not None:
            on, off, n = pattern
            self.buzzer.blink(on_time=on, off_time=off, n=n, background=not wait)

    def _led(self, led: Any, on: float, off: float, n: int, wait: bool) -> None:
        if led is not None:
            led.blink(on_time=on, off_time=off, n=n, background=not wait)

    def key_click(self, *, wait: bool = False) -> None:
        """A very short beep, if enabled."""
        if self._key_click:
            self._beep(self.CLICK, wait)

    def success(self, *, wait: bool = False) -> None:
        """Green LED for a second and one beep."""
        self._off(self.error_led)
        self._beep(self.SUCCESS_BEEP, wait=False)
        self._led(self.ok_led, self.LED_ON_TIME, 0.0, 1, wait)

    def failure(self, *, wait: bool = False) -> None:
        """Red LED for a second and two beeps."""
        self._off(self.ok_led)
        self._beep(self.FAILURE_BEEP, wait=False)
        self._led(self.error_led, self.LED_ON_TIME, 0.0, 1, wait)

    def last_try_warning(self, *, wait: bool = False) -> None:
        """Red LED blinking and three short beeps: the next wrong PIN blocks the card."""
        self._off(self.ok_led)
        self._beep(self.WARNING_BEEP, wait=False)
        self._led(self.error_led, 0.1, 0.1, 5, wait)

    @staticmethod
    def _off(led: Any) -> None:
        if led is not None:
            led.off()

    def off(self) -> None:
        """Everything dark and silent."""
        for device in (self.ok_led, self.error_led, self.buzzer):
            self._off(device)

    def close(self) -> None:
        """Release the pins."""
        for device in (self.ok_led, self.error_led, self.buzzer):
            if device is not None:
                device.close()
