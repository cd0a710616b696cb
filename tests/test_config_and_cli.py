"""Configuration loading and the CLI's error contract."""

from __future__ import annotations

import os
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


#: One wrong type per section: the message names the table, the key and both kinds.
BAD_TYPES = [
    ("[reader]\nprofile = 1\n", "[reader] profile must be str, not int"),
    ("[keypad]\nrow_pins = [\"a\", 5]\n", "[keypad] row_pins[0] must be int, not str"),
    ("[keypad]\ncol_pins = [12, 99]\n", "[keypad] col_pins[1] must be int <= 63"),
    ("[keypad]\ndebounce_ms = \"10\"\n", "[keypad] debounce_ms must be float, not str"),
    ("[keypad]\nuse_reader_pinpad = 1\n", "[keypad] use_reader_pinpad must be bool, not int"),
    ("[indicators]\nbuzzer_pin = 2.5\n", "[indicators] buzzer_pin must be int, not float"),
    ("[indicators.patterns]\nrefused = 3\n", "[indicators.patterns] each entry must be a table"),
    ("[store]\npath = false\n", "[store] path must be str, not bool"),
    ("[sync]\nbatch_size = 1.9\n", "[sync] batch_size must be int, not float"),
    ("[sync]\nbatch_size = 0\n", "[sync] batch_size must be int >= 1"),
    ("[sync]\nqueue_bound = true\n", "[sync] queue_bound must be int, not bool"),
    ("[sync]\nbackoff_cap_s = -1\n", "[sync] backoff_cap_s must be float >= 0"),
    ("[rules]\ngrace_months = \"six\"\n", "[rules] grace_months must be int, not str"),
    ("[rules]\nfallback_requires_both = \"yes\"\n", "[rules] fallback_requires_both must be bool"),
    ("[ui]\nidle_sign_out_s = true\n", "[ui] idle_sign_out_s must be float, not bool"),
    ("[update]\nunits = \"madoguchi-tui.service\"\n", "[update] units must be a list, not str"),
    ("[update]\nkeep_versions = 2.0\n", "[update] keep_versions must be int, not float"),
    ("sync = 3\n", "[config] sync must be a table, not int"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TYPES)
def test_a_wrong_type_is_refused_at_load_naming_file_table_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "madoguchi.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_values_of_the_right_kind_still_load(tmp_path: Path) -> None:
    # An integer is a number of seconds as well; lists become tuples.
    path = tmp_path / "madoguchi.toml"
    path.write_text(
        "[keypad]\ndebounce_ms = 5\nrow_pins = [5, 6, 13, 19]\n[sync]\nbatch_size = 50\n"
        "backoff_cap_s = 60\n[update]\nunits = [\"madoguchi-tui.service\"]\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.keypad.debounce_ms == 5.0
    assert isinstance(config.keypad.debounce_ms, float)
    assert config.keypad.row_pins == (5, 6, 13, 19)
    assert config.sync.batch_size == 50
    assert config.update.units == ("madoguchi-tui.service",)


def test_a_type_error_is_one_line_and_exit_2_from_the_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "madoguchi.toml"
    path.write_text("[sync]\nbatch_size = 1.9\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "--config", str(path), "counter", "--check"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "MADOGUCHI_STATE_DIR": str(tmp_path / "state")},
    )
    assert result.returncode == 2, result
    assert result.stderr == f"madoguchi: {path}: [sync] batch_size must be int, not float\n"


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


def test_version_prints_the_installed_distribution_version_and_platform() -> None:
    import platform
    import subprocess
    import sys
    from importlib import metadata

    from madoguchi.version import installed_version

    installed = metadata.version("madoguchi")
    assert installed_version() == installed
    abi = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    line = f"madoguchi {installed} ({platform.machine()}, {abi})"
    result = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "--version"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (result.returncode, result.stdout) == (0, f"{line}\n"), result
    # the version needs no configuration and no subcommand, even with a broken file
    result = subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", "--config", "/nonexistent.toml", "--version"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (result.returncode, result.stdout) == (0, f"{line}\n"), result
