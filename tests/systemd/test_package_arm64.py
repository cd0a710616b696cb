"""The Raspberry Pi's package, installed and booted as IT would on a fresh arm64 Debian 12.

``scripts/package arm64`` builds ``madoguchi_<v>_arm64.deb`` in the emulated arm64 root
(pyscard and lgpio compiled by an arm64 gcc, as on a Pi); ``scripts/package boot-root arm64``
is a cached debootstrap of arm64 Debian 12 with systemd and the package's dependencies. The
root is booted under systemd-nspawn with every arm64 program run by qemu-user through binfmt,
so the package's own systemd units, maintainer scripts, sysusers and tmpfiles run on the
machine they were built for — the same driver and phases as tests/systemd/test_package.py,
with its waits stretched (``EMULATED_TIME_SCALE``): ``apt install`` with no network, the units
enabled, the user made, the venv's ``madoguchi`` runs; the next boot with the production
configuration brings the kiosk up (cage, foot and the TUI on wlroots' headless output);
``apt purge`` leaves nothing of madoguchi.

What emulation cannot show: the Pi's GPIO and its panel (tests/arm64 checks lgpio imports;
docs/raspberry-pi.md), and timing (package_install_s is measured on amd64).
"""

from __future__ import annotations

from typing import Any

import pytest

from madoguchi.bench.package import (
    BOOT_LOCK_WAIT_S,
    BOOT_TIMEOUT_S,
    EMULATED_TIME_SCALE,
    run_roles,
)
from tests.systemd.test_package import _phase, assert_purged

#: the arm64 build (minutes under qemu when its inputs changed), the boot lock, two slow boots
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800 + BOOT_LOCK_WAIT_S + 2 * EMULATED_TIME_SCALE * BOOT_TIMEOUT_S),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    results = run_roles(tmp_path_factory.mktemp("package-arm64"), arch="arm64")
    install_s = results.get("install-counter", {}).get("install_s")
    print(f"\narm64 package_install_s (emulated): {install_s}")
    return results


def test_the_pi_package_installs_with_apt_and_its_units_are_enabled(
    runs: dict[str, dict[str, Any]],
) -> None:
    install = _phase(runs, "install-counter")
    assert install["deb"], install
    assert install["deb"][0].endswith("_arm64.deb"), install["deb"]
    assert install["apt"]["rc"] == 0, install["apt"]["out"]
    assert install["active"], install["units"]
    units = install["units"]
    for unit in ("madoguchi-tui.service", "madoguchi-sync.service", "madoguchi-update.timer"):
        assert units[unit]["UnitFileState"] == "enabled", (unit, units[unit])
    assert units["madoguchi-update.timer"]["ActiveState"] == "active"
    assert install["user"].startswith("madoguchi:"), install["user"]
    assert install["current"] == "versions/0.1.0"
    # the venv's interpreter and compiled wheels (pyscard, lgpio) are arm64's and run
    assert install["help"]["rc"] == 0, install["help"]
    assert install["version"]["rc"] == 0, install["version"]
    assert "aarch64" in install["version"]["out"], install["version"]


def test_with_the_production_configuration_the_pi_kiosk_comes_up(
    runs: dict[str, dict[str, Any]],
) -> None:
    boot = _phase(runs, "boot-counter")
    assert boot["active"], boot["units"]
    kiosk = boot["kiosk"]
    journal = kiosk["journal"]
    assert "madoguchi counter: configuration ok (reader pcsc, keypad keyboard" in journal, journal
    assert kiosk["start"]["rc"] == 0, journal
    assert (kiosk["state"]["ActiveState"], kiosk["state"]["SubState"]) == ("active", "running")
    assert "Traceback" not in journal


def test_purging_the_pi_package_leaves_nothing_behind(runs: dict[str, dict[str, Any]]) -> None:
    assert_purged(_phase(runs, "boot-counter"))
