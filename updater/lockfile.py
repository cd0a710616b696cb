"""The hashed lock files: exactly which distributions a counter or a server runs.

One lock per shipped role, Python and platform, kept in ``locks/`` and written by
``scripts/lock`` (``uv pip compile --generate-hashes`` for the target platform, so an
x86-64 host locks the Pi's set too). Each lock's first line records a digest of what
it was resolved from — the dependency strings of ``pyproject.toml`` (with the role's
extras), ``requires-python``, the Python version and the machine — so a change to
``pyproject.toml`` that the lock has not followed is found without a network
(:func:`check_locks`, run by the tests). The Debian packages (``scripts/package``) and
the update bundles (:mod:`updater.build`) install from these files with
``--require-hashes``: two builds a week apart install the same bytes.

Shipped today: the counter on Raspberry Pi OS / Debian 12 bookworm (aarch64) and on
amd64 Debian 12 (x86_64), and the central server on amd64 Debian 12, all CPython 3.11
(bookworm's ``python3.11``).
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = [
    "LOCK_DIR",
    "TARGETS",
    "LockTarget",
    "check_locks",
    "inputs_digest",
    "lock_for",
    "read_pins",
]

LOCK_DIR = "locks"
DIGEST_PREFIX = "# madoguchi-lock-inputs: "
#: Debian 12's glibc: wheels newer than this would not load on bookworm.
GLIBC = "2_36"


@dataclass(frozen=True)
class LockTarget:
    """One shipped combination: who runs it (role), on which machine, with which Python."""

    role: str
    machine: str
    python: str = "3.11"

    @property
    def extras(self) -> tuple[str, ...]:
        return ("server",) if self.role == "server" else ()

    @property
    def abi(self) -> str:
        """The CPython ABI tag of :attr:`python` (``cp311``)."""
        return "cp" + self.python.replace(".", "")

    @property
    def filename(self) -> str:
        return f"{self.role}-{self.abi}-{self.machine}.txt"

    @property
    def uv_platform(self) -> str:
        return f"{self.machine}-manylinux_{GLIBC}"

    def environment(self) -> dict[str, str]:
        """PEP 508 marker values of the target (for ``platform_machine`` markers)."""
        env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
        env.update(
            platform_machine=self.machine,
            python_version=self.python,
            python_full_version=f"{self.python}.0",
            sys_platform="linux",
            platform_system="Linux",
            os_name="posix",
            implementation_name="cpython",
            platform_python_implementation="CPython",
        )
        return env


TARGETS: tuple[LockTarget, ...] = (
    LockTarget("counter", "aarch64"),
    LockTarget("counter", "x86_64"),
    LockTarget("server", "x86_64"),
)


def _project(root: Path) -> dict[str, object]:
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project: dict[str, object] = data["project"]
    return project


def dependencies(root: Path, target: LockTarget) -> list[str]:
    """The dependency strings of ``pyproject.toml`` that ``target`` installs."""
    project = _project(root)
    deps = [str(d) for d in project.get("dependencies", [])]  # type: ignore[attr-defined]
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})  # type: ignore[assignment]
    for extra in target.extras:
        deps += [str(d) for d in optional.get(extra, [])]
    return deps


def inputs_digest(root: Path, target: LockTarget) -> str:
    """What the lock of ``target`` was resolved from, as a short SHA-256."""
    project = _project(root)
    inputs = {
        "dependencies": sorted(dependencies(root, target)),
        "requires_python": str(project.get("requires-python", "")),
        "python": target.python,
        "machine": target.machine,
        "glibc": GLIBC,
    }
    raw = json.dumps(inputs, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def read_pins(lock: Path) -> dict[str, tuple[str, int]]:
    """``{canonical name: (version, number of hashes)}`` of a lock file."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            pins[name] = (match.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def check_locks(root: Path, targets: tuple[LockTarget, ...] = TARGETS) -> list[str]:
    """Every way the locks in ``root/locks`` no longer match ``pyproject.toml``, one
    sentence each (empty when they match). Needs no network."""
    problems: list[str] = []
    for target in targets:
        lock = root / LOCK_DIR / target.filename
        if not lock.is_file():
            problems.append(f"{LOCK_DIR}/{target.filename} is missing: run scripts/lock")
            continue
        first = lock.read_text(encoding="utf-8").splitlines()[:1]
        want = DIGEST_PREFIX + inputs_digest(root, target)
        if first != [want]:
            problems.append(
                f"{LOCK_DIR}/{target.filename} was resolved from other dependencies than "
                "pyproject.toml now lists: run scripts/lock"
            )
        pins = read_pins(lock)
        env = target.environment()
        for text in dependencies(root, target):
            try:
                req = Requirement(text)
            except InvalidRequirement as exc:
                problems.append(f"pyproject.toml: bad dependency {text!r}: {exc}")
                continue
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            pin = pins.get(canonicalize_name(req.name))
            if pin is None:
                problems.append(f"{LOCK_DIR}/{target.filename} does not pin {req.name}")
            elif not req.specifier.contains(pin[0], prereleases=True):
                problems.append(
                    f"{LOCK_DIR}/{target.filename} pins {req.name}=={pin[0]}, "
                    f"outside {req.specifier}"
                )
        for name, (version, hashes) in pins.items():
            if hashes == 0:
                problems.append(f"{LOCK_DIR}/{target.filename}: {name}=={version} has no hash")
    return problems


