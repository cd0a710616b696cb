"""Fail closed (issue 13): a counter never comes up as the demo.

- Without a configuration the counter's screen and the daemons refuse to start, in one
  sentence; only ``madoguchi demo`` runs on the embedded defaults, and it never reads
  a counter's ``/etc/madoguchi/madoguchi.toml``.
- The demo account (published password) signs in only in the demo, on the virtual
  card and a stand-in pad: on a counter it is refused like an unknown id, even when an
  operators database holds it.
- On a counter the CLI uses the system state directory, so an account IT adds is the
  one the kiosk reads, and it refuses to write there as another user.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from device.operators import OperatorStore, SignInRefusedError, open_operator_db
from madoguchi import config as config_module
from madoguchi.cli import main
from madoguchi.commands.demo import (
    DEMO_OPERATOR_ID,
    DEMO_PASSWORD,
    build_services,
    demo_mode,
    demo_state_dir,
)
from madoguchi.config import (
    SYSTEM_STATE_DIR,
    Config,
    KeypadConfig,
    ReaderConfig,
    default_state_dir,
    load_config,
)
from madoguchi.errors import ConfigError
from tests.tui.conftest import FAST_KDF
from tests.tui.helpers import screen_text, wait_for
from tui.app import CounterApp
from tui.screens.login import LoginScreen

ROOT = Path(__file__).resolve().parents[2]
#: A production counter's configuration, as far as this machine can run it: the
#: virtual card stands in for the reader, the keyboard for the pad.
COUNTER = Config(reader=ReaderConfig(backend="sim"), keypad=KeypadConfig(backend="keyboard"))


def _plant_demo_account(state: Path) -> None:
    """What a counter that once ran the demo (or an intruder) left behind."""
    state.mkdir(parents=True, exist_ok=True)
    db = open_operator_db(str(state / "operators.sqlite3"))
    OperatorStore(db, kdf=FAST_KDF).add(DEMO_OPERATOR_ID, DEMO_PASSWORD, display_name="デモ職員")
    OperatorStore(db, kdf=FAST_KDF).add("clerk01", "clerk-password-1", display_name="窓口 一郎")
    db.conn.close()


def test_the_demo_account_cannot_sign_in_on_a_counter(tmp_path: Path) -> None:
    state = tmp_path / "counter"
    _plant_demo_account(state)
    services = build_services(COUNTER, state_dir=state, demo=False)
    try:
        assert DEMO_OPERATOR_ID in services.operators.operator_ids()  # present, yet:
        with pytest.raises(SignInRefusedError) as refused:
            services.operators.sign_in(DEMO_OPERATOR_ID, DEMO_PASSWORD)
        with pytest.raises(SignInRefusedError) as unknown:
            services.operators.sign_in("nobody-here", DEMO_PASSWORD)
        # The same words as an id that does not exist: no oracle for the demo account.
        assert str(refused.value) == str(unknown.value)
        # A real clerk still signs in on the same database.
        services.operators.sign_in("clerk01", "clerk-password-1").sign_out()
    finally:
        services.close()


async def test_the_login_screen_refuses_the_demo_account_on_a_counter(tmp_path: Path) -> None:
    state = tmp_path / "counter"
    _plant_demo_account(state)
    services = build_services(COUNTER, state_dir=state, demo=False)
    app = CounterApp(services=services, watch_reader=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
            assert "madoguchi-demo" not in screen_text(app)  # no hint on a counter
            await pilot.press(*DEMO_OPERATOR_ID, "enter", *DEMO_PASSWORD, "enter")
            await wait_for(pilot, lambda: not app.screen.busy)  # type: ignore[attr-defined]
            assert app.session is None
            assert isinstance(app.screen, LoginScreen)
            assert app.screen.query_one("#login-message").has_class("error")
    finally:
        services.close()


def test_the_demo_account_exists_only_in_the_demo() -> None:
    assert demo_mode(Config())  # embedded defaults: virtual card, keyboard pad
    assert not demo_mode(Config(reader=ReaderConfig(backend="pcsc")))
    assert not demo_mode(Config(keypad=KeypadConfig(backend="gpio")))


def _madoguchi(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MADOGUCHI_CONFIG",)}
    env["HOME"] = str(tmp_path)
    env["MADOGUCHI_STATE_DIR"] = str(tmp_path / "state")
    return subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", *args], cwd=ROOT, env=env, check=False,
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (("sync", "run"), "the uploader (madoguchi sync run)"),
        (("server", "run"), "the central server (madoguchi server run)"),
        (("update", "poll", "--apply"), "the update poll (madoguchi update poll)"),
    ],
)
def test_without_a_configuration_the_counter_and_the_daemons_refuse(
    command: tuple[str, ...], what: str, tmp_path: Path
) -> None:
    assert not config_module.SYSTEM_CONFIG.exists(), "this machine is a counter"
    result = _madoguchi(*command, tmp_path=tmp_path)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"madoguchi: no configuration: {what} needs /etc/madoguchi/madoguchi.toml (or"
        " --config PATH or $MADOGUCHI_CONFIG) and does not run on the embedded demo"
        " defaults; `madoguchi demo` runs the demo"
    ]


def test_without_a_configuration_the_counter_provisions_instead_of_the_demo(
    tmp_path: Path,
) -> None:
    """First boot (issue 15): no configuration is not the demo but the provisioning
    screen (tests/tui/test_provision.py); the kiosk's ExecStartPre= check lets it come."""
    assert not config_module.SYSTEM_CONFIG.exists(), "this machine is a counter"
    result = _madoguchi("counter", "--check", tmp_path=tmp_path)
    assert result.returncode == 0, result
    assert result.stdout.strip().splitlines() == [
        "madoguchi counter: no configuration yet: the provisioning screen asks for the"
        " server and a one-time enrolment token (first boot, docs/kiosk.md)"
    ]
    # Without a terminal the screen is refused as before, before anything is written.
    result = _madoguchi("counter", tmp_path=tmp_path)
    assert result.returncode == 2, result
    assert "needs a terminal" in result.stderr
    assert not (tmp_path / "state" / "madoguchi.toml").exists()
    # A provisioned configuration that does not load is refused, never re-provisioned.
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "state" / "madoguchi.toml").write_text("[reader]\ntypo = 1\n", encoding="utf-8")
    result = _madoguchi("counter", "--check", tmp_path=tmp_path)
    assert result.returncode == 2, result
    assert "madoguchi.toml: [reader] unknown key(s) typo" in result.stderr


