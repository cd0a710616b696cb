"""The udev rule that mounts an IT's USB stick for the first-boot provisioning screen.

``systemd/61-madoguchi-usb.rules`` must match a file system on a USB block device, and only
that, and hand ``systemd-mount`` a read-only, no-exec mount under ``/media/<kernel name>``.
Here a loop device over a real file system image stands in for the stick, and udev's own
rule engine (``udevadm test``, which reads the rules, runs the builtins such as blkid, and
prints what it would run without running it) decides. A loop device is virtual, so a
stand-in rule ordered before ours gives it the ``ID_BUS`` a USB stick's path would.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.conftest import ROOT

RULE = ROOT / "systemd" / "61-madoguchi-usb.rules"
RULES_DIR = Path("/run/udev/rules.d")
STAND_IN = RULES_DIR / "59-madoguchi-test-bus.rules"
INSTALLED = RULES_DIR / RULE.name


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A loop device over a 4 MiB image (no file system yet) and its kernel name."""
    image = tmp_path / "stick.img"
    with image.open("wb") as f:
        f.truncate(4 << 20)
    device = Path(_run("losetup", "--find", "--show", str(image)).strip())
    try:
        yield image, device.name
    finally:
        subprocess.run(["losetup", "--detach", str(device)], check=False)


@pytest.fixture
def rules() -> Iterator[None]:
    """Our rule where udev reads rules at run time (the package installs it under
    /usr/lib/udev/rules.d); removed afterwards with the stand-in."""
    RULES_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RULE, INSTALLED)
    try:
        yield
    finally:
        INSTALLED.unlink(missing_ok=True)
        STAND_IN.unlink(missing_ok=True)


def _udev_runs(kernel: str, bus: str) -> list[str]:
    """What udev would run for the device's ``add`` with ``ID_BUS`` set to ``bus``."""
    STAND_IN.write_text(
        f'ACTION=="add", SUBSYSTEM=="block", KERNEL=="{kernel}", ENV{{ID_BUS}}="{bus}"\n'
    )
    out = subprocess.run(
        ["udevadm", "test", "--action=add", f"/sys/class/block/{kernel}"],
        check=True, capture_output=True, text=True,
    )
    # "run: '<command>'" lines, printed on stdout (udev 252) or stderr (other versions)
    return [
        line.split("run: ", 1)[1].strip("'")
        for line in (out.stdout + out.stderr).splitlines()
        if line.startswith("run: ")
    ]


def test_a_file_system_on_a_usb_stick_is_mounted_read_only_under_media(
    loop_device: tuple[Path, str], rules: None
) -> None:
    image, kernel = loop_device
    _run("mkfs.ext4", "-q", "-F", str(image))
    runs = _udev_runs(kernel, "usb")
    mounts = [r for r in runs if r.startswith("/usr/bin/systemd-mount ")]
    assert mounts == [
        "/usr/bin/systemd-mount --no-block --collect --options=ro,nosuid,nodev,noexec"
        f" /dev/{kernel} /media/{kernel}"
    ], runs


def test_a_disk_of_another_bus_or_a_stick_without_a_file_system_is_left_alone(
    loop_device: tuple[Path, str], rules: None
) -> None:
    image, kernel = loop_device
    # no file system yet: blkid finds nothing (no ID_FS_USAGE)
    assert not [r for r in _udev_runs(kernel, "usb") if "systemd-mount" in r]
    _run("mkfs.ext4", "-q", "-F", str(image))
    # an internal disk (SATA) with a file system
    assert not [r for r in _udev_runs(kernel, "ata") if "systemd-mount" in r]
