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
    server_pki: Path, tmp_path: Path
) -> None:
    """`madoguchi sync run` as systemd would run it: READY=1 once the loop runs,
    WATCHDOG=1 while it works, records uploaded, a clean exit on SIGTERM."""
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
    try:
        server.enrol(state / "sync")
        config = tmp_path / "madoguchi.toml"
        config.write_text(f'[sync]\nserver_url = "{server.url}"\n', encoding="utf-8")
        env = {
            **os.environ,
            "PYTHONPATH": PYTHONPATH,
            "MADOGUCHI_CONFIG": str(config),
            "NOTIFY_SOCKET": str(notify_path),
        }
        daemon = subprocess.Popen(
            [sys.executable, "-m", "madoguchi.cli", "sync", "run"], cwd=ROOT, env=env
        )
        messages = {listener.recv(256).decode()}
        assert "READY=1" in messages
        with Store(state / "madoguchi.sqlite3") as store:
            for i in range(5):
                store.record_transaction(make_record(i))
            deadline = time.monotonic() + 15
            while store.queue_length() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert store.queue_length() == 0
        messages.add(listener.recv(256).decode())
        assert "WATCHDOG=1" in messages
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
        listener.close()
        server.stop()
