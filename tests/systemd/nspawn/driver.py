"""Runs *inside* the nspawn container as a oneshot unit and records what systemd did.

Stdlib only (it drives systemctl, journalctl and the installed ``madoguchi``);
the host-side test (``tests/systemd/test_nspawn.py``) boots the container,
then asserts on the JSON this writes. Each scenario is recorded even when it
fails, so one broken step does not hide the others.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import tomllib
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The development checkout (bound read-only into the container).
#: This checkout, bound where the app's users can read it (the host path may be under
#: /root, which they cannot traverse, or under /tmp, which PrivateTmp= hides).
SHARED_CHECKOUT = Path("/srv/madoguchi-checkout")
#: The development checkout's command (this script runs with its interpreter).
DEV = str(Path(sys.executable).parent / "madoguchi")
CURRENT = "/opt/madoguchi/current/bin/madoguchi"
#: The installed app's interpreter (the dev venv's may not be reachable for other users).
PYTHON = "/opt/madoguchi/current/bin/python"
SYNC = "madoguchi-sync.service"
UPDATE = "madoguchi-update.service"
SERVER = "madoguchi-server.service"
TUI = "madoguchi-tui.service"
#: The counter screen's unit settings that decide who its processes are and what they
#: see of /proc (the boot id among it); :func:`as_the_tui` runs a command under them.
TUI_PROC_VIEW = (
    "User",
    "Group",
    "ProtectKernelTunables",
    "ProtectProc",
    "ProcSubset",
    "PrivateMounts",
    "PrivateUsers",
)
ENV = {**os.environ, "MADOGUCHI_STATE_DIR": "/var/lib/madoguchi"}
SERVER_ENV = {**os.environ, "MADOGUCHI_STATE_DIR": "/var/lib/madoguchi-server"}
#: What IT's ``madoguchi server pki init`` makes before the server's first start (``[sync]
#: server_pki_dir`` unset; a server never makes a CA by itself).
SERVER_CA = "/var/lib/madoguchi-server/server-pki/ca.crt"
#: A world-readable copy for the device's enrolment (IT hands the CA to the counter).
DEVICE_CA = "/run/madoguchi-test-ca.crt"
TLS_DIR = "/var/lib/madoguchi/sync"
#: The business date of the test transaction (JST), and its office.
DAY, OFFICE = "2026-11-25", "131016"
#: IT's publish token (the server reads it from here, IT's commands too).
PUBLISH_TOKEN = "/etc/madoguchi/publish.token"

results: dict[str, Any] = {}


def run(
    *argv: str, timeout: float = 300, env: dict[str, str] | None = None, user: str | None = None
) -> dict[str, Any]:
    """Run a command, as root or (no runuser: a volatile /etc has no PAM) as ``user``."""
    as_user: dict[str, Any] = {}
    if user is not None:
        as_user = {"user": user, "group": user, "extra_groups": [], "cwd": "/"}
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or ENV,
        check=False,
        **as_user,
    )
    return {"rc": proc.returncode, "out": proc.stdout[-30000:], "err": proc.stderr[-3000:]}


def https_get(port: int, path: str, *, device_cert: bool) -> dict[str, Any]:
    """GET over TLS that trusts only the server's CA, with or without the device's certificate."""
    context = ssl.create_default_context(cafile=SERVER_CA)
    if device_cert:
        context.load_cert_chain(f"{TLS_DIR}/device.crt", f"{TLS_DIR}/device.key")
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    try:
        doc: Any = json.loads(body)
    except ValueError:
        doc = body[:2000]
    return {"status": response.status, "body": doc}


def server_port() -> int:
    """The port of ``[sync] server_listen`` in the counter's configuration."""
    with open("/etc/madoguchi/madoguchi.toml", "rb") as fh:
        listen: str = tomllib.load(fh)["sync"]["server_listen"]
    return int(listen.rpartition(":")[2])


