"""The health check that decides whether a new version is committed or rolled back.

Two kinds of probe, both against the *new* version, within one deadline:

- **units**: each listed systemd unit must reach ``ActiveState=active`` (for a
  ``Type=notify`` unit that means it sent ``READY=1``) and then stay up, without
  a restart, for ``settle_s`` seconds;
- **commands**: each command (``{version_dir}`` is replaced by the new version's
  directory) must exit 0 — by default ``madoguchi update selftest``, which
  imports the app, opens the store and checks the card stack's configuration.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from updater.errors import HealthCheckError

__all__ = ["DEFAULT_COMMAND", "HealthCheck"]

#: Absolute, so the health check does not depend on the caller's PATH.
SYSTEMCTL = "/usr/bin/systemctl"
DEFAULT_COMMAND: tuple[str, ...] = ("{version_dir}/bin/madoguchi", "update", "selftest")
_POLL_S = 0.2


def _unit_state(unit: str) -> tuple[str, str]:
    """(ActiveState, NRestarts) of ``unit``."""
    result = subprocess.run(  # noqa: S603 - unit names come from the configuration
        [SYSTEMCTL, "show", "--property=ActiveState,NRestarts", unit],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    # systemctl prints properties in its own order, so read them by name
    props = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return props.get("ActiveState", "unknown"), props.get("NRestarts", "")


@dataclass(frozen=True)
class HealthCheck:
    """Units that must be ready and commands that must pass, within ``timeout_s``."""

    units: Sequence[str] = ()
    commands: Sequence[Sequence[str]] = field(default_factory=lambda: (DEFAULT_COMMAND,))
    timeout_s: float = 60.0
    settle_s: float = 3.0

    def run(self, version_dir: Path) -> None:
        """Return when healthy; raise :class:`HealthCheckError` with the first failure."""
        deadline = time.monotonic() + self.timeout_s
        for command in self.commands:
            argv = [part.replace("{version_dir}", str(version_dir)) for part in command]
            try:
                result = subprocess.run(  # noqa: S603 - configured health commands
                    argv,
                    # not the caller's cwd: a source checkout there would shadow the new version
                    cwd="/",
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=max(1.0, deadline - time.monotonic()),
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise HealthCheckError(f"{' '.join(argv)}: {exc}") from exc
            if result.returncode != 0:
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
                raise HealthCheckError(
                    f"{' '.join(argv[1:]) or argv[0]} exited {result.returncode}: {tail[0][:200]}"
                )
        for unit in self.units:
            self._wait_unit(unit, deadline)

    def _wait_unit(self, unit: str, deadline: float) -> None:
        stable_since: float | None = None
        restarts: str | None = None
        state = "unknown"
        while time.monotonic() < deadline:
            state, now_restarts = _unit_state(unit)
            if state == "active" and (restarts is None or now_restarts == restarts):
                stable_since = stable_since or time.monotonic()
                restarts = now_restarts
                if time.monotonic() - stable_since >= self.settle_s:
                    return
            else:
                stable_since, restarts = None, None
            time.sleep(_POLL_S)
        raise HealthCheckError(f"{unit} not ready and stable within the deadline (last: {state})")
