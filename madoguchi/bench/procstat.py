"""CPU time from ``/proc``, for the benchmarks that say which process used the machine.

Seconds of CPU per process (and its reaped children), the live children of a process,
and the whole machine's busy seconds; a benchmark takes two readings and divides by the
wall time between them to get cores.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Clock ticks per second, the unit of ``/proc/<pid>/stat`` and ``/proc/stat``.
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU seconds of ``pid`` (user + system; with ``children``, its reaped children's too)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime 14, stime 15, cutime 16, cstime 17
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def children_of(parent: int) -> list[int]:
    """The live processes whose parent is ``parent``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            pids.append(int(entry.name))
    return pids


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (every process, ours and others'):
    ``/proc/stat``'s first line less idle and iowait."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICK
