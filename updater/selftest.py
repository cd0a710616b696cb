"""The self-test a new version must pass, and a tiny daemon that proves notify/watchdog.

:func:`run_selftest` is what ``madoguchi update selftest`` runs as the health
check's command: it imports the whole command line (every area's module), loads
the configured card-reader backend (for ``pcsc`` that loads pyscard and needs
pcscd's socket), and opens the store read-only with ``PRAGMA quick_check``.

:func:`serve` (``madoguchi update selftest --daemon``) runs the same checks,
then tells systemd ``READY=1`` and pings the watchdog until stopped. The nspawn
tests run it in place of the app's daemons through a drop-in, so the real unit
files are exercised before the real daemons exist — and it stays useful as a
health probe unit on a counter.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sqlite3
import threading
from pathlib import Path
from types import FrameType

from madoguchi import sdnotify
from madoguchi.config import Config

__all__ = ["run_selftest", "serve"]

log = logging.getLogger(__name__)
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


def _check_imports() -> str | None:
    try:
        cli = importlib.import_module("madoguchi.cli")
        cli.build_parser()
        for package in ("device", "drivers", "sync"):
            importlib.import_module(package)
    except Exception as exc:  # any import-time failure makes the version unhealthy
        return f"import failed: {type(exc).__name__}: {exc}"
    return None


def _check_card_stack(config: Config) -> str | None:
    try:
        drivers = importlib.import_module("drivers")
        drivers.load_backend("reader", drivers.READER_BACKENDS, config.reader.backend)
    except Exception as exc:
        return f"card reader backend {config.reader.backend!r}: {type(exc).__name__}: {exc}"
    if config.reader.backend == "pcsc" and not PCSCD_SOCKET.exists():
        return f"pcscd is not running ({PCSCD_SOCKET} missing)"
    return None


def _check_store(config: Config) -> str | None:
    path = config.store.resolved_path()
    if not path.exists():
        return None  # a fresh counter: the app creates the store on first use
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            (result,) = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as exc:
        return f"store {path}: {exc}"
    return None if result == "ok" else f"store {path}: {result}"


def run_selftest(config: Config) -> list[str]:
    """Problems found (empty when healthy)."""
    checks = (_check_imports(), _check_card_stack(config), _check_store(config))
    return [problem for problem in checks if problem]


def serve(config: Config) -> int:
    """Self-test, report ready, ping the watchdog until SIGTERM. Returns the exit code."""
    problems = run_selftest(config)
    if problems:
        for problem in problems:
            log.error("selftest: %s", problem)
        sdnotify.notify("STATUS=selftest failed: " + "; ".join(problems))
        return 1
    stop = threading.Event()

    def _on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_term)
    interval = sdnotify.watchdog_interval()
    sdnotify.notify("READY=1\nSTATUS=selftest passed; serving")
    log.info("selftest passed; ready (watchdog %s)", interval)
    # Ping at a third of the interval: late wake-ups on a busy Pi stay inside it.
    period = interval / 3 if interval else 3600.0
    while not stop.wait(period):
        sdnotify.notify("WATCHDOG=1")
    sdnotify.notify("STOPPING=1")
    return 0