def running_target(role: str = "counter") -> LockTarget:
    """The target of this interpreter and machine."""
    return LockTarget(role, platform.machine(), f"{sys.version_info[0]}.{sys.version_info[1]}")


def lock_for(root: Path, target: LockTarget) -> Path:
    """The lock file of ``target`` in ``root``; FileNotFoundError naming it when not shipped."""
    lock = root / LOCK_DIR / target.filename
    if not lock.is_file():
        shipped = ", ".join(t.filename for t in TARGETS)
        raise FileNotFoundError(f"no lock for {target.filename} (shipped: {shipped})")
    return lock


def write_locks(root: Path, uv: str, targets: tuple[LockTarget, ...] = TARGETS) -> list[Path]:
    """Resolve every target with ``uv`` (needs PyPI) and write its lock; returns the files."""
    import subprocess
    import tempfile

    out_dir = root / LOCK_DIR
    out_dir.mkdir(exist_ok=True)
    written: list[Path] = []
    for target in targets:
        with tempfile.TemporaryDirectory(prefix="madoguchi-lock-") as tmp:
            resolved = Path(tmp) / target.filename
            argv = [uv, "pip", "compile", "--quiet", "--no-header", "--generate-hashes"]
            argv += ["--python-version", target.python, "--python-platform", target.uv_platform]
            for extra in target.extras:
                argv += ["--extra", extra]
            argv += [str(root / "pyproject.toml"), "-o", str(resolved)]
            subprocess.run(argv, check=True, cwd=root)  # noqa: S603 - uv, fixed arguments
            body = resolved.read_text(encoding="utf-8")
        lock = out_dir / target.filename
        extras = f"[{','.join(target.extras)}]" if target.extras else ""
        lock.write_text(
            f"{DIGEST_PREFIX}{inputs_digest(root, target)}\n"
            f"# madoguchi{extras} for CPython {target.python} on {target.machine} "
            f"(glibc {GLIBC.replace('_', '.')}, Debian 12 bookworm).\n"
            "# Written by scripts/lock from pyproject.toml: do not edit by hand.\n" + body,
            encoding="utf-8",
        )
        written.append(lock)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m updater.lockfile write UV`` | ``check``: what scripts/lock runs."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parents[1]
    if args[:1] == ["write"] and len(args) == 2:
        for lock in write_locks(root, args[1]):
            print(f"wrote {lock.relative_to(root)}")
        return 0
    if args == ["check"]:
        problems = check_locks(root)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    print("usage: python -m updater.lockfile write UV | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
