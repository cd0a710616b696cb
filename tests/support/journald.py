"""A real systemd-journald for a test: a journal namespace of its own.

``systemd-journald NAMESPACE`` (systemd >= 245) listens on
``/run/systemd/journal.NAMESPACE/socket`` and writes its own files, which
``journalctl --namespace=NAMESPACE`` reads; the host's journal (if any) is not
touched. The fixture starts one per test, stops it by its PID and removes its
files. Needs root, as the test run has (CI runs as root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

JOURNALD = Path("/lib/systemd/systemd-journald")


@dataclass
class Journal:
    """A running journald namespace."""

    namespace: str
    socket: Path

    def entries(
        self, *matches: str, want: int = 1, timeout_s: float = 10.0
    ) -> list[dict[str, Any]]:
        """The entries matching ``FIELD=value`` ``matches``, once at least ``want`` exist."""
        deadline = time.monotonic() + timeout_s
        while True:
            out = subprocess.run(
                ["journalctl", f"--namespace={self.namespace}", "-o", "json", "--all", "--no-pager",
                 *matches],
                capture_output=True, text=True, check=False, timeout=30,
            ).stdout
            found = [json.loads(line) for line in out.splitlines() if line.strip()]
            if len(found) >= want or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@pytest.fixture
def journald() -> Iterator[Journal]:
    """A journald of this test's own (a namespace), stopped and removed afterwards."""
    assert JOURNALD.exists(), f"{JOURNALD} is missing: scripts/lib/bootstrap.sh installs systemd"
    assert os.geteuid() == 0, "journald needs root (the test run is root, as CI is)"
    namespace = f"madoguchi-test-{uuid.uuid4().hex[:10]}"
    run_dir = Path(f"/run/systemd/journal.{namespace}")
    machine_id = Path("/etc/machine-id").read_text().strip()
    stores = [Path(f"/var/log/journal/{machine_id}.{namespace}"),
              Path(f"/run/log/journal/{machine_id}.{namespace}")]
    proc = subprocess.Popen([str(JOURNALD), namespace], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not (run_dir / "socket").exists():
            assert proc.poll() is None, "systemd-journald exited at start"
            assert time.monotonic() < deadline, "systemd-journald made no socket"
            time.sleep(0.05)
        yield Journal(namespace, run_dir / "socket")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(run_dir, ignore_errors=True)
        for store in stores:
            shutil.rmtree(store, ignore_errors=True)
