"""The benchmarks' CPU readings from ``/proc`` (madoguchi/bench/procstat.py), checked
against a real child that burns a known amount of CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from madoguchi.bench.procstat import children_of, cpu_seconds, machine_busy_seconds

_BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"


def test_a_burning_child_is_seen_as_child_then_as_reaped_cpu() -> None:
    own_before = cpu_seconds(os.getpid(), children=True)
    busy_before = machine_busy_seconds()
    child = subprocess.Popen([sys.executable, "-c", _BURN + "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while cpu_seconds(child.pid) < 0.4:
            assert time.monotonic() < deadline, "the child's CPU time never reached its burn"
            time.sleep(0.05)
        assert child.pid in children_of(os.getpid())
        assert cpu_seconds(child.pid) < 5  # seconds, not ticks
    finally:
        child.kill()
        child.wait()
    assert child.pid not in children_of(os.getpid())
    assert cpu_seconds(child.pid) == 0.0  # gone: nothing to read
    # reaped, its time counts as this process's children's
    assert cpu_seconds(os.getpid(), children=True) - own_before >= 0.35
    assert cpu_seconds(os.getpid()) <= cpu_seconds(os.getpid(), children=True)
    assert machine_busy_seconds() - busy_before >= 0.35
