"""The commands end to end: enrol-token → device enroll → transactions → sync run
--once → sync status → server report (real processes, real files)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from device.store import Store
from sync import pki
from tests.support.journald import Journal
from tests.sync.conftest import PYTHONPATH, ROOT, ServerProcess
from tests.sync.sync_support import make_record


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": PYTHONPATH, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_enrol_upload_status_and_report_through_the_cli(server_pki: Path, tmp_path: Path) -> None:
    state = Path(os.environ["MADOGUCHI_STATE_DIR"])  # private per test (tests/conftest.py)
    db = str(tmp_path / "server.sqlite3")
    server = ServerProcess(db, server_pki)
    server.start()
    try:
        config = tmp_path / "madoguchi.toml"
        config.write_text(f'[sync]\nserver_url = "{server.url}"\n', encoding="utf-8")
        env = {"MADOGUCHI_CONFIG": str(config), "MADOGUCHI_STATE_DIR": str(state)}
        token = _cli(
            "server",
            "enrol-token",
            "--db",
            db,
            "--device-id",
            "counter-7",
            "--office",
            "131016",
            env=env,
        )
        assert token.returncode == 0, token.stderr
        enrolled = _cli(
            "device",
            "enroll",
            "--token",
            token.stdout.strip(),
            "--server-ca",
            str(server_pki / pki.CA_CERT),
            env=env,
        )
        assert enrolled.returncode == 0, enrolled.stderr
        assert "counter-7" in enrolled.stdout
        assert (state / "sync" / "device.key").stat().st_mode & 0o077 == 0
        again = _cli(
            "device",
            "enroll",
            "--token",
            token.stdout.strip(),
            "--server-ca",
            str(server_pki / pki.CA_CERT),
            env=env,
        )
        assert again.returncode == 2
        assert "already used" in again.stderr
        with Store(state / "madoguchi.sqlite3") as store:
            for i in range(25):
                store.record_transaction(make_record(i))
        sent = _cli("sync", "run", "--once", env=env)
        assert sent.returncode == 0, sent.stderr
        assert "25 record(s) acknowledged; 0 waiting" in sent.stdout
        status = json.loads(_cli("sync", "status", env=env).stdout)
        assert status["queue_length"] == 0
        assert status["last_error"] is None
        assert status["date_needs_confirmation"] is False
        report = _cli(
            "server", "report", "--db", db, "--date", "2026-11-25", "--format", "csv", env=env
        )
        rows = list(csv.DictReader(io.StringIO(report.stdout)))
        assert {r["certificate_type"]: int(r["issued"]) for r in rows} == {"auth": 25, "sign": 25}
        revoked = _cli("server", "revoke-device", "--db", db, "counter-7", env=env)
        assert revoked.returncode == 0
        with Store(state / "madoguchi.sqlite3") as store:
            store.record_transaction(make_record(99))
        refused = _cli("sync", "run", "--once", env=env)
        assert refused.returncode == 1
        status = json.loads(_cli("sync", "status", env=env).stdout)
        assert status["device_revoked"] is True
        assert status["queue_length"] == 1
    finally:
        server.stop()


def test_sync_run_daemon_notifies_systemd_uploads_and_stops_on_sigterm(
    server_pki: Path, tmp_path: Path, journald: Journal
) -> None:
    """`madoguchi sync run` as systemd would run it: READY=1 once the loop runs,
    WATCHDOG=1 while it works with its backlog as STATUS=, records uploaded, its
    warnings in the journal (a real journald) at warning priority with the device's id,
    a clean exit on SIGTERM."""
    import signal
    import socket
    import time

    state = Path(os.environ["MADOGUCHI_STATE_DIR"])
    db = str(tmp_path / "server.sqlite3")
    server = ServerProcess(db, server_pki)
    server.start()
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(15)
    daemon = None
    stderr = (tmp_path / "stderr").open("w")

    def status_until(wanted: str) -> list[str]:
        seen: list[str] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            seen.append(listener.recv(4096).decode())
            if any(wanted in line for line in seen[-1].splitlines()):
                return seen
        raise AssertionError(f"no {wanted!r} in {seen[-5:]}")

    try:
        device = server.enrol(state / "sync")
        config = tmp_path / "madoguchi.toml"
        config.write_text(
            f'[sync]\nserver_url = "{server.url}"\ndevice_id = "{device}"\n'
            "backoff_base_s = 0.2\nbackoff_cap_s = 0.5\n",
            encoding="utf-8",
        )
        st = os.fstat(stderr.fileno())
        env = {
            **os.environ,
            "PYTHONPATH": PYTHONPATH,
            "MADOGUCHI_CONFIG": str(config),
            "NOTIFY_SOCKET": str(notify_path),
            # what systemd gives a unit whose stderr is the journal
            "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}",
            "MADOGUCHI_JOURNAL_SOCKET": str(journald.socket),
        }
        daemon = subprocess.Popen(
            [sys.executable, "-m", "madoguchi.cli", "sync", "run"], cwd=ROOT, env=env,
            stderr=stderr,
        )
        assert "READY=1" in listener.recv(256).decode()
        with Store(state / "madoguchi.sqlite3") as store:
            for i in range(5):
                store.record_transaction(make_record(i))
            deadline = time.monotonic() + 15
            while store.queue_length() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert store.queue_length() == 0
        seen = status_until("STATUS=0 waiting, 0 quarantined; last upload 20")
        assert any(m.splitlines()[0] == "WATCHDOG=1" for m in seen)
        # The server goes away: the backlog and the retry show in STATUS=, the warning
        # in the journal at priority 4 with the device's id.
        server.stop()
        with Store(state / "madoguchi.sqlite3") as store:
            store.record_transaction(make_record(5))
        status_until("STATUS=1 waiting, 0 quarantined; last upload 20")
        warning = journald.entries("MADOGUCHI_COMPONENT=sync", "PRIORITY=4")[0]
        assert warning["MESSAGE"].startswith("upload failed, will retry")
        assert warning["MADOGUCHI_DEVICE_ID"] == device
        assert warning["SYSLOG_IDENTIFIER"] == "madoguchi-sync"
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
        listener.close()
        stderr.close()
        server.stop()
