"""The Debian packages, installed as IT would into a fresh Debian 12 system and booted.

``scripts/package amd64`` builds ``madoguchi_<v>_amd64.deb`` (the counter) and
``madoguchi-server_<v>_amd64.deb`` from the hashed locks (cached by their inputs under
/var/cache/madoguchi/packages); ``scripts/package boot-root`` is a cached debootstrap of
Debian 12 with systemd and the packages' dependencies. Each role gets a throwaway overlay
over that root, booted twice under systemd-nspawn (``madoguchi.bench.package``, the same
run ``madoguchi bench package`` measures): ``apt install ./<deb>`` with no network, the
units enabled, the users made, the kiosk's provisioning screen without a configuration (first
boot: READY=1, nothing written, never the demo); then the next
boot with the production configuration (the kiosk comes up: cage, foot and the TUI's
READY=1), ``apt purge``, and a search of the whole file system, the unit list and the user
database for anything left of madoguchi.

The arm64 counter package is built in the emulated arm64 root (``scripts/package arm64``,
tests/arm64/test_package_arm64.py); installing and booting it here would need an arm64
systemd under qemu, which this test does not do.
"""

from __future__ import annotations

from typing import Any

import pytest

from madoguchi.bench.package import BOOT_LOCK_WAIT_S, BOOT_TIMEOUT_S, run_roles

#: the build (a few minutes when its inputs changed), waiting for the boot lock, four boots
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900 + BOOT_LOCK_WAIT_S + 4 * BOOT_TIMEOUT_S)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    results = run_roles(tmp_path_factory.mktemp("package"))
    print(
        f"\npackage_install_s: counter {results.get('install-counter', {}).get('install_s')}"
        f" server {results.get('install-server', {}).get('install_s')}"
    )
    return results


def assert_purged(boot: dict[str, Any]) -> None:
    """``apt purge`` succeeded and left no file, unit, user, group or package of madoguchi."""
    assert boot["purge"]["rc"] == 0, boot["purge"]["out"]
    left = boot["left"]
    assert left["files"] == [], left
    assert left["units"].strip() == "", left
    assert left["unit_files"].strip() == "", left
    assert left["users"] == [], left
    assert left["groups"] == [], left
    assert "no packages found" in left["dpkg"], left


def _phase(runs: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    assert name in runs, f"{name} did not run: {sorted(runs)}"
    result = runs[name]
    assert result["ok"], result.get("error")
    return result


def test_the_counter_installs_with_apt_and_enables_its_units(
    runs: dict[str, dict[str, Any]],
) -> None:
    install = _phase(runs, "install-counter")
    assert install["apt"]["rc"] == 0, install["apt"]["out"]
    assert install["active"], install["units"]
    units = install["units"]
    for unit in ("madoguchi-tui.service", "madoguchi-sync.service", "madoguchi-update.timer"):
        assert units[unit]["UnitFileState"] == "enabled", (unit, units[unit])
    assert units["madoguchi-update.timer"]["ActiveState"] == "active"
    assert install["user"].startswith("madoguchi:"), install["user"]
    assert install["user"].endswith(":/usr/sbin/nologin")
    # the updater's layout: current -> the packaged version's venv
    assert install["current"] == "versions/0.1.0"
    assert install["help"]["rc"] == 0, install["help"]


def test_without_a_configuration_the_kiosk_shows_the_provisioning_screen(
    runs: dict[str, dict[str, Any]],
) -> None:
    """First boot (issue 15): a freshly installed counter with no configuration comes up
    with the provisioning screen (its READY=1), not the demo and not a refusal."""
    install = _phase(runs, "install-counter")
    kiosk = install["kiosk"]
    journal = kiosk["journal"]
    assert "madoguchi counter: no configuration yet: the provisioning screen" in journal, journal
    assert kiosk["start"]["rc"] == 0, journal
    assert (kiosk["state"]["ActiveState"], kiosk["state"]["SubState"]) == ("active", "running")
    assert "configuration ok" not in journal
    assert "Traceback" not in journal
    assert install["provisioned"] is False  # shown, nothing written


def test_the_uploader_waits_for_provisioning_then_starts_by_itself(
    runs: dict[str, dict[str, Any]],
) -> None:
    """Before provisioning the uploader is skipped (a condition, not a failure burning its
    start limit); once the configuration appears where the provisioning screen writes it,
    madoguchi-sync.path starts it: the unprivileged kiosk cannot, and records would wait
    for the next reboot."""
    install = _phase(runs, "install-counter")
    before = install["sync_unprovisioned"]
    assert before["ConditionResult"] == "no", before
    assert before["ActiveState"] == "inactive", before
    assert before["Result"] == "success", before
    assert install["units"]["madoguchi-sync.path"]["UnitFileState"] == "enabled"
    after = install["sync_after_provisioning"]
    assert after["InactiveExitTimestampMonotonic"] != "0", after
    assert after["ConditionResult"] == "yes", after


def test_with_the_production_configuration_the_kiosk_comes_up(
    runs: dict[str, dict[str, Any]],
) -> None:
    boot = _phase(runs, "boot-counter")
    assert boot["active"], boot["units"]
    assert boot["units"]["madoguchi-update.timer"]["ActiveState"] == "active"
    kiosk = boot["kiosk"]
    journal = kiosk["journal"]
    # ExecStartPre= passes on the production configuration (a PC/SC reader, the keyboard
    # pad); then cage + foot + the TUI (on wlroots' headless output: no panel in a
    # container) until the TUI's READY=1 makes the start succeed
    assert "madoguchi counter: configuration ok (reader pcsc, keypad keyboard" in journal, journal
    assert kiosk["start"]["rc"] == 0, journal
    assert (kiosk["state"]["ActiveState"], kiosk["state"]["SubState"]) == ("active", "running")
    assert "no configuration" not in journal
    assert "Traceback" not in journal


def test_the_server_comes_up_on_its_configuration_and_at_boot(
    runs: dict[str, dict[str, Any]],
) -> None:
    install = _phase(runs, "install-server")
    assert install["apt"]["rc"] == 0, install["apt"]["out"]
    server = install["units"]["madoguchi-server.service"]
    assert (server["ActiveState"], server["SubState"]) == ("active", "running"), install
    assert install["user"].startswith("madoguchi-server:"), install["user"]
    boot = _phase(runs, "boot-server")
    server = boot["units"]["madoguchi-server.service"]
    assert (server["ActiveState"], server["SubState"], server["UnitFileState"]) == (
        "active", "running", "enabled",
    ), boot  # fmt: skip
    assert boot["listening"] is True


@pytest.mark.parametrize("role", ["counter", "server"])
def test_purge_leaves_nothing_behind(runs: dict[str, dict[str, Any]], role: str) -> None:
    assert_purged(_phase(runs, f"boot-{role}"))
