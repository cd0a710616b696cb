"""Configuration loading and the CLI's error contract."""

from __future__ import annotations

from pathlib import Path

import pytest

import drivers
from madoguchi.cli import main
from madoguchi.config import Config, load_config
from madoguchi.errors import ConfigError


def test_no_file_gives_the_embedded_demo_defaults() -> None:
    config = load_config()
    assert config == Config()
    assert config.reader.backend == "sim"
    assert config.keypad.backend == "keyboard"


def test_a_file_overrides_sections(tmp_path: Path) -> None:
    path = tmp_path / "madoguchi.toml"
    path.write_text(
        '[reader]\nbackend = "pcsc"\nname = "ACS"\n[keypad]\nrow_pins = [1, 2, 3, 4]\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.reader.backend == "pcsc"
    assert config.reader.name == "ACS"
    assert config.keypad.row_pins == (1, 2, 3, 4)
    assert config.keypad.layout == Config().keypad.layout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[reader]\nbackedn = 'pcsc'\n", "unknown key"),
        ("[raeder]\nbackend = 'pcsc'\n", "unknown key"),
        ("[reader]\nbackend = 3\n", "must be str"),
        ("[keypad]\nrow_pins = 5\n", "must be a list"),
        ("[reader\n", "cannot read"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_an_explicit_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MADOGUCHI_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config()


def test_unknown_backend_names_fail_loudly_and_list_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown reader backend 'fake'; valid: pcsc, sim"):
        drivers.open_reader("fake")


def test_cli_turns_errors_into_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[reader]\nbackend = 'nope'\nextra = 1\n", encoding="utf-8")
    code = main(["--config", str(path), "card", "status"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("madoguchi: ")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_named_command_loads_only_its_own_area() -> None:
    # The kiosk runs `madoguchi demo`: its start-up must not import every area.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from madoguchi.cli import build_parser, COMMAND_MODULES\n"
        "build_parser(['-v', '--config', 'x.toml', 'sim', 'profiles'])\n"
        "print(sorted(m for m in COMMAND_MODULES if m in sys.modules))\n"
        "build_parser(['--help'])\n"
        "print(all(m in sys.modules for m in COMMAND_MODULES))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    only, everything = result.stdout.splitlines()
    assert only == "['madoguchi.commands.sim']"
    assert everything == "True"
