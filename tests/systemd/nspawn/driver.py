"""Runs *inside* the nspawn container as a oneshot unit and records what systemd did.

Stdlib only (it drives systemctl, journalctl and the installed ``madoguchi``);
the host-side test (``tests/systemd/test_nspawn.py``) boots the container,
then asserts on the JSON this writes. Each scenario is recorded even when it
fails, so one broken step does not hide the others.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The development checkout's command (this script runs with its interpreter).
DEV = str(Path(sys.executable).parent / "madoguchi")
CURRENT = "/opt/madoguchi/current/bin/madoguchi"
#: The installed app's interpreter (the dev venv's may not be reachable for other users).
PYTHON = "/opt/madoguchi/current/bin/python"
SYNC = "madoguchi-sync.service"
UPDATE = "madoguchi-update.service"
SERVER = "madoguchi-server.service"
ENV = {**os.environ, "MADOGUCHI_STATE_DIR": "/var/lib/madoguchi"}

results: dict[str, Any] = {}


def run(*argv: str, timeout: float = 300, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env or ENV, check=False
    )
    return {"rc": proc.returncode, "out": proc.stdout[-30000:], "err": proc.stderr[-3000:]}


def show(unit: str) -> dict[str, str]:
    props = ["ActiveState", "SubState", "MainPID", "NRestarts", "StatusText", "Result", "User"]
    out = subprocess.run(
        ["systemctl", "show", unit, *(f"--property={p}" for p in props)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_for(pred: Callable[[], bool], timeout: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def proc_info(pid: str) -> dict[str, Any]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError as exc:
        return {"error": str(exc)}
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    return {"uid": int(uid), "cmdline": [c.decode() for c in cmdline if c]}


def update_status() -> dict[str, Any]:
    result = run(CURRENT, "update", "status", "--json")
    try:
        data: dict[str, Any] = json.loads(result["out"])
    except ValueError:
        return {"error": result}
    return data


def scenario(name: str) -> Callable[[Callable[[], dict[str, Any]]], None]:
    def wrap(func: Callable[[], dict[str, Any]]) -> None:
        started = time.monotonic()
        try:
            results[name] = {"ok": True, **func()}
        except Exception:
            results[name] = {"ok": False, "error": traceback.format_exc()}
        results[name]["seconds"] = round(time.monotonic() - started, 2)
        save()

    return wrap


def save() -> None:
    Path(sys.argv[1]).write_text(json.dumps(results, indent=1, sort_keys=True))


def use_config(name: str) -> None:
    dropin = Path(f"/run/systemd/system/{UPDATE}.d")
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "config.conf").write_text(
        f"[Service]\nEnvironment=MADOGUCHI_CONFIG=/etc/madoguchi/{name}.toml\n"
    )
    subprocess.run(["systemctl", "daemon-reload"], check=True)


def timer_run(channel: str) -> dict[str, Any]:
    """What the timer does, on ``channel``; then the state of the app's daemon."""
    use_config(channel)
    started = run("systemctl", "start", UPDATE)
    wait_for(lambda: show(SYNC)["ActiveState"] == "active", 30)
    sync = show(SYNC)
    return {
        "start": started,
        "update": show(UPDATE),
        "status": update_status(),
        "sync": sync,
        "process": proc_info(sync.get("MainPID", "0")),
    }


def restarted_after(before: dict[str, str]) -> Callable[[], bool]:
    """True once the unit is active again with another main process."""

    def check() -> bool:
        now = show(SYNC)
        return now["ActiveState"] == "active" and now["MainPID"] not in ("0", before["MainPID"])

    return check


def main() -> None:
    results["boot"] = {"ok": True, "users": run("getent", "passwd", "madoguchi")}
    save()

    @scenario("install")
    def _() -> dict[str, Any]:
        # The first install is itself an update: from nothing to 1.0.0, under systemd.
        applied = run(DEV, "update", "apply", "/bundles/madoguchi-1.0.0.bundle")
        return {"apply": applied, "status": update_status(), "sync": show(SYNC)}

    @scenario("ready")
    def _() -> dict[str, Any]:
        state = show(SYNC)
        return {"sync": state, "process": proc_info(state.get("MainPID", "0"))}

    @scenario("kill9")
    def _() -> dict[str, Any]:
        before = show(SYNC)
        os.kill(int(before["MainPID"]), signal.SIGKILL)

        return {
            "before": before,
            "recovered_after_s": wait_for(restarted_after(before), 30),
            "after": show(SYNC),
        }

    @scenario("watchdog")
    def _() -> dict[str, Any]:
        before = show(SYNC)
        # A hung daemon: alive but silent. Only the watchdog can notice.
        os.kill(int(before["MainPID"]), signal.SIGSTOP)

        recovered = wait_for(restarted_after(before), 40)
        journal = run("journalctl", "-u", SYNC, "--no-pager", "-o", "cat")["out"]
        return {
            "before": before,
            "recovered_after_s": recovered,
            "after": show(SYNC),
            "watchdog_logged": "watchdog timeout" in journal.lower(),
        }

    @scenario("server_ready")
    def _() -> dict[str, Any]:
        started = run("systemctl", "start", SERVER)
        state = show(SERVER)
        return {"start": started, "server": state, "process": proc_info(state.get("MainPID", "0"))}

    @scenario("journal_fields")
    def _() -> dict[str, Any]:
        out = run("journalctl", "MADOGUCHI_COMPONENT=sync", "-o", "json", "--no-pager", "-n", "5")
        entries = [json.loads(line) for line in out["out"].splitlines() if line.strip()]
        return {
            "entries": [
                {
                    k: e.get(k)
                    for k in (
                        "SYSLOG_IDENTIFIER",
                        "MADOGUCHI_COMPONENT",
                        "MESSAGE",
                        "_SYSTEMD_UNIT",
                    )
                }
                for e in entries
            ]
        }

    @scenario("update_ok")
    def _() -> dict[str, Any]:
        return timer_run("stable")

    @scenario("update_bad")
    def _() -> dict[str, Any]:
        return timer_run("canary")

    @scenario("deferred")
    def _() -> dict[str, Any]:
        use_config("next")
        holder = subprocess.Popen(
            [
                PYTHON,
                "-c",
                "import sys, time\n"
                "from updater.lock import transaction_guard\n"
                "with transaction_guard():\n"
                "    print('holding', flush=True); time.sleep(300)\n",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            # as the app: the TUI holds the lock (no runuser: a volatile /etc has no PAM)
            user="madoguchi",
            group="madoguchi",
            extra_groups=[],
            cwd="/",
        )
        assert holder.stdout is not None
        holding = holder.stdout.readline().strip()
        if not holding:
            assert holder.stderr is not None
            raise RuntimeError(f"lock holder failed: {holder.stderr.read()}")
        while_open = run("systemctl", "start", UPDATE)
        status_open = update_status()
        downloads = sorted(os.listdir("/var/lib/madoguchi/update/downloads"))
        holder.terminate()
        holder.wait(10)
        after = run("systemctl", "start", UPDATE)
        return {
            "holding": holding,
            "while_open": while_open,
            "status_open": status_open,
            "downloads": downloads,
            "after_close": after,
            "status_after": update_status(),
            "sync": show(SYNC),
        }

    results["done"] = {"ok": True}
    save()


def dump_journal() -> None:
    journal = run("journalctl", "--no-pager", "-o", "short-monotonic", "-u", SYNC, "-u", UPDATE)
    results["journal"] = journal["out"][-20000:]


if __name__ == "__main__":
    try:
        main()
    finally:
        dump_journal()
        save()
