"""What the uploader last saw, as the TUI reads it from the store.

The uploader daemon writes these fields into the store after every contact with
the server; the TUI reads them with :meth:`device.store.Store.uploader_status`
without importing anything from ``sync`` or any HTTP library.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def current_boot_id() -> str:
    """This boot's id (Linux); a clock check from an earlier boot does not count."""
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return "unknown-boot"


@dataclass(frozen=True, slots=True)
class UploaderStatus:
    """The uploader's state for the clerk's screen.

    ``clock_skew_s`` is device clock minus server clock from the last contact.
    ``clock_checked_boot`` is the boot in which that comparison was made.
    """

    queue_length: int
    quarantined: int
    last_attempt: str | None
    last_success: str | None
    last_error: str | None
    server_reachable: bool
    device_revoked: bool
    clock_skew_s: float | None
    clock_checked_boot: str | None
    server_high_water: int | None

    def clock_unsynchronised(self, boot_id: str | None = None) -> bool:
        """True when the clock was never compared with the server since this boot."""
        boot = boot_id if boot_id is not None else current_boot_id()
        return self.clock_skew_s is None or self.clock_checked_boot != boot

    def date_needs_confirmation(self, skew_bound_s: float, boot_id: str | None = None) -> bool:
        """Whether date-dependent decisions (the 6-month grace, the rule version)
        need the clerk to confirm today's date: the clock is unsynchronised since
        boot, or its skew from the server passed ``skew_bound_s``."""
        skew = self.clock_skew_s
        if skew is None or self.clock_unsynchronised(boot_id):
            return True
        return abs(skew) > skew_bound_s
