"""Runs inside the booted package test container (``madoguchi bench package``).

Started by a oneshot unit after the boot reaches its default target, with Debian's
``/usr/bin/python3.11`` (the fresh root has no madoguchi until the package brings it):
standard library only. ``package_driver.py PHASE ROLE`` writes ``/pkgcheck/out/PHASE-ROLE.json``
and powers the container off.

Phases: ``install`` (``apt install ./<deb>`` to the units enabled and what can run without
a configuration active; the kiosk's provisioning screen without one; then the production
configuration is written) and ``boot`` (the next boot with that configuration: which
units came up by themselves; then ``apt purge`` and whatever is left of madoguchi).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BASE = Path("/pkgcheck")
#: How much slower this system runs than a native one: the arm64 root boots under qemu-user
#: (tests/systemd/test_package_arm64.py), so every wait is stretched by this factor.
SCALE = float(os.environ.get("PKGCHECK_TIME_SCALE", "1"))
OUT = BASE / "out"
COUNTER_UNITS = (
    "madoguchi-tui.service",
    "madoguchi-sync.service",
    "madoguchi-sync.path",
    "madoguchi-update.service",
    "madoguchi-update.timer",
)
SERVER_UNITS = ("madoguchi-server.service",)
SERVER_PORT = 8765
#: The users and groups the packages make.
NAMES = ("madoguchi", "madoguchi-server")
COUNTER_CONFIG = """\
# A counter on amd64: a PC/SC reader and the keyboard as the PIN pad.
[reader]
backend = "pcsc"

[keypad]
backend = "keyboard"

