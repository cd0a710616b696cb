"""Why an update was refused or failed: leaves of :class:`madoguchi.errors.UpdateError`.

Every refusal carries a short machine-readable ``reason`` (reported to the
server and shown by ``madoguchi update status``) next to the human message.
"""

from __future__ import annotations

from madoguchi.errors import UpdateError


class BundleRejectedError(UpdateError):
    """The bundle failed verification; nothing was written to the install tree.

    ``reason`` is one of: ``unsigned``, ``bad-signature``, ``malformed``,
    ``truncated``, ``hash-mismatch``, ``missing-file``, ``extra-file``,
    ``downgrade``, ``already-installed``, ``wrong-product``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"bundle rejected ({reason}): {message}")
        self.reason = reason


class UpdateLockedError(UpdateError):
    """A counter transaction holds the update lock (or an update holds it)."""

    reason = "locked"


class InstallError(UpdateError):
    """Installing a verified bundle failed (pip, disk full, ...). The running version stays."""

    reason = "install-failed"


class HealthCheckError(UpdateError):
    """The new version did not become healthy within the deadline."""

    reason = "health-check-failed"


class DownloadError(UpdateError):
    """Fetching a bundle or the release list failed (after the allowed retries)."""

    reason = "download-failed"


class NothingToDoError(UpdateError):
    """There is no pending update to commit, or no previous version to roll back to."""

    reason = "nothing-to-do"
