"""The applicant states of the PIN pad's lamps and their patterns (no gpiozero here).

Kept apart from :mod:`drivers.indicators` so that the configuration can check
``[indicators.patterns]`` at load without pulling gpiozero into every program
that reads the configuration (the updater, the uploader). The states and their
meaning are in :mod:`drivers.indicators` and docs/pinpad.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from madoguchi.errors import ConfigError

#: The states the applicant is told of, in the order docs/pinpad.md lists them.
APPLICANT_STATES = ("key", "accepted", "refused", "last_try", "remove_card", "wait")
#: Which LED a pattern lights: the green "OK" LED, the red "error" LED, or none.
LEDS = ("ok", "error", "")


@dataclass(frozen=True, slots=True)
class Pattern:
    """One state's lights and sound.

    :param led: ``"ok"``, ``"error"`` or ``""`` (no LED: the LEDs are left as they are).
    :param led_on_s: seconds the LED is lit per blink.
    :param led_off_s: seconds it is dark between blinks.
    :param led_count: blinks; 0 = no LED.
    :param beep_on_s: seconds of each beep.
    :param beep_off_s: seconds of silence between beeps.
    :param beep_count: beeps; 0 = silent.
    """

    led: str = ""
    led_on_s: float = 0.0
    led_off_s: float = 0.0
    led_count: int = 0
    beep_on_s: float = 0.0
    beep_off_s: float = 0.0
    beep_count: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.led, str) or self.led not in LEDS:
            raise ConfigError(f"indicator LED {self.led!r} is not one of ok, error or empty")
        for name in ("led_on_s", "led_off_s", "beep_on_s", "beep_off_s", "led_count",
                     "beep_count"):
            value = getattr(self, name)
            kind = int if name.endswith("count") else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ConfigError(f"indicator pattern {name} must be a number, not {value!r}")
            if value < 0:
                raise ConfigError(f"indicator pattern {name} must not be negative")
        if self.led_count and (not self.led or self.led_on_s <= 0):
            raise ConfigError("an indicator pattern that blinks an LED needs led and led_on_s")
        if self.beep_count and self.beep_on_s <= 0:
            raise ConfigError("an indicator pattern that beeps needs beep_on_s")

    @property
    def led_seconds(self) -> float:
        """How long the LED half lasts."""
        return (self.led_on_s + self.led_off_s) * self.led_count

    @property
    def beep_seconds(self) -> float:
        """How long the buzzer half lasts."""
        return (self.beep_on_s + self.beep_off_s) * self.beep_count


#: The built-in patterns (docs/pinpad.md has the same table).
DEFAULT_PATTERNS: dict[str, Pattern] = {
    "key": Pattern(beep_on_s=0.015, beep_count=1),
    "accepted": Pattern("ok", 1.0, 0.0, 1, 0.15, 0.05, 1),
    "refused": Pattern("error", 1.0, 0.0, 1, 0.12, 0.08, 2),
    "last_try": Pattern("error", 0.1, 0.1, 5, 0.06, 0.06, 3),
    "remove_card": Pattern("ok", 0.5, 0.5, 4, 0.4, 0.2, 2),
    "wait": Pattern("ok", 0.15, 0.15, 10),
}


def merge_patterns(overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Pattern]:
    """The built-in patterns with ``overrides`` (``state -> {field: value}``) applied.

    An unknown state or field is a :class:`ConfigError`, as everywhere in the
    configuration.
    """
    unknown = sorted(set(overrides) - set(APPLICANT_STATES))
    if unknown:
        raise ConfigError(
            f"unknown indicator state(s) {', '.join(unknown)}; valid: {', '.join(APPLICANT_STATES)}"
        )
    fields = {f.name for f in dataclasses.fields(Pattern)}
    patterns = dict(DEFAULT_PATTERNS)
    for state, changes in overrides.items():
        bad = sorted(set(changes) - fields)
        if bad:
            raise ConfigError(f"indicator pattern {state}: unknown key(s) {', '.join(bad)}")
        patterns[state] = dataclasses.replace(patterns[state], **changes)
    return patterns
