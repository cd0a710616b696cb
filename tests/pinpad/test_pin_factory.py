"""The pin factory under a counter's PIN pad: chosen as gpiozero would, refused unless it
drives real pins, and shown by ``madoguchi pad status``.

This machine has no GPIO and (x86-64) no lgpio: gpiozero's own choice fails here the way it
fails on a Pi whose venv lacks lgpio, so the refusal is tested for real. The arm64 run
(tests/arm64) imports lgpio and checks the refusal names the missing chip, not a package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from drivers import open_keypad
from drivers.keypad.matrix_model import KeypadMatrixModel
from drivers.keypad.pins import (
    COUNTER_FACTORIES,
    PinFactoryChoice,
    choose_pin_factory,
    counter_pin_factory,
    factory_name,
    refusal,
)
from madoguchi.commands.demo import _open_pin_pad
from madoguchi.commands.pad import _scan_once, pad_report
from madoguchi.config import Config, KeypadConfig, load_config
from madoguchi.errors import ConfigError, KeypadError

ROOT = Path(__file__).resolve().parents[2]
ROWS, COLS = (5, 6, 13, 19), (12, 16, 20)


@pytest.fixture(autouse=True)
def _no_factory_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)


def _madoguchi(
    *args: str, config: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"} | env
    words = [sys.executable, "-m", "madoguchi.cli"]
    if config is not None:
        words += ["--config", config]
    return subprocess.run(
        [*words, *args], capture_output=True, text=True, env=environ, timeout=60, cwd=ROOT,
        stdin=subprocess.DEVNULL, check=False,
    )


def _gpio_config(tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "counter.toml"
    path.write_text(f'[keypad]\nbackend = "gpio"\n{extra}', encoding="utf-8")
    return str(path)


def test_gpiozeros_choice_here_passes_over_every_factory_and_says_why() -> None:
    choice = choose_pin_factory("")
    assert choice.name == ""
    assert choice.factory is None
    assert [line.split(":")[0] for line in choice.tried] == [
        "lgpio", "rpigpio", "pigpio", "native",
    ]
    assert "the Python package 'lgpio' is not installed" in choice.tried[0]
    reason = refusal(choice)
    assert reason is not None
    assert "install the Python package 'lgpio'" in reason


def test_a_counter_refuses_the_mock_factory_however_it_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(KeypadError, match='"mock" pin factory, which drives no pins') as exc:
        counter_pin_factory("mock")
    assert 'pin_factory = "lgpio"' in str(exc.value)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    choice = choose_pin_factory("")
    assert (choice.name, choice.requested) == ("mock", "mock")
    with pytest.raises(KeypadError, match="drives no pins"):
        counter_pin_factory("")


def test_the_native_factory_is_refused_even_when_it_could_run() -> None:
    # On a Pi 4 gpiozero's native factory would come up; a counter still refuses it.
    reason = refusal(PinFactoryChoice("native", object(), "", ("lgpio: the Python package "
                                                              "'lgpio' is not installed",)))
    assert reason is not None
    assert 'experimental "native" pin factory' in reason
    assert "'lgpio' is not installed" in reason
    assert "Raspberry Pi 5" in reason
    # A failed native (this machine is no Pi) is refused just the same, by name.
    with pytest.raises(KeypadError, match='"native"'):
        counter_pin_factory("native")


def test_only_factories_backed_by_a_gpio_library_pass() -> None:
    assert sorted(COUNTER_FACTORIES) == ["lgpio", "pigpio", "rpigpio"]
    for name in COUNTER_FACTORIES:
        assert refusal(PinFactoryChoice(name, object(), "")) is None


def test_unknown_factory_names_are_config_errors_listing_the_valid_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError, match=r'"lgpio", "rpigpio", "pigpio", "native", "mock"'):
        choose_pin_factory("lgpoi")
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "bogus")
    with pytest.raises(ConfigError, match="'bogus' is not a gpiozero pin factory"):
        choose_pin_factory("")


def test_the_config_key_and_where_it_applies(tmp_path: Path) -> None:
    config = load_config(Path(_gpio_config(tmp_path, 'pin_factory = "lgpio"\n')))
    assert config.keypad.pin_factory == "lgpio"
    assert Config().keypad.pin_factory == ""
    keyboard = Config(keypad=KeypadConfig(backend="keyboard", pin_factory="lgpio"))
    with pytest.raises(ConfigError, match='pin_factory applies to backend = "gpio" only'):
        _open_pin_pad(keyboard)


def test_the_counter_does_not_start_without_lgpio_and_says_so(tmp_path: Path) -> None:
    # The kiosk unit's ExecStartPre= on a Pi missing the package: refused in the journal
    # before the screen starts.
    result = _madoguchi("counter", "--check", config=_gpio_config(tmp_path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("madoguchi: the PIN pad has no GPIO pin factory")
    assert "the Python package 'lgpio' is not installed" in lines[0]
    assert "Traceback" not in result.stderr


def test_pad_status_of_a_gpio_pad_without_a_factory(tmp_path: Path) -> None:
    result = _madoguchi("pad", "status", "--json", config=_gpio_config(tmp_path))
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["backend"] == "gpio"
    assert (report["row_pins"], report["col_pins"]) == ([5, 6, 13, 19], [12, 16, 20])
    assert report["pin_factory"]["in_use"] is None
    assert report["pin_factory"]["counter_ready"] is False
    assert report["pin_factory"]["tried"][0].startswith("lgpio: ")
    assert "'lgpio' is not installed" in report["problem"]
    assert "'lgpio' is not installed" in result.stderr

    text = _madoguchi("pad", "status", config=_gpio_config(tmp_path),
                      GPIOZERO_PIN_FACTORY="mock")
    assert text.returncode == 2
    assert "pin factory:  mock (asked for: mock)" in text.stdout
    assert "drives no pins" in text.stderr


def test_pad_status_of_the_demo_pads(tmp_path: Path) -> None:
    result = _madoguchi("pad", "status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backend"] == "keyboard"
    assert report["pin_factory"]["in_use"] is None
    assert report["problem"] is None

    virtual = pad_report(KeypadConfig(backend="virtual-matrix",
                                      control_socket=str(tmp_path / "k.sock")))
    assert virtual["pin_factory"]["in_use"] == "mock"
    assert "(no appliance running)" in virtual["state"]
    assert virtual["problem"] is None


def test_the_status_scan_counts_closed_contacts_and_names_no_key() -> None:
    factory = MockFactory()
    model = KeypadMatrixModel(factory, ROWS, COLS)
    choice = PinFactoryChoice("mock", factory, "mock")
    pad = KeypadConfig(backend="gpio")
    assert _scan_once(pad, choice) == "pins claimed; every key open"
    model.press("5")
    state = _scan_once(pad, choice)
    assert state.startswith("pins claimed; 1 key contact(s) closed now")
    assert "5" not in state


def test_pads_name_their_pin_factory() -> None:
    factory = MockFactory()
    KeypadMatrixModel(factory, ROWS, COLS)
    pad = open_keypad("gpio", rows=ROWS, cols=COLS, start=False, pin_factory=factory)
    try:
        assert pad.pin_factory_name == "mock"
    finally:
        pad.close()
    assert open_keypad("keyboard").pin_factory_name == ""
    assert factory_name(factory) == "mock"


def test_lgpio_present_but_without_a_gpio_chip_is_not_called_missing() -> None:
    # What an arm64 machine that is no Pi (or a Pi whose user may not open the chip) sees;
    # tests/arm64 meets it for real under emulation.
    choice = PinFactoryChoice("", None, "", (
        "lgpio: PinUnknownPi: unable to locate Pi revision",
        "native: PinUnknownPi: unable to locate Pi revision",
    ))
    reason = refusal(choice)
    assert reason is not None
    assert "lgpio is installed but cannot drive this machine's GPIO" in reason
    assert "/dev/gpiochip" in reason
    assert "not installed" not in reason


def test_a_failed_native_factory_asked_for_by_name_still_points_at_lgpio() -> None:
    # lgpio was never tried: nothing may be said about it but that it is the way out.
    reason = refusal(PinFactoryChoice("", None, "native", ("native: PinUnknownPi: no Pi",)))
    assert reason is not None
    assert "install the Python package 'lgpio'" in reason
    assert "is installed" not in reason