[sync]
device_id = "counter-pkg-01"
server_url = "https://127.0.0.1:8765"
"""
SERVER_CONFIG = f"""\
[sync]
server_listen = "127.0.0.1:{SERVER_PORT}"
"""


def sh(*argv: str, timeout: float = 300) -> dict[str, Any]:
    """Run a command; its exit code and the tail of what it printed."""
    try:
        done = subprocess.run(  # noqa: S603 - the driver's own fixed commands
            argv, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"rc": -1, "out": str(exc)}
    return {"rc": done.returncode, "out": (done.stdout + done.stderr)[-4000:]}


def unit_state(unit: str) -> dict[str, str]:
    props = (
        "ActiveState,SubState,Result,UnitFileState,LoadState,NRestarts,ConditionResult,"
        "InactiveExitTimestampMonotonic"
    )
    out = sh("systemctl", "show", unit, "-p", props)["out"]
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_active(unit: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s * SCALE
    while time.monotonic() < deadline:
        if sh("systemctl", "is-active", "--quiet", unit)["rc"] == 0:
            return True
        time.sleep(0.05)
    return False


def journal(unit: str) -> str:
    return str(sh("journalctl", "-b", "-u", unit, "-o", "cat", "--no-pager")["out"])


#: The container has no tty7 and no PAM session for the kiosk: a runtime drop-in (gone at
#: the next boot, never on disk) takes those away, as tests/systemd/nspawn/driver.py does;
#: the unit's command lines stay as the package installed them.
KIOSK_DROPIN = Path("/run/systemd/system/madoguchi-tui.service.d/nspawn.conf")
KIOSK_DROPIN_TEXT = (
    "[Service]\nPAMName=\nTTYPath=\nStandardInput=null\nTTYReset=no\n"
    "TTYVHangup=no\nTTYVTDisallocate=no\nUtmpIdentifier=\nRestart=no\n"
)


#: ... and no panel: cage draws on wlroots' headless output instead (as test_kiosk.py does).
KIOSK_HEADLESS = (
    "Environment=WLR_BACKENDS=headless WLR_HEADLESS_OUTPUTS=1 WLR_RENDERER=pixman"
    " WLR_LIBINPUT_NO_DEVICES=1\n"
)


def start_kiosk(headless: bool = False) -> dict[str, Any]:
    """Start the kiosk unit once (no restarts) and read what it said."""
    KIOSK_DROPIN.parent.mkdir(parents=True, exist_ok=True)
    KIOSK_DROPIN.write_text(KIOSK_DROPIN_TEXT + (KIOSK_HEADLESS if headless else ""))
    sh("systemctl", "daemon-reload")
    sh("systemctl", "stop", "madoguchi-tui.service")
    sh("systemctl", "reset-failed", "madoguchi-tui.service")
    since = sh("date", "+%Y-%m-%d %H:%M:%S")["out"].strip()
    started = sh("systemctl", "start", "madoguchi-tui.service", timeout=120 * SCALE)
    time.sleep(3 * SCALE)
    state = unit_state("madoguchi-tui.service")
    said = sh("journalctl", "-u", "madoguchi-tui.service", "-o", "cat", "--since", since)
    return {"start": started, "state": state, "journal": said["out"]}


def leftovers() -> dict[str, Any]:
    """Everything of madoguchi still on the system after a purge."""
    found = sh(
        "find", "/", "-xdev",
        "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", str(BASE), ")", "-prune",
        "-o", "-path", "/.madoguchi-root", "-prune",  # the cache's own marker (debroot.sh)
        "-o", "-name", "*madoguchi*", "-print",
    )  # fmt: skip
    return {
        "files": sorted(p for p in found["out"].splitlines() if p),
        "units": sh("systemctl", "list-units", "--all", "--no-legend", "madoguchi*")["out"],
        "unit_files": sh("systemctl", "list-unit-files", "--no-legend", "madoguchi*")["out"],
        "users": [
            u for u in ("madoguchi", "madoguchi-server") if sh("getent", "passwd", u)["rc"] == 0
        ],
        "groups": [
            g for g in ("madoguchi", "madoguchi-server") if sh("getent", "group", g)["rc"] == 0
        ],
        "dpkg": sh("dpkg-query", "-W", "-f", "${Package} ${Status}\\n", "madoguchi*")["out"],
    }


def provision_and_watch_sync() -> dict[str, str]:
    """Write the configuration where the provisioning screen writes it (as the kiosk's user)
    and see madoguchi-sync.path start the uploader; then take it away again."""
    provisioned = Path("/var/lib/madoguchi/madoguchi.toml")
    provisioned.write_text(COUNTER_CONFIG)
    shutil.chown(provisioned, "madoguchi", "madoguchi")
    provisioned.chmod(0o600)
    deadline = time.monotonic() + 30 * SCALE
    state = unit_state("madoguchi-sync.service")
    while time.monotonic() < deadline and state.get("InactiveExitTimestampMonotonic", "0") == "0":
        time.sleep(0.2)
        state = unit_state("madoguchi-sync.service")
    sh("systemctl", "stop", "madoguchi-sync.path", "madoguchi-sync.service")
    provisioned.unlink()
    return state


def install(role: str) -> dict[str, Any]:
    package = "madoguchi" if role == "counter" else "madoguchi-server"
    arch = sh("dpkg", "--print-architecture")["out"].strip()
    debs = sorted(glob.glob(str(BASE / "debs" / f"{package}_*_{arch}.deb")))
    result: dict[str, Any] = {"deb": debs}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    os.environ.update(env)
    started = time.monotonic()
    result["apt"] = sh(
        "apt-get", "install", "-y", "--no-install-recommends", *debs, timeout=300 * SCALE
    )
    units = COUNTER_UNITS if role == "counter" else SERVER_UNITS
    if role == "counter":
        # what runs without a configuration: the update timer, started by the postinst
        result["active"] = wait_active("madoguchi-update.timer", 60)
        result["install_s"] = round(time.monotonic() - started, 3)
        # no configuration: the kiosk shows the provisioning screen (first boot), never
        # the demo; drawn on the headless output (no panel here)
        result["kiosk"] = start_kiosk(headless=True)
        result["provisioned"] = Path("/var/lib/madoguchi/madoguchi.toml").exists()
        result["sync_unprovisioned"] = unit_state("madoguchi-sync.service")
        result["sync_after_provisioning"] = provision_and_watch_sync()
        config = COUNTER_CONFIG
    else:
        # IT writes the server's configuration and starts it (the next boots start it)
        Path("/etc/madoguchi").mkdir(exist_ok=True)
        Path("/etc/madoguchi/madoguchi.toml").write_text(SERVER_CONFIG)
        # ... and makes the CA once (a server never makes one by itself: docs/sync.md)
        state = Path("/var/lib/madoguchi-server")
        state.mkdir(mode=0o750, exist_ok=True)
        result["pki_init"] = sh(
            "env", f"MADOGUCHI_STATE_DIR={state}", "madoguchi", "server", "pki", "init"
        )
        sh("chown", "-R", "madoguchi-server:madoguchi-server", str(state))
        result["server_start"] = sh("systemctl", "start", "madoguchi-server.service")
        result["active"] = wait_active("madoguchi-server.service", 60)
        result["install_s"] = round(time.monotonic() - started, 3)
        result["server_journal"] = journal("madoguchi-server.service")[-2000:]
        config = SERVER_CONFIG
    result["units"] = {unit: unit_state(unit) for unit in units}
    result["user"] = sh("getent", "passwd", package)["out"].strip()
    result["current"] = sh("readlink", "/opt/madoguchi/current")["out"].strip()
    result["help"] = sh("madoguchi", "--help", timeout=300 * SCALE)
    result["version"] = sh("madoguchi", "--version", timeout=300 * SCALE)
    Path("/etc/madoguchi").mkdir(exist_ok=True)
    Path("/etc/madoguchi/madoguchi.toml").write_text(config)
    return result


def boot(role: str) -> dict[str, Any]:
    package = "madoguchi" if role == "counter" else "madoguchi-server"
    units = COUNTER_UNITS if role == "counter" else SERVER_UNITS
    result: dict[str, Any] = {}
    if role == "server":
        result["active"] = wait_active("madoguchi-server.service", 60)
        with socket.create_connection(("127.0.0.1", SERVER_PORT), timeout=10):
            result["listening"] = True
    else:
        result["active"] = wait_active("madoguchi-update.timer", 60)
        # with its configuration the kiosk comes up (on a headless output: no panel here)
        result["kiosk"] = start_kiosk(headless=True)
    result["units"] = {unit: unit_state(unit) for unit in units}
    os.environ["DEBIAN_FRONTEND"] = "noninteractive"
    result["purge"] = sh("apt-get", "purge", "-y", package, timeout=300 * SCALE)
    result["left"] = leftovers()
    return result


def main() -> None:
    phase, role = sys.argv[1], sys.argv[2]
    try:
        result = {"ok": True, **(install(role) if phase == "install" else boot(role))}
    except Exception:  # the test reads the traceback
        result = {"ok": False, "error": traceback.format_exc()}
    OUT.joinpath(f"{phase}-{role}.json").write_text(json.dumps(result, indent=1))
    subprocess.run(["systemctl", "poweroff", "--no-block"], check=False)  # noqa: S607


if __name__ == "__main__":
    main()
