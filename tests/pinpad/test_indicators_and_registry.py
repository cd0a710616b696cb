"""Indicators on MockFactory, and the keypad / indicator backend registries."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from drivers import INDICATOR_BACKENDS, KEYPAD_BACKENDS, open_indicators, open_keypad
from drivers.indicators import (
    APPLICANT_STATES,
    DEFAULT_PATTERNS,
    GpioIndicators,
    NullIndicators,
    merge_patterns,
)
from drivers.keypad.keyboard import KeyboardKeypad
from drivers.keypad.matrix import MatrixKeypad
from madoguchi.config import KeypadConfig, load_config
from madoguchi.errors import ConfigError

OK, ERROR, BUZZER = 17, 27, 22


def _levels(factory: MockFactory, pin: int) -> list[bool]:
    return [s.state for s in factory.pin(pin).states]


def _fitted(factory: MockFactory, **options: object) -> GpioIndicators:
    ind = GpioIndicators(
        ok_led_pin=OK, error_led_pin=ERROR, buzzer_pin=BUZZER, pin_factory=factory,
        **options,  # type: ignore[arg-type]
    )
    for pin in (OK, ERROR, BUZZER):
        factory.pin(pin).clear_states()
    return ind


def _expected(on: float, off: float, n: int) -> list[tuple[float, bool]]:
    """A pin's (seconds since the previous change, level) history for ``n`` blinks."""
    history = [(0.0, False)]
    for i in range(n):
        history.append((0.0 if i == 0 else off, True))
        history.append((on, False))
    return history


#: How late a change may come: the blinks run on gpiozero's threads, which a loaded CI
#: machine schedules late (one came 60 ms late in a full run, past gpiozero's own 50 ms
#: tolerance). Never early: a pulse shorter than documented is a bug.
LATE_S = 0.5


def _assert_pattern(factory: MockFactory, pin: int, expected: list[tuple[float, bool]]) -> None:
    """The pin went through exactly the ``expected`` levels, each change at least its
    documented time after the previous one (5 ms for the clock) and at most
    :data:`LATE_S` later."""
    states = factory.pin(pin).states
    assert [s.state for s in states] == [level for _, level in expected]
    for index, (state, (after_s, _)) in enumerate(zip(states, expected, strict=True)):
        assert after_s - 0.005 <= state.timestamp <= after_s + LATE_S, (index, states)


def _settled(factory: MockFactory, pin: int, changes: int) -> None:
    """Wait until ``pin`` has made ``changes`` changes (a background blink ends)."""
    end = time.monotonic() + 5
    while len(factory.pin(pin).states) < changes + 1 and time.monotonic() < end:
        time.sleep(0.01)


@pytest.mark.parametrize("state", APPLICANT_STATES)
def test_each_state_runs_its_documented_pattern(mock_factory: MockFactory, state: str) -> None:
    pattern = DEFAULT_PATTERNS[state]
    ind = _fitted(mock_factory)
    try:
        ind.show(state, wait=True)
        lit = {"ok": OK, "error": ERROR}.get(pattern.led)
        if pattern.led_count:
            assert lit is not None
            _settled(mock_factory, lit, 2 * pattern.led_count)
            _assert_pattern(
                mock_factory, lit,
                _expected(pattern.led_on_s, pattern.led_off_s, pattern.led_count),
            )
            assert len(mock_factory.pin(lit).states) == 1 + 2 * pattern.led_count
        for dark in {OK, ERROR} - {lit}:
            assert _levels(mock_factory, dark) == [False]  # the other LED stays dark
        if pattern.beep_count:
            _settled(mock_factory, BUZZER, 2 * pattern.beep_count)
            _assert_pattern(
                mock_factory, BUZZER,
                _expected(pattern.beep_on_s, pattern.beep_off_s, pattern.beep_count),
            )
        assert _levels(mock_factory, BUZZER).count(True) == pattern.beep_count
    finally:
        ind.off()
        ind.close()


def test_the_documented_states_are_these_six() -> None:
    assert APPLICANT_STATES == ("key", "accepted", "refused", "last_try", "remove_card", "wait")
    assert set(DEFAULT_PATTERNS) == set(APPLICANT_STATES)
    assert DEFAULT_PATTERNS["refused"].led == "error"
    assert DEFAULT_PATTERNS["accepted"].led == "ok"


def test_a_new_state_switches_the_other_led_off(mock_factory: MockFactory) -> None:
    ind = _fitted(mock_factory)
    try:
        ind.show("last_try")  # red blinking in the background...
        ind.show("accepted", wait=True)  # ...until the green one takes over
        assert _levels(mock_factory, ERROR)[-1] is False
        assert _levels(mock_factory, OK)[-2:] == [True, False]
    finally:
        ind.close()


def test_overrides_and_silence_change_the_patterns(mock_factory: MockFactory) -> None:
    ind = _fitted(
        mock_factory, sound=False,
        patterns={"refused": {"led_on_s": 0.1, "led_off_s": 0.1, "led_count": 3}},
    )
    try:
        ind.show("refused", wait=True)
        _settled(mock_factory, ERROR, 6)
        _assert_pattern(mock_factory, ERROR, _expected(0.1, 0.1, 3))
        assert _levels(mock_factory, BUZZER) == [False]  # sound = false: LEDs only
    finally:
        ind.close()