def test_the_counter_checks_a_configuration_it_is_given(tmp_path: Path) -> None:
    config = tmp_path / "madoguchi.toml"
    config.write_text('[reader]\nbackend = "sim"\n', encoding="utf-8")
    result = _madoguchi("--config", str(config), "counter", "--check", tmp_path=tmp_path)
    assert result.returncode == 0, result
    assert "configuration ok" in result.stdout
    config.write_text('[reader]\nbackend = "sim"\ntypo = 1\n', encoding="utf-8")
    result = _madoguchi("--config", str(config), "counter", "--check", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "unknown key(s) typo" in result.stderr


def test_the_demo_never_reads_a_counters_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "etc-madoguchi.toml"
    system.write_text('[reader]\nbackend = "pcsc"\n', encoding="utf-8")
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", system)
    assert load_config().reader.backend == "pcsc"  # what the counter and the tools read
    assert load_config(system=False) == Config()  # what the demo reads
    with pytest.raises(ConfigError, match="no configuration"):
        load_config(system=False, required_for="x")


def test_on_a_counter_the_cli_uses_the_system_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MADOGUCHI_STATE_DIR")
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", tmp_path / "missing.toml")
    assert default_state_dir() == Path.home() / ".local" / "state" / "madoguchi"
    present = tmp_path / "madoguchi.toml"
    present.write_text("", encoding="utf-8")
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", present)
    # IT's `madoguchi operator add` on a counter writes where the kiosk reads.
    assert default_state_dir() == SYSTEM_STATE_DIR == Path("/var/lib/madoguchi")
    # The demo's state is never the counter's, also under a unit's StateDirectory=.
    assert demo_state_dir() == Path.home() / ".local" / "state" / "madoguchi"
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/madoguchi")
    assert demo_state_dir() == Path("/var/lib/madoguchi/demo")


def test_operator_commands_refuse_another_users_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() == 0:
        theirs = tmp_path / "var-lib-madoguchi"
        theirs.mkdir()
        os.chown(theirs, 65534, 65534)  # as the kiosk's user owns /var/lib/madoguchi
    else:
        theirs = Path("/")  # root's, and we are not root
    monkeypatch.setenv("MADOGUCHI_STATE_DIR", str(theirs))
    assert main(["operator", "list"]) == 2
    err = capsys.readouterr().err
    assert f"the operator accounts in {theirs} belong to user" in err
    assert "sudo -u" in err
    assert not (theirs / "operators.sqlite3").exists()


def test_a_counter_refuses_the_virtual_cards_test_terminal_as_its_pin_writer(
    tmp_path: Path,
) -> None:
    """暗証番号の初期化・再設定 on a counter is the J-LIS terminal's card step; the test
    terminal (which writes on the virtual card under a modelled key) is refused there."""
    config = tmp_path / "madoguchi.toml"
    config.write_text('[reader]\nbackend = "pcsc"\npin_writer = "test-terminal"\n',
                      encoding="utf-8")
    result = _madoguchi("--config", str(config), "counter", "--check", tmp_path=tmp_path)
    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines() == [
        'madoguchi: [reader] pin_writer = "test-terminal" writes PINs on the virtual card'
        ' only; a counter hands that step to the J-LIS terminal (pin_writer = "jlis")'
    ]
    config.write_text('[reader]\nbackend = "pcsc"\npin_writer = "jlis-ish"\n', encoding="utf-8")
    result = _madoguchi("--config", str(config), "counter", "--check", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "pin_writer must be one of jlis, test-terminal" in result.stderr
    config.write_text('[reader]\nbackend = "pcsc"\npin_writer = "jlis"\n', encoding="utf-8")
    result = _madoguchi("--config", str(config), "counter", "--check", tmp_path=tmp_path)
    assert result.returncode == 0, result
