"""Debian packages: install to units active in a fresh Debian 12 container (package_install_s)

``madoguchi bench package --json`` builds (or takes from the cache) the amd64 packages with
``scripts/package``, takes the cached fresh Debian 12 root (``scripts/package boot-root``)
and, in a throwaway overlay over it, boots it twice per role under systemd-nspawn:

1. ``install``: ``apt install ./madoguchi_<v>_amd64.deb`` (no network: the root has the
   dependencies) to the units that need no configuration active — ``package_install_s``;
   the kiosk refuses to start without a configuration; the production one is written.
2. ``boot``: the next boot with that configuration; then ``apt purge`` and a search of the
   whole file system, the unit list and the user database for anything of madoguchi.

The same for the server (``madoguchi-server``: its unit active once configured,
``package_install_server_s``). ``tests/systemd/test_package.py`` asserts on the same run.
The driver inside is :mod:`madoguchi.bench.package_driver`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madoguchi.bench.nspawn import boot_to_the_end, one_boot_at_a_time

__all__ = ["PackageRun", "add_arguments", "boot_root", "build_packages", "run", "run_roles"]

SOURCE = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("package_driver.py")
BOOT_TIMEOUT_S = 240
BOOT_LOCK_WAIT_S = 600
ROLES = ("counter", "server")
#: The arm64 root boots under qemu-user here: every wait inside and the boot itself are
#: stretched by this factor (measured: see docs/packaging.md).
EMULATED_TIME_SCALE = 6
#: What each machine's packages are: the server is packaged for amd64 only.
ARCH_ROLES = {"amd64": ROLES, "arm64": ("counter",)}
DRIVER_UNIT = """\
[Unit]
Description=madoguchi package check ({phase} {role})
After=default.target multi-user.target graphical.target

[Service]
Type=oneshot
Environment=PKGCHECK_TIME_SCALE={scale}
ExecStart=/usr/bin/python3.11 /pkgcheck/driver/package_driver.py {phase} {role}
"""


def _script(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - the checkout's own script
        [str(SOURCE / "scripts" / "package"), *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"scripts/package {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def build_packages(out: Path, arch: str = "amd64") -> float:
    """The packages of ``arch`` into ``out`` (from the cache when unchanged); seconds taken."""
    started = time.monotonic()
    _script(arch, str(out))
    return time.monotonic() - started


def boot_root(arch: str = "amd64") -> Path:
    """The cached fresh Debian 12 root of ``arch`` (built the first time)."""
    return Path(_script("boot-root", arch).strip().splitlines()[-1])


@dataclass
class PackageRun:
    """One role's throwaway system: an overlay over the cached root, booted per phase."""

    root: Path
    work: Path
    debs: Path
    role: str
    scale: float = 1
    consoles: list[str] = field(default_factory=list)

    @property
    def merged(self) -> Path:
        return self.work / "merged"

    @contextmanager
    def mounted(self) -> Iterator[PackageRun]:
        for name in ("upper", "overlay-work", "merged", "out", "driver"):
            (self.work / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(DRIVER, self.work / "driver" / DRIVER.name)
        options = (
            f"lowerdir={self.root},upperdir={self.work / 'upper'},"
            f"workdir={self.work / 'overlay-work'}"
        )
        subprocess.run(  # noqa: S603 - fixed argv
            ["mount", "-t", "overlay", "overlay", "-o", options, str(self.merged)],  # noqa: S607
            check=True,
        )
        try:
            yield self
        finally:
            subprocess.run(["umount", "-l", str(self.merged)], check=False)  # noqa: S603,S607

    def boot(self, phase: str) -> dict[str, Any]:
        """Boot once with the driver's ``phase``; its result (``ok`` False with the console
        when it wrote none)."""
        system = self.merged / "etc" / "systemd" / "system"
        system.mkdir(parents=True, exist_ok=True)
        (system / "pkgcheck-driver.service").write_text(
            DRIVER_UNIT.format(phase=phase, role=self.role, scale=self.scale)
        )
        limit = int(BOOT_TIMEOUT_S * self.scale)
        argv = [
            "timeout", "--kill-after=10", str(limit),
            "systemd-nspawn", "-D", str(self.merged), "-b", "-q",
            "--register=no", "--keep-unit", "--private-network",
            f"--machine=madoguchi-pkg-{os.getpid()}",
            f"--bind-ro={self.work / 'driver'}:/pkgcheck/driver",
            f"--bind-ro={self.debs}:/pkgcheck/debs",
            f"--bind={self.work / 'out'}:/pkgcheck/out",
            "systemd.firstboot=off",
            "systemd.wants=pkgcheck-driver.service",
        ]  # fmt: skip
        stdout, stderr = boot_to_the_end(argv, limit + 30)
        self.consoles.append(stdout[-4000:] + stderr[-2000:])
        result_file = self.work / "out" / f"{phase}-{self.role}.json"
        if not result_file.exists():
            return {"ok": False, "error": f"no result; console:\n{self.consoles[-1]}"}
        result: dict[str, Any] = json.loads(result_file.read_text())
        return result


def run_roles(work: Path, arch: str = "amd64") -> dict[str, dict[str, Any]]:
    """Build, then install, boot and purge each role of ``arch``;
    ``{"<phase>-<role>": result}``."""
    debs = work / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    build_s = build_packages(debs, arch)
    root = boot_root(arch)
    scale = 1 if arch == "amd64" else EMULATED_TIME_SCALE
    with one_boot_at_a_time(BOOT_LOCK_WAIT_S):
        for role in ARCH_ROLES[arch]:
            with PackageRun(root, work / role, debs, role, scale).mounted() as system:
                for phase in ("install", "boot"):
                    results[f"{phase}-{role}"] = system.boot(phase)
                    if not results[f"{phase}-{role}"].get("ok"):
                        break
    results["build"] = {"ok": True, "build_s": build_s}
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", type=Path, help="keep the scratch directory here")
    parser.add_argument(
        "--arch", choices=sorted(ARCH_ROLES), default="amd64",
        help="the packages' machine (arm64: built and booted under qemu-user, minutes)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    if os.geteuid() != 0:
        raise SystemExit("madoguchi bench package needs root (overlay mounts, nspawn)")
    keep: Path | None = args.keep
    work = keep or Path(tempfile.mkdtemp(prefix="madoguchi-bench-package-"))
    try:
        results = run_roles(work, args.arch)
        sizes = {p.name: round(p.stat().st_size / 1e6, 1) for p in sorted(work.glob("debs/*.deb"))}
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    failed = {name: r.get("error", "")[-500:] for name, r in results.items() if not r.get("ok")}
    return {
        "arch": args.arch,
        "package_install_s": results.get("install-counter", {}).get("install_s"),
        "package_install_server_s": results.get("install-server", {}).get("install_s"),
        "package_build_s": round(results["build"]["build_s"], 1),
        "package_size_mb": sizes,
        "failed": failed,
    }
