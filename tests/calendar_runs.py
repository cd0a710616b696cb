"""Runs at the instants where a date or a time on screen looks like a PIN (issue 18).

The screens show dates and times in the office's zone (JST): the home screen's last
send (``12月12日 12:34``), the today screen's and the history's times. A test that
scans those screens must pass at any date and hour; these instants are the ones that
broke a naive scan for the virtual card's PIN ``1234`` (month 12, day 12 or 31, hour
12 or 23, minute 34).

Two ways to put the code at such an instant, both running the real code:

* in-process UI tests inject the clock the composition already takes
  (``tests/tui/conftest.py`` ``StepClock``, whose ``start`` is set here);
* the demo in tmux runs under libfaketime (``LD_PRELOAD``): every process of the demo
  (the app, its local central server, the uploader thread, OpenSSL checking the
  certificates) reads the same shifted wall clock, which keeps ticking, while the
  monotonic clock stays real. :func:`faketime_env` gives the environment.

The library is the one the ``libfaketime`` package (PyPI, python-libfaketime) ships, not
Debian bookworm's 0.9.10: with the monotonic clock left real, 0.9.10 shifts the absolute
``CLOCK_MONOTONIC`` deadline of ``clock_nanosleep`` too, so Python's ``time.sleep`` fails
with EINVAL; with it faked, ``threading`` waits (``sem_clockwait``) last the whole offset,
and the demo's uploader never polls again. The newer library does neither.
"""

from __future__ import annotations

import importlib.util
import shlex
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")
#: The instants of issue 18, in the office's zone.
CALENDAR_TRAPS: dict[str, datetime] = {
    "2026-12-12T12:34JST": datetime(2026, 12, 12, 12, 34, tzinfo=JST),
    "2026-12-31T23:59JST": datetime(2026, 12, 31, 23, 59, tzinfo=JST),
}
#: Where the ``libfaketime`` package keeps its preload library, under the package.
LIBRARY = Path("vendor", "libfaketime", "src", "libfaketime.so.1")


def libfaketime() -> str:
    """The preload library; a clear failure (not a skip) when it is not installed.

    Found without importing the package (its module pulls pytz and dateutil for an API
    these tests do not use).
    """
    spec = importlib.util.find_spec("libfaketime")
    places = spec.submodule_search_locations if spec is not None else None
    library = Path(places[0]) / LIBRARY if places else None
    if library is None or not library.is_file():
        raise RuntimeError(
            "the calendar runs need the libfaketime package (pyproject.toml [test]): "
            f"no {LIBRARY} found"
        )
    return str(library)


def faketime_env(at: datetime) -> dict[str, str]:
    """Environment that starts the wall clock at ``at`` and lets it tick.

    A relative offset rather than ``@<date>``: an absolute start restarts the clock in
    every new process (the demo's server child would run behind the app), an offset is
    the same for all of them. Timeouts and waits run on the real monotonic clock.
    """
    offset = round(at.timestamp() - time.time())
    return {
        "LD_PRELOAD": libfaketime(),
        "FAKETIME": f"{offset:+d}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def shell_exports(env: dict[str, str]) -> str:
    """``KEY=value`` words for ``env`` in a shell command line, quoted."""
    return " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
