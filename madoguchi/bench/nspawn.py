"""Booting systemd in an nspawn container, one container at a time on this host.

Shared by the nspawn tests (``tests/systemd``) and ``madoguchi bench package``. Without a
service manager on the host, every ``--keep-unit`` container puts its payload in the same
cgroup (``/payload``), so two boots at once (a second pytest, another checkout's run, a
benchmark) kill each other's processes: everyone takes :data:`BOOT_LOCK` first.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["BOOT_LOCK", "BootLockTimeoutError", "boot_to_the_end", "one_boot_at_a_time"]

BOOT_LOCK = Path("/run/lock/madoguchi-nspawn.lock")


class BootLockTimeoutError(TimeoutError):
    """Another boot held the lock for longer than the caller would wait."""


@contextlib.contextmanager
def one_boot_at_a_time(wait_s: float) -> Iterator[None]:
    """Hold :data:`BOOT_LOCK` for the block, waiting at most ``wait_s`` for it."""
    # /run/lock comes from systemd-tmpfiles on a systemd host; a container without systemd
    # as PID 1 (CI's, a debootstrap chroot) has none. Made as tmpfiles would (1777), at the
    # same path, so every checkout on this host still takes the same lock.
    if not BOOT_LOCK.parent.is_dir():
        BOOT_LOCK.parent.mkdir(parents=True, exist_ok=True)
        BOOT_LOCK.parent.chmod(0o1777)
    with BOOT_LOCK.open("a") as lock:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BootLockTimeoutError(
                        f"another nspawn boot held {BOOT_LOCK} for {wait_s:.0f} s"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def boot_to_the_end(argv: list[str], timeout_s: float) -> tuple[str, str]:
    """Run the container (``argv``: ``timeout … systemd-nspawn -b …``) to its end and
    return its stdout and stderr; whatever stops the wait (a test's timeout, Ctrl-C),
    stop the container too before the lock is let go.

    A SIGKILL to ``timeout`` (what ``subprocess.run`` sends when its wait is interrupted)
    would leave ``systemd-nspawn`` running, and the next boot, let in by the lock, would
    share the ``/payload`` cgroup with it. SIGTERM is passed on by ``timeout`` to
    nspawn, which powers the container off.
    """
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603 - the caller's fixed argv
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except BaseException:
        proc.terminate()
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    return stdout, stderr