def show(unit: str) -> dict[str, str]:
    props = ["ActiveState", "SubState", "MainPID", "NRestarts", "StatusText", "Result", "User"]
    out = subprocess.run(
        ["systemctl", "show", unit, *(f"--property={p}" for p in props)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def as_the_tui(*argv: str) -> dict[str, Any]:
    """Run ``argv`` as the counter screen would see the system: its unit's user and /proc
    view (:data:`TUI_PROC_VIEW`, read from the installed unit), in a transient unit."""
    out = subprocess.run(
        ["systemctl", "show", TUI, *(f"--property={p}" for p in TUI_PROC_VIEW)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    props = [line for line in out.splitlines() if "=" in line and not line.endswith("=")]
    result = run(
        "systemd-run",
        "--wait",
        "--pipe",
        "--quiet",
        "--collect",
        *(f"--property={p}" for p in props),
        "--setenv=MADOGUCHI_STATE_DIR=/var/lib/madoguchi",
        *argv,
    )
    result["properties"] = props
    return result


def tui_view() -> dict[str, Any]:
    """The boot id the counter screen reads, and whether it would ask for the date."""
    boot = as_the_tui(
        PYTHON, "-c", "from device.store import current_boot_id; print(current_boot_id())"
    )
    status = as_the_tui(CURRENT, "sync", "status")
    try:
        doc: Any = json.loads(status["out"])
    except ValueError:
        doc = {"error": status}
    return {**boot, "boot_id": boot["out"].strip(), "status": doc}


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


def restarted_after(unit: str, before: dict[str, str]) -> Callable[[], bool]:
    """True once ``unit`` is active again with another main process."""

    def check() -> bool:
        now = show(unit)
        return now["ActiveState"] == "active" and now["MainPID"] not in ("0", before["MainPID"])

    return check


def main_pid(state: dict[str, str]) -> int:
    """The unit's main process; never 0 (``kill(0, …)`` would hit this driver's group)."""
    pid = int(state.get("MainPID", "0"))
    if pid <= 0:
        raise RuntimeError(f"no main process: {state}")
    return pid


def kill_9(unit: str) -> dict[str, Any]:
    """``kill -9`` of the unit's main process, then wait for systemd to restart it."""
    before = show(unit)
    os.kill(main_pid(before), signal.SIGKILL)
    return {
        "before": before,
        "recovered_after_s": wait_for(restarted_after(unit, before), 30),
        "after": show(unit),
    }


def hang(unit: str) -> dict[str, Any]:
    """SIGSTOP: alive but silent. Only the watchdog can notice."""
    before = show(unit)
    os.kill(main_pid(before), signal.SIGSTOP)
    recovered = wait_for(restarted_after(unit, before), 40)
    journal = run("journalctl", "-u", unit, "--no-pager", "-o", "cat")["out"]
    return {
        "before": before,
        "recovered_after_s": recovered,
        "after": show(unit),
        "watchdog_logged": "watchdog timeout" in journal.lower(),
    }


def record_transaction() -> dict[str, Any]:
    """Write one completed procedure to the device store, as the app (the TUI) would."""
    # The installed app's device package; the record itself is the sync tests' realistic one.
    code = f"""
import sys
sys.path.append({str(SHARED_CHECKOUT)!r})
from device.store import Store
from madoguchi.config import load_config
from tests.sync.sync_support import make_record
record = make_record(1, office={OFFICE!r}, day={DAY!r})
with Store(load_config().store.resolved_path()) as store:
    print(store.record_transaction(record), record.transaction_id)
"""
    return run(PYTHON, "-c", code, user="madoguchi")


def sync_status() -> dict[str, Any]:
    result = run(CURRENT, "sync", "status", user="madoguchi")
    try:
        data: dict[str, Any] = json.loads(result["out"])
    except ValueError:
        return {"error": result}
    return data


def it_update(*argv: str, token: str = PUBLISH_TOKEN) -> dict[str, Any]:
    """One of IT's ``madoguchi update`` commands against the central server's /updates."""
    return run(
        DEV,
        "update",
        *argv,
        "--server",
        f"https://127.0.0.1:{server_port()}/updates",
        "--token-file",
        token,
        "--server-ca",
        SERVER_CA,
    )


def main() -> None:
    results["boot"] = {"ok": True, "users": run("getent", "passwd", "madoguchi")}
    save()

    @scenario("server_pki")
    def _() -> dict[str, Any]:
        # IT makes the CA once, before the server's first start, and hands the state
        # directory to the server's user.
        state = Path(SERVER_CA).parents[1]
        state.mkdir(mode=0o750, exist_ok=True)
        made = run(DEV, "server", "pki", "init", env=SERVER_ENV)
        run("chown", "-R", "madoguchi-server:madoguchi-server", str(state))
        return {"init": made}

    @scenario("install")
    def _() -> dict[str, Any]:
        # The first install is itself an update: from nothing to 1.0.0, under systemd. On
        # this host it health-checks the central server (first.toml): the counter's
        # uploader cannot be ready before the device is enrolled with that server.
        first = {**ENV, "MADOGUCHI_CONFIG": "/etc/madoguchi/first.toml"}
        applied = run(DEV, "update", "apply", "/bundles/madoguchi-1.0.0.bundle", env=first)
        return {"apply": applied, "status": update_status(), "server": show(SERVER)}

    @scenario("server_ready")
    def _() -> dict[str, Any]:
        # `systemctl restart` returns when the server sent READY=1: it must accept a
        # connection at once, without a retry, or READY came before it listened.
        restarted = run("systemctl", "restart", SERVER)
        try:
            with socket.create_connection(("127.0.0.1", server_port()), timeout=5):
                connected: str | bool = True
        except OSError as exc:
            connected = repr(exc)
        state = show(SERVER)
        return {
            "restart": restarted,
            "connected_at_ready": connected,
            "server": state,
            "process": proc_info(state.get("MainPID", "0")),
        }

    @scenario("server_answers")
    def _() -> dict[str, Any]:
        # Mutual TLS on loopback: TLS verified against the server's CA; without a
        # client certificate, everything but enrolment is refused.
        return {"time": https_get(server_port(), "/v1/time", device_cert=False)}

    @scenario("sync_unenrolled")
    def _() -> dict[str, Any]:
        # Not enrolled yet: the uploader must not report READY, so the start fails.
        started = run("systemctl", "start", SYNC, timeout=90)
        state = show(SYNC)
        run("systemctl", "stop", SYNC)
        run("systemctl", "reset-failed", SYNC)
        journal = run("journalctl", "-u", SYNC, "--no-pager", "-o", "cat")["out"]
        return {"start": started, "sync": state, "journal": journal[-3000:]}

    @scenario("enrol")
    def _() -> dict[str, Any]:
        # The server admin's steps, then the device's; keys are made here, at test time.
        server_before = show(SERVER)
        token = run(
            CURRENT,
            "server",
            "enrol-token",
            "--device-id",
            "counter-01",
            "--office",
            OFFICE,
            env=SERVER_ENV,
            user="madoguchi-server",
        )
        Path(DEVICE_CA).write_bytes(Path(SERVER_CA).read_bytes())
        os.chmod(DEVICE_CA, 0o644)
        enrolled = run(
            CURRENT,
            "device",
            "enroll",
            "--token",
            token["out"].strip(),
            "--server-ca",
            DEVICE_CA,
            user="madoguchi",
        )
        key = Path(f"{TLS_DIR}/device.key")
        key_mode = oct(key.stat().st_mode & 0o777) if key.exists() else "missing"
        server_after = show(SERVER)
        return {
            "token": token,
            "enroll": enrolled,
            # when enrolment fails, whether the server was restarted meanwhile, and why
            "server_before": server_before,
            "server_after": server_after,
            "server_journal": run("journalctl", "-u", SERVER, "--no-pager", "-o", "cat")["out"][
                -4000:
            ]
            if enrolled["rc"] != 0 or token["rc"] != 0
            else "",
            "key_mode": key_mode,
            "me": https_get(server_port(), "/v1/devices/me", device_cert=True)
            if key.exists()
            else None,
        }

    @scenario("ready")
    def _() -> dict[str, Any]:
        started = run("systemctl", "start", SYNC, timeout=90)
        state = show(SYNC)
        return {"start": started, "sync": state, "process": proc_info(state.get("MainPID", "0"))}

    @scenario("kill9")
    def _() -> dict[str, Any]:
        return kill_9(SYNC)

    @scenario("watchdog")
    def _() -> dict[str, Any]:
        return hang(SYNC)

    @scenario("server_kill9")
    def _() -> dict[str, Any]:
        return kill_9(SERVER)

    @scenario("server_watchdog")
    def _() -> dict[str, Any]:
        return hang(SERVER)

    @scenario("upload")
    def _() -> dict[str, Any]:
        # A completed procedure in the device store reaches the server's daily report
        # through the real uploader and the real server, both under their units.
        written = record_transaction()
        drained = wait_for(
            lambda: (
                sync_status().get("queue_length") == 0 and sync_status().get("last_error") is None
            ),
            45,
        )
        report = run(
            CURRENT,
            "server",
            "report",
            "--date",
            DAY,
            "--office",
            OFFICE,
            env=SERVER_ENV,
            user="madoguchi-server",
        )
        try:
            offline: Any = json.loads(report["out"])
        except ValueError:
            offline = report
        return {
            "written": written,
            "drained_after_s": drained,
            "status": sync_status(),
            "report": offline,
            "report_http": https_get(
                server_port(), f"/v1/reports/daily?date={DAY}&office={OFFICE}", device_cert=True
            ),
            "sync": show(SYNC),
            "server": show(SERVER),
            "tui_view": tui_view(),
        }

    @scenario("journal_fields")
    def _() -> dict[str, Any]:
        out = run("journalctl", "MADOGUCHI_COMPONENT=sync", "-o", "json", "--no-pager", "-n", "5")
        entries = [json.loads(line) for line in out["out"].splitlines() if line.strip()]
        # A unit whose stderr is the journal (systemd sets $JOURNAL_STREAM) logs natively:
        # priorities per level and the device's id as fields (madoguchi/logs.py).
        probe = (
            "import logging\n"
            "from madoguchi.logs import log_fields, setup_logging\n"
            "setup_logging('sync', level=logging.INFO)\n"
            "with log_fields(device_id='counter-01'):\n"
            "    logging.getLogger('probe').info('probe info')\n"
            "    logging.getLogger('probe').error('probe error', extra={'transaction_id': 't-1'})\n"
        )
        run("systemd-run", "--wait", "--quiet", "--collect", "--unit=madoguchi-log-probe",
            "--property=StandardError=journal", PYTHON, "-c", probe)
        # The screen's own process (no stderr to the journal: it draws in foot) under a unit.
        screen = (
            "import logging, pathlib\n"
            "from madoguchi.logs import log_to_file_or_journal\n"
            "print(log_to_file_or_journal(pathlib.Path('/run/madoguchi-screen.log')))\n"
            "logging.getLogger('tui.probe').warning('screen probe')\n"
        )
        screen_run = run("systemd-run", "--wait", "--pipe", "--quiet", "--collect",
                         "--unit=madoguchi-screen-probe", PYTHON, "-c", screen)
        run("journalctl", "--sync")
        probes = run("journalctl", "LOGGER=probe", "+", "LOGGER=tui.probe", "-o", "json",
                     "--no-pager")
        status_text = ""

        def status_shown() -> bool:
            nonlocal status_text
            status_text = show(SYNC)["StatusText"]
            return status_text.startswith("0 waiting, 0 quarantined; last upload 20")

        wait_for(status_shown, 15)
        return {
            "status_text": status_text,
            "screen_log_file": screen_run["out"].strip(),
            "probes": [
                {k: e.get(k) for k in ("MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER",
                                       "MADOGUCHI_COMPONENT", "MADOGUCHI_DEVICE_ID",
                                       "MADOGUCHI_TRANSACTION_ID", "_SYSTEMD_UNIT")}
                for e in (json.loads(line) for line in probes["out"].splitlines() if line.strip())
            ],
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

    @scenario("publish")
    def _() -> dict[str, Any]:
        # IT's side: its bundles go to the central server with its token, over TLS that
        # trusts the server's CA. Devices need their certificate to see them.
        wrong = Path("/run/madoguchi-test-wrong.token")
        wrong.write_text("not-the-publish-token\n")
        result: dict[str, Any] = {
            "without_token": it_update(
                "publish", "/bundles/madoguchi-1.1.0.bundle", "--channel", "dev", token=str(wrong)
            )
        }
        for channel, version in (("stable", "1.1.0"), ("canary", "1.2.0"), ("next", "1.3.0")):
            result[channel] = it_update(
                "publish", f"/bundles/madoguchi-{version}.bundle", "--channel", channel
            )
        latest = "/updates/releases/stable/latest"
        result["latest_without_cert"] = https_get(server_port(), latest, device_cert=False)
        result["latest_with_cert"] = https_get(server_port(), latest, device_cert=True)
        return result

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
        downloads = sorted(os.listdir("/var/lib/madoguchi-update/downloads"))
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

    @scenario("kiosk_without_config")
    def _() -> dict[str, Any]:
        # The kiosk unit on a counter whose configuration is missing: its ExecStartPre
        # (`madoguchi counter --check`) refuses, in one sentence, into the journal, and the
        # screen never starts on the demo defaults. The container has no tty7 and no PAM,
        # so a drop-in takes those away; the unit's command lines stay as installed.
        dropin = Path(f"/run/systemd/system/{TUI}.d")
        dropin.mkdir(parents=True, exist_ok=True)
        # /etc/madoguchi is bound read-only and this systemd cannot give a unit a mount
        # namespace (TemporaryFileSystem= was ignored), so the configuration the unit is
        # pointed at is one that does not exist: the same refusal path (load_config).
        (dropin / "nspawn.conf").write_text(
            "[Service]\nPAMName=\nTTYPath=\nStandardInput=null\nTTYReset=no\n"
            "TTYVHangup=no\nTTYVTDisallocate=no\nUtmpIdentifier=\nRestart=no\n"
            "Environment=MADOGUCHI_CONFIG=/etc/madoguchi/never-written.toml\n"
        )
        before = show(TUI)  # the kiosk may be coming up (or failing: no tty7) since boot
        run("systemctl", "stop", TUI)
        run("systemctl", "reset-failed", TUI)
        since = run("date", "+%Y-%m-%d %H:%M:%S")["out"].strip()
        try:
            run("systemctl", "daemon-reload")
            started = run("systemctl", "start", TUI)
            state = show(TUI)
            status = run("systemctl", "status", "--no-pager", "-l", TUI)
            journal = run("journalctl", "--no-pager", "-o", "cat", "-u", TUI, "--since", since)
        finally:
            run("systemctl", "reset-failed", TUI)
            (dropin / "nspawn.conf").unlink()
            run("systemctl", "daemon-reload")
        return {"before": before, "start": started, "state": state, "status": status["out"][-3000:],
                "journal": journal["out"][-4000:]}

    results["done"] = {
        "ok": True,
        "sync": show(SYNC),
        "server": show(SERVER),
        # what the counter reported, as IT sees it on the central server
        "fleet": it_update("fleet", "--json"),
    }

    @scenario("server_workers")
    def _() -> dict[str, Any]:
        # After "done" (it restarts the server): `--workers 2` under the real unit (its
        # watchdog shortened to 3 s): a worker whose event loop hangs is replaced by the
        # supervisor; systemd sees a healthy service.
        dropin = Path(f"/run/systemd/system/{SERVER}.d")
        dropin.mkdir(parents=True, exist_ok=True)
        (dropin / "workers.conf").write_text(
            f"[Service]\nExecStart=\nExecStart={CURRENT} server run --workers 2\n"
        )

        def workers() -> list[int]:
            found = re.search(r"workers serving \(pids ([\d, ]+)\)", show(SERVER)["StatusText"])
            return [int(p) for p in found.group(1).split(", ")] if found else []

        try:
            run("systemctl", "daemon-reload")
            restarted = run("systemctl", "restart", SERVER, timeout=90)
            wait_for(lambda: len(workers()) == 2, 30)
            before, pids = show(SERVER), workers()
            if len(pids) != 2:
                return {"restart": restarted, "before": before, "pids": pids}
            hung, other = pids
            os.kill(hung, signal.SIGSTOP)
            replaced = wait_for(lambda: hung not in workers() and len(workers()) == 2, 20)
            time.sleep(4)  # longer than WatchdogSec=: systemd would have acted by now
            after = show(SERVER)
            answers = [https_get(server_port(), "/healthz", device_cert=False)["status"]
                       for _ in range(4)]  # fmt: skip
            journal = run("journalctl", "-u", SERVER, "--no-pager", "-o", "cat")["out"]
            return {
                "restart": restarted,
                "before": before,
                "after": after,
                "hung": hung,
                "replaced_after_s": replaced,
                "other_kept": other in workers(),
                "answers": answers,
                "logged": f"server worker {hung}: its event loop has not turned" in journal,
            }
        finally:
            (dropin / "workers.conf").unlink()
            run("systemctl", "daemon-reload")
            run("systemctl", "restart", SERVER, timeout=90)
    save()


def dump_journal() -> None:
    journal = run(
        "journalctl", "--no-pager", "-o", "short-monotonic", "-u", SYNC, "-u", UPDATE, "-u", SERVER
    )
    results["journal"] = journal["out"][-20000:]


if __name__ == "__main__":
    try:
        main()
    finally:
        dump_journal()
        save()
