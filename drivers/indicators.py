"""Status LEDs and a buzzer beside the PIN pad, through gpiozero; each part optional.

The applicant is told what happens by a small set of named **applicant states**
(:data:`APPLICANT_STATES`), each shown as one :class:`Pattern` of an LED and the
buzzer:

- ``key``: a short click per key (no LED, so a warning LED keeps blinking);
- ``accepted``: the PIN was accepted: green LED for a second, one beep;
- ``refused``: a wrong PIN, tries left: red LED for a second, two beeps;
- ``last_try``: the next wrong PIN blocks the card: red LED blinking, three short beeps;
- ``remove_card``: take the card back: green LED blinking slowly, two long beeps;
- ``wait``: the card is being asked (VERIFY): green LED blinking quickly, silent.

Every timing can be overridden (``[indicators.patterns.<state>]``, see
``docs/pinpad.md``), the buzzer's loudness set (``volume``, 0.0-1.0: below 1 the buzzer
is driven by PWM at that duty cycle) or silenced (``sound = false`` or ``volume = 0``)
while the LEDs still show. A pin number of 0 means the part is not fitted; its half of every
pattern is skipped. The ``none`` backend fits nothing at all.

Patterns run in gpiozero's own background blink threads and never block the
caller, unless ``wait=True`` (the tests use that). This module only ever sees the
state's name: nothing about a PIN reaches it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from drivers.indicator_patterns import (
    APPLICANT_STATES,
    DEFAULT_PATTERNS,
    LEDS,
    Pattern,
    merge_patterns,
)

__all__ = [
    "APPLICANT_STATES",
    "DEFAULT_PATTERNS",
    "LEDS",
    "GpioIndicators",
    "NullIndicators",
    "Pattern",
    "merge_patterns",
]

class NullIndicators:
    """No LEDs, no buzzer."""

    def show(self, state: str, *, wait: bool = False) -> None:
        """Nothing to show (the name is still checked, so a typo fails here too)."""
        if state not in APPLICANT_STATES:
            raise ValueError(f"unknown applicant state {state!r}")

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
    :param sound: False silences the buzzer in every pattern (the LEDs still show).
    :param volume: the buzzer's loudness, 0.0-1.0. At 1 it is switched on and off (an
        active buzzer's own loudness); below 1 it is a PWM output held at that duty
        cycle while it sounds (quieter on an active buzzer, whose sound follows the
        mean voltage); 0 silences it as ``sound=False`` does.
    :param patterns: ``state -> {field: value}`` overrides of :data:`DEFAULT_PATTERNS`.
    :param pin_factory: see gpiozero's pin factories.
    :param owns_factory: :meth:`close` closes ``pin_factory`` too (one opened for
        these parts alone).
    """

    def __init__(
        self,
        ok_led_pin: int = 0,
        error_led_pin: int = 0,
        buzzer_pin: int = 0,
        *,
        key_click: bool = True,
        sound: bool = True,
        volume: float = 1.0,
        patterns: Mapping[str, Mapping[str, Any]] | None = None,
        pin_factory: Any = None,
        owns_factory: bool = False,
    ) -> None:
        from gpiozero import LED, Buzzer, PWMOutputDevice

        if not 0.0 <= volume <= 1.0:
            raise ValueError(f"volume {volume} is not between 0.0 and 1.0")
        self._factory = pin_factory if owns_factory else None
        # Checked before any pin is claimed: a bad pattern fails at start-up.
        self.patterns = merge_patterns(patterns or {})
        self._key_click = key_click
        self._sound = sound and volume > 0.0
        self.volume = volume
        self.ok_led: Any = LED(ok_led_pin, pin_factory=pin_factory) if ok_led_pin else None
        self.error_led: Any = (
            LED(error_led_pin, pin_factory=pin_factory) if error_led_pin else None
        )
        self.buzzer: Any = None
        if buzzer_pin and volume >= 1.0:
            self.buzzer = Buzzer(buzzer_pin, pin_factory=pin_factory)
        elif buzzer_pin:
            # A level needs PWM: gpiozero's PWMOutputDevice, its value the duty cycle.
            self.buzzer = PWMOutputDevice(buzzer_pin, pin_factory=pin_factory)
        self._beeps: threading.Thread | None = None
        self._beeps_stop = threading.Event()

    def show(self, state: str, *, wait: bool = False) -> None:
        """Start ``state``'s pattern; it replaces whatever the same parts were doing.

        ``wait=True`` returns once both halves have run (the longer one runs in
        the foreground, the other in gpiozero's background thread started first).
        """
        super().show(state)
        pattern = self.patterns[state]
        steps: list[tuple[float, Any, tuple[float, float, int]]] = []
        if pattern.led_count:
            led, other = (
                (self.ok_led, self.error_led) if pattern.led == "ok"
                else (self.error_led, self.ok_led)
            )
            self._off(other)
            if led is not None:
                steps.append((pattern.led_seconds, led,
                              (pattern.led_on_s, pattern.led_off_s, pattern.led_count)))
        sound = self._sound and (state != "key" or self._key_click)
        if pattern.beep_count and sound and self.buzzer is not None:
            steps.append((pattern.beep_seconds, self.buzzer,
                          (pattern.beep_on_s, pattern.beep_off_s, pattern.beep_count)))
        steps.sort(key=lambda step: step[0])
        self._stop_beeps()
        for i, (_, device, (on, off, n)) in enumerate(steps):
            background = not (wait and i == len(steps) - 1)
            if device is self.buzzer and self.volume < 1.0:
                self._beep_at_level(on, off, n, background=background)
            else:
                device.blink(on_time=on, off_time=off, n=n, background=background)

    def _beep_at_level(self, on: float, off: float, n: int, *, background: bool) -> None:
        """``n`` beeps at :attr:`volume` (PWM duty cycle); gpiozero's blink only knows full
        on, so the level is held here, in a thread of this object's own when
        ``background`` (a new pattern stops it, as a new blink stops gpiozero's)."""
        stop = self._beeps_stop = threading.Event()

        def run() -> None:
            for level, seconds in _beep_levels(self.volume, on, off, n):
                if stop.is_set():
                    break
                self.buzzer.value = level
                stop.wait(seconds)
            self.buzzer.value = 0.0

        if background:
            self._beeps = threading.Thread(target=run, name="indicator-beeps", daemon=True)
            self._beeps.start()
        else:
            run()

    def _stop_beeps(self) -> None:
        self._beeps_stop.set()
        if self._beeps is not None and self._beeps is not threading.current_thread():
            self._beeps.join(timeout=5)
        self._beeps = None

    @staticmethod
    def _off(device: Any) -> None:
        if device is not None:
            device.off()

    def off(self) -> None:
        """Everything dark and silent."""
        self._stop_beeps()
        for device in (self.ok_led, self.error_led, self.buzzer):
            self._off(device)

    def close(self) -> None:
        """Release the pins."""
        self._stop_beeps()
        for device in (self.ok_led, self.error_led, self.buzzer):
            if device is not None:
                device.close()
        if self._factory is not None:
            self._factory.close()
            self._factory = None


def _beep_levels(level: float, on: float, off: float, n: int) -> Iterator[tuple[float, float]]:
    """(buzzer value, seconds) for ``n`` beeps of ``on`` s at ``level``, ``off`` s apart."""
    for index in range(n):
        if index:
            yield 0.0, off
        yield level, on
