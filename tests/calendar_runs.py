"""Runs at the instants where a date or a time on screen looks like a PIN (issue 18).

The screens show dates and times in the office's zone (JST): the home screen's last
send (``12月12日 12:34``), the today screen's and the history's times. A test that
scans those screens must pass at any date and hour; these instants are the ones that
broke a naive scan for the virtual card's PIN ``1234`` (month 12, day 12 or 31, hour
12 or 23, minute 34).

Two ways to put the code at such an instant, both running the real code:

* in-process UI tests inject the clock the composition already takes
  (``tests/tui/conftest.py`` ``StepClock``, whose ``start`` is set here);
* the demo in tmux runs under Debian's libfaketime (``LD_PRELOAD``): every process of
  the demo (the app, its local central server, the uploader) reads the same shifted
  wall clock, which keeps ticking. :func:`faketime_env` gives the environment.
"""

from __future__ import annotations

import glob
import shlex
import time
from datetime import datetime
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
#: The instants of issue 18, in the office's zone.
CALENDAR_TRAPS: dict[str, datetime] = {
    "2026-12-12T12:34JST": datetime(2026, 12, 12, 12, 34, tzinfo=JST),
    "2026-12-31T23:59JST": datetime(2026, 12, 31, 23, 59, tzinfo=JST),
}
#: Where Debian's libfaketime package puts the preload library (any architecture).
LIBFAKETIME_GLOB = "/usr/lib/*/faketime/libfaketime.so.1"


def libfaketime() -> str:
    """The preload library; a clear failure (not a skip) when it is not installed."""
    found = sorted(glob.glob(LIBFAKETIME_GLOB))
    if not found:
        raise RuntimeError(
            f"libfaketime is not installed ({LIBFAKETIME_GLOB}): the calendar runs need "
            "Debian's faketime package (scripts/lib/bootstrap.sh APT_TEST)"
        )
    return found[0]


def faketime_env(at: datetime) -> dict[str, str]:
    """Environment that starts the wall clock at ``at`` and lets it tick.

    A relative offset rather than ``@<date>``: an absolute start restarts the clock in
    every new process (the demo's server child would run behind the app), an offset is
    the same for all of them. The monotonic clock is shifted with it: libfaketime
    0.9.10's ``FAKETIME_DONT_FAKE_MONOTONIC=1`` makes Python's ``time.sleep`` fail with
    EINVAL, and a shifted monotonic clock still ticks at the real rate.
    """
    offset = round(at.timestamp() - time.time())
    return {"LD_PRELOAD": libfaketime(), "FAKETIME": f"{offset:+d}"}


def shell_exports(env: dict[str, str]) -> str:
    """``KEY=value`` words for ``env`` in a shell command line, quoted."""
    return " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
