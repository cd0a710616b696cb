"""The unit files pass ``systemd-analyze verify`` without a single warning and stay hardened.

``verify`` exits 0 on unknown keys and bad values, printing only warnings, so any
output on stderr fails the test. It also checks that every ``ExecStart=`` binary
exists, so the units are verified inside a scratch root (``--root``) holding the
host's stock units plus the paths a counter image has: the install tree's
``/opt/madoguchi/current/bin/madoguchi`` and the kiosk's ``cage`` and ``foot``
(empty executables there: what they are is packaging, not unit syntax).

``systemd-analyze security --offline=true`` scores each service's exposure
(0 = locked down, 10 = exposed). The budgets below are the documented maximum
(docs/systemd.md); loosening a unit's hardening fails the build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT_DIR = ROOT / "systemd"
UNITS = sorted(p.name for p in UNIT_DIR.iterdir() if p.suffix in (".service", ".timer", ".path"))
#: Maximum "overall exposure level" per service (measured values are in docs/systemd.md).
EXPOSURE_BUDGET = {
    "madoguchi-sync.service": 1.5,
    "madoguchi-server.service": 1.5,
    "madoguchi-server-retention.service": 1.5,
    "madoguchi-tui.service": 2.0,
    "madoguchi-update.service": 2.5,
}
EXECUTABLES = ("opt/madoguchi/current/bin/madoguchi", "usr/bin/cage", "usr/bin/foot")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("image")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(UNIT_DIR / unit, root / "etc/systemd/system" / unit)
    for rel in EXECUTABLES:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return root


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""},
    )


def test_every_unit_is_covered() -> None:
    assert set(EXPOSURE_BUDGET) <= set(UNITS)
    assert "madoguchi-update.timer" in UNITS


@pytest.mark.parametrize("unit", UNITS)
def test_verify_is_silent(image: Path, unit: str) -> None:
    result = _analyze("verify", f"--root={image}", unit)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


def test_verify_would_catch_a_typo(image: Path, tmp_path: Path) -> None:
    # the check above is only worth something if verify reports this kind of mistake
    broken = image / "etc/systemd/system/madoguchi-typo.service"
    text = (UNIT_DIR / "madoguchi-sync.service").read_text()
    broken.write_text(text.replace("WatchdogSec=", "WatchDogSec="))
    try:
        result = _analyze("verify", f"--root={image}", broken.name)
    finally:
        broken.unlink()
    assert "Unknown key" in result.stderr


@pytest.mark.parametrize("unit", sorted(EXPOSURE_BUDGET))
def test_exposure_within_budget(image: Path, unit: str) -> None:
    budget = EXPOSURE_BUDGET[unit]
    result = _analyze(
        "security", "--offline=true", f"--root={image}", f"--threshold={int(budget * 10)}", unit
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= budget, result.stdout
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "unit", ["madoguchi-sync.service", "madoguchi-tui.service", "madoguchi-server.service"]
)
def test_daemons_notify_watch_restart_and_log(unit: str) -> None:
    text = (UNIT_DIR / unit).read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "User=madoguchi",
        "LogExtraFields=MADOGUCHI_COMPONENT=",
        "DevicePolicy=closed",
    ):
        assert line in text, f"{unit} lacks {line}"


def test_kiosk_devices_are_only_the_panel_input_vt_and_gpio() -> None:
    text = (UNIT_DIR / "madoguchi-tui.service").read_text()
    allowed = re.findall(r"^DeviceAllow=(\S+)", text, flags=re.MULTILINE)
    assert sorted(allowed) == sorted(
        ["char-drm", "char-input", "/dev/tty7", "/dev/gpiochip0", "/dev/gpiomem"]
    )


def test_sysusers_snippet_is_valid(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "systemd-sysusers",
            f"--root={tmp_path}",
            "--dry-run",
            str(UNIT_DIR / "madoguchi.sysusers.conf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Creating user 'madoguchi'" in result.stderr + result.stdout
    assert "Failed" not in result.stderr


def test_tmpfiles_snippet_creates_state_and_lock(tmp_path: Path) -> None:
    # the users must exist in that root first, as they do on a counter
    (tmp_path / "etc").mkdir()
    subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(UNIT_DIR / "madoguchi.sysusers.conf")],
        check=True,
        capture_output=True,
    )
    result = subprocess.run(
        [
            "systemd-tmpfiles",
            f"--root={tmp_path}",
            "--create",
            str(UNIT_DIR / "madoguchi.tmpfiles.conf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lock = tmp_path / "var/lib/madoguchi/update.lock"
    assert lock.is_file()
    assert oct(lock.stat().st_mode & 0o777) == "0o664"
    assert (tmp_path / "opt/madoguchi/versions").is_dir()
    assert oct((tmp_path / "var/lib/madoguchi").stat().st_mode & 0o777) == "0o700"


#: Units whose process holds a live PIN (the kiosk: the TUI with the PIN pad and the card).
PIN_HOLDERS = ("madoguchi-tui.service",)


@pytest.mark.parametrize("unit", PIN_HOLDERS)
def test_a_unit_holding_a_pin_neither_swaps_nor_dumps_core(unit: str) -> None:
    # Issue 13.7: a page with a live PIN must reach neither a swap device nor a core file.
    text = (UNIT_DIR / unit).read_text()
    assert re.search(r"^MemorySwapMax=0$", text, flags=re.MULTILINE), f"{unit} may swap"
    assert re.search(r"^LimitCORE=0$", text, flags=re.MULTILINE), f"{unit} may dump core"


def test_the_pin_holders_are_the_units_with_the_pin_pad() -> None:
    # A new unit given the GPIO PIN pad must be added to PIN_HOLDERS (and so checked above).
    with_pad = [
        unit for unit in UNITS
        if "DeviceAllow=/dev/gpiochip0" in (UNIT_DIR / unit).read_text()
    ]
    assert with_pad == list(PIN_HOLDERS)


def test_the_counter_state_folder_is_private_to_its_user() -> None:
    # Issue 13.7: accounts, records and keys live there; 0700 whatever the umask.
    for unit in UNITS:
        text = (UNIT_DIR / unit).read_text()
        if re.search(r"^StateDirectory=madoguchi$", text, flags=re.MULTILINE):
            assert "\nStateDirectoryMode=0700\n" in text, unit
    tmpfiles = (UNIT_DIR / "madoguchi.tmpfiles.conf").read_text()
    assert "d /var/lib/madoguchi 0700 madoguchi madoguchi -" in tmpfiles
