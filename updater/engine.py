"""Apply, commit, roll back and recover: the device side of an update, step by step.

:meth:`Updater.apply` runs, under the exclusive update lock::

    verify  signature, version, every hash         (nothing written yet)
    install versions/<new>, marker last            (pending.json: phase "install")
    switch  previous -> old, current -> new        (phase "switch"; one rename each)
    restart the units                              (phase "check")
    check   health within the deadline
    commit  or roll back by itself, and say why

A power cut at any point leaves ``current`` on a complete version;
:meth:`Updater.recover` (run before every updater command and at boot) removes
half-written directories and finishes or undoes the interrupted install.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from madoguchi.errors import UpdateError
from updater.bundle import VerifiedBundle, verify_bundle
from updater.errors import BundleRejectedError, HealthCheckError, NothingToDoError
from updater.health import SYSTEMCTL, HealthCheck
from updater.install import Progress, install_bundle
from updater.layout import InstallTree
from updater.lock import update_lock
from updater.manifest import Platform, parse_version
from updater.statedir import UnsafeStateError
from updater.status import StatusStore

__all__ = ["ApplyResult", "Updater"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyResult:
    """How an apply ended: ``committed`` or ``rolled_back`` (with the reason)."""

    state: str
    version: str
    previous: str | None
    reason: str = ""


def _restart(units: Sequence[str]) -> None:
    if not units:
        return
    # A unit that failed on the bad version may have hit its start limit; reset-failed
    # flushes that counter, or the restart onto the good version would be refused.
    subprocess.run(  # noqa: S603 - unit names come from the configuration
        [SYSTEMCTL, "reset-failed", *units], check=False, timeout=30, capture_output=True
    )
    # --no-block: the health check, not systemctl, decides how long to wait.
    subprocess.run(  # noqa: S603 - unit names come from the configuration
        [SYSTEMCTL, "restart", "--no-block", *units], check=False, timeout=30
    )


@dataclass
class Updater:
    """The device's updater, with everything it needs passed in."""

    tree: InstallTree
    #: The updater's own state (root-only, :mod:`updater.statedir`).
    status: StatusStore
    #: The app's state directory: only the shared update lock is used there.
    state_dir: Path
    trusted_keys: dict[str, Ed25519PublicKey]
    health: HealthCheck = field(default_factory=HealthCheck)
    #: Units restarted after a switch (the app's daemons; not the updater itself).
    restart_units: Sequence[str] = ()
    keep_versions: int = 3
    extra_site: Path | None = None
    #: Interpreter for new versions' virtualenvs (None: the running one's base).
    python: str | None = None
    progress: Progress = field(default=lambda step: None)

    def _record(self, state: str, **fields: Any) -> None:
        self.status.record(state, running=self.tree.current_version(), **fields)

    def verify(self, bundle: Path) -> VerifiedBundle:
        """Verify ``bundle`` against the running version; records a refusal."""
        try:
            # the platform before any file hash: a Pi refuses an x86-64 bundle at once
            return verify_bundle(
                bundle, self.trusted_keys, self.tree.current_version(), Platform.running()
            )
        except BundleRejectedError as exc:
            self._record("failed", reason=exc.reason, detail=str(exc), bundle=bundle.name)
            raise

    def apply(self, bundle: Path) -> ApplyResult:
        """Verify, install, switch, restart, check; commit or roll back."""
        with update_lock(self.state_dir):
            self.recover()
            self.progress("verify")
            verified = self.verify(bundle)
            version = verified.manifest.version
            previous = self.tree.current_version()
            self.status.write_pending(version=version, previous=previous, phase="install")
            try:
                target = install_bundle(
                    verified,
                    self.tree,
                    extra_site=self.extra_site,
                    python=self.python,
                    progress=self.progress,
                )
            except UpdateError as exc:
                self._record("failed", version=version, reason="install-failed", detail=str(exc))
                self.status.clear_pending()
                raise
            self._record("installed", version=version, previous=previous)
            self.progress("switch")
            self.status.write_pending(version=version, previous=previous, phase="switch")
            self.tree.set_previous(previous)
            self.tree.switch_current(version)
            self.status.write_pending(version=version, previous=previous, phase="check")
            self.progress("restart")
            _restart(self.restart_units)
            self.progress("check")
            return self._check_and_settle(version, previous, target)

    def _check_and_settle(self, version: str, previous: str | None, target: Path) -> ApplyResult:
        try:
            self.health.run(target)
        except HealthCheckError as exc:
            return self._roll_back(version, previous, f"health check failed: {exc}")
        return self._commit(version, previous)

    def _commit(self, version: str, previous: str | None) -> ApplyResult:
        self.progress("commit")
        # Report first, forget the pending install last: a crash in between only
        # makes recovery check and commit once more.
        self._record("committed", version=version, previous=previous)
        self.status.clear_pending()
        self._collect_garbage()
        log.info("update to %s committed", version)
        return ApplyResult("committed", version, previous)

    def _roll_back(self, version: str, previous: str | None, reason: str) -> ApplyResult:
        self.progress("rollback")
        log.warning("rolling back %s: %s", version, reason)
        self.status.mark_bad(version)
        # A power cut from here on is finished by recover(): it sees phase "rollback".
        self.status.write_pending(
            version=version, previous=previous, phase="rollback", reason=reason
        )
        if previous is not None and self.tree.is_complete(previous):
            self.tree.switch_current(previous)
            self.tree.set_previous(None)
            _restart(self.restart_units)
        self._record("rolled_back", version=version, reason="health-check-failed", detail=reason)
        self.status.clear_pending()
        return ApplyResult("rolled_back", version, previous, reason)

    def commit_pending(self) -> ApplyResult:
        """Re-run the health check of an install left in phase "check" and settle it."""
        pending = self.status.read_pending()
        if not pending or pending.get("phase") != "check":
            raise NothingToDoError("no installed update is waiting for its health check")
        version, previous = pending["version"], pending.get("previous")
        return self._check_and_settle(version, previous, self.tree.version_dir(version))

    def rollback(self, reason: str = "requested") -> ApplyResult:
        """Go back to the previous version on request (an operator or IT)."""
        with update_lock(self.state_dir):
            self.recover()
            current, previous = self.tree.current_version(), self.tree.previous_version()
            if previous is None or current is None:
                raise NothingToDoError("there is no previous version to roll back to")
            self.progress("rollback")
            # the version someone chose to leave is not pulled again by the next poll
            self.status.mark_bad(current)
            self.tree.switch_current(previous)
            self.tree.set_previous(None)
            _restart(self.restart_units)
            self._record("rolled_back", version=current, reason=reason)
            return ApplyResult("rolled_back", current, previous, reason)

    def recover(self) -> str | None:
        """Make the tree consistent after a crash; returns what was done, or None."""
        current = self.tree.current_version()
        if current is None and self.tree.current_link.is_symlink():
            # current points at a missing or half-written dir: never leave the device without one
            fallback = self.tree.previous_version() or self._newest_installed()
            if fallback is not None:
                self.tree.switch_current(fallback)
                current = fallback
        for stale in self.tree.incomplete_dirs():
            if stale.name != current:
                self.tree.remove_version(stale)
        try:
            pending = self.status.read_pending()
        except UnsafeStateError as exc:
            # Not a file this updater wrote: act on none of it (issue 13), say so, drop it.
            self._record("failed", reason="unsafe-state", detail=str(exc))
            self.status.clear_pending()
            return f"refused a pending install record: {exc}"
        if pending is None:
            return None
        version, phase = pending["version"], pending["phase"]
        if phase == "rollback":
            self._roll_back(version, pending.get("previous"), pending.get("reason", ""))
            return f"interrupted rollback of {version} finished"
        if phase in ("switch", "check") and current == version:
            # the switch happened: the new version must prove itself now
            self.status.write_pending(**{**pending, "phase": "check"})
            _restart(self.restart_units)
            result = self.commit_pending()
            return f"interrupted update to {version} {result.state}"
        if self.tree.previous_version() == current:
            self.tree.set_previous(None)  # the link was moved but current never was
        self._record(
            "failed",
            version=version,
            reason="interrupted",
            detail=f"power lost during {phase}; running {current}",
        )
        self.status.clear_pending()
        return f"interrupted update to {version} abandoned"

    def _newest_installed(self) -> str | None:
        versions = self.tree.installed_versions()
        return max(versions, key=parse_version) if versions else None

    def _collect_garbage(self) -> None:
        keep = {self.tree.current_version(), self.tree.previous_version()}
        others = sorted(
            (v for v in self.tree.installed_versions() if v not in keep),
            key=parse_version,
            reverse=True,
        )
        for version in others[max(0, self.keep_versions - len(keep)) :]:
            self.tree.remove_version(self.tree.version_dir(version))