def test_key_click_can_be_off_and_unfitted_parts_are_skipped(mock_factory: MockFactory) -> None:
    ind = GpioIndicators(buzzer_pin=BUZZER, key_click=False, pin_factory=mock_factory)
    mock_factory.pin(BUZZER).clear_states()
    ind.show("key", wait=True)
    assert _levels(mock_factory, BUZZER) == [False]
    ind.show("accepted", wait=True)  # no LEDs fitted: the beep alone, nothing fails
    assert _levels(mock_factory, BUZZER) == [False, True, False]
    assert ind.ok_led is None
    assert ind.error_led is None
    ind.close()
    null = NullIndicators()
    null.show("accepted")
    with pytest.raises(ValueError, match="unknown applicant state"):
        null.show("verified")
    null.close()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"refused_twice": {}}, "unknown indicator state"),
        ({"refused": {"beep_volume": 3}}, "unknown key"),
        ({"refused": {"led": "blue"}}, "not one of ok, error"),
        ({"refused": {"beep_count": "two"}}, "must be a number"),
        ({"refused": {"beep_count": -1}}, "must not be negative"),
        ({"key": {"led_count": 2}}, "needs led and led_on_s"),
    ],
)
def test_bad_patterns_are_config_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        merge_patterns(overrides)


def test_the_config_refuses_bad_patterns_at_load(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        "[indicators]\nbuzzer_pin = 22\nsound = false\n"
        "[indicators.patterns.refused]\nbeep_count = 3\n"
    )
    cfg = load_config(good)
    assert cfg.indicators.patterns == {"refused": {"beep_count": 3}}
    assert cfg.indicators.sound is False
    bad = tmp_path / "bad.toml"
    bad.write_text("[indicators.patterns.refused]\nbeeps = 3\n")
    with pytest.raises(ConfigError, match=r"\[indicators.patterns\].*unknown key\(s\) beeps"):
        load_config(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[indicators]\nloudness = 3\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(typo)


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


def test_docs_table_names_every_state_with_its_line() -> None:
    import tomllib

    docs = (Path(__file__).parents[2] / "docs" / "pinpad.md").read_text(encoding="utf-8")
    strings = tomllib.loads(
        (Path(__file__).parents[2] / "tui" / "strings" / "ja.toml").read_text(encoding="utf-8")
    )["pin"]["applicant"]
    for state in APPLICANT_STATES:
        row = next((line for line in docs.splitlines() if line.startswith(f"| `{state}` |")), "")
        assert row, f"docs/pinpad.md has no row for {state}"
        if state != "key":
            assert strings[state].replace("{remaining}", "N") in row


def test_the_counter_opens_indicators_only_when_fitted_and_never_on_mock_pins() -> None:
    from madoguchi.commands.demo import _open_indicators
    from madoguchi.config import Config, IndicatorConfig
    from madoguchi.errors import KeypadError

    assert _open_indicators(Config()) is None  # nothing fitted: the status line alone
    fitted = Config(
        indicators=IndicatorConfig(buzzer_pin=BUZZER),
        keypad=KeypadConfig(pin_factory="mock"),
    )
    with pytest.raises(KeypadError, match="drives no pins"):
        _open_indicators(fitted)


@pytest.fixture
def pwm_factory() -> Any:
    """MockFactory whose pins take PWM values (as lgpio's do on a Pi)."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockPWMPin

    saved = Device.pin_factory
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = saved


@pytest.mark.parametrize("volume", [0.25, 0.6])
def test_the_buzzer_sounds_at_the_configured_volume(pwm_factory: MockFactory,
                                                    volume: float) -> None:
    pattern = DEFAULT_PATTERNS["refused"]  # two beeps
    ind = GpioIndicators(buzzer_pin=BUZZER, volume=volume, pin_factory=pwm_factory)
    pwm_factory.pin(BUZZER).clear_states()
    try:
        ind.show("refused", wait=True)
        levels = [s.state for s in pwm_factory.pin(BUZZER).states]
        assert levels.count(volume) == pattern.beep_count  # each beep at the level...
        assert max(levels) == volume  # ...never louder
        assert levels[-1] == 0  # and silent afterwards
        # A background pattern is stopped by the next one, as gpiozero's blinks are.
        ind.show("last_try")
        ind.show("accepted", wait=True)
        assert pwm_factory.pin(BUZZER).states[-1].state == 0
    finally:
        ind.close()


def test_volume_zero_is_silence_and_a_bad_volume_is_refused(
    pwm_factory: MockFactory, tmp_path: Path
) -> None:
    ind = GpioIndicators(buzzer_pin=BUZZER, volume=0.0, pin_factory=pwm_factory)
    pwm_factory.pin(BUZZER).clear_states()
    ind.show("refused", wait=True)
    assert [s.state for s in pwm_factory.pin(BUZZER).states] == [0]
    ind.close()
    with pytest.raises(ValueError, match=r"between 0\.0 and 1\.0"):
        GpioIndicators(buzzer_pin=BUZZER, volume=1.5, pin_factory=pwm_factory)
    for bad in ("1.5", "-0.1", '"loud"', "true"):
        path = tmp_path / "volume.toml"
        path.write_text(f"[indicators]\nbuzzer_pin = 22\nvolume = {bad}\n")
        with pytest.raises(ConfigError, match=r"\[indicators\] volume must be float"):
            load_config(path)
    path.write_text("[indicators]\nbuzzer_pin = 22\nvolume = 0.4\n")
    assert load_config(path).indicators.volume == 0.4
