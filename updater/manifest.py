"""The signed manifest of a bundle: what it installs and a SHA-256 for every file.

The manifest is JSON; its exact bytes are what the Ed25519 signature covers, so
it is never re-serialised before verifying. Version rules live here too: a
bundle must be newer than the running version, unless the manifest itself (and
so IT's signature) allows a downgrade from that very version — a *signed
rollback allowance*. Replaying an old, ordinary bundle is therefore refused.

A manifest also says which platform its payload is for (:class:`Platform`: the machine and
the CPython ABI of its binary wheels, read from their tags when the bundle is built), so a
counter refuses a bundle built for another machine or Python before it writes anything
(:meth:`Manifest.check_platform`), not halfway through ``pip install``.
"""

from __future__ import annotations

import json
import platform as _platform
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from updater.errors import BundleRejectedError

FORMAT = 1
PRODUCT = "madoguchi"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
PAYLOAD_DIR = "payload"

#: What a version may look like before PEP 440 parses it (it names a directory).
_VERSION_NAME = re.compile(r"^[0-9][0-9A-Za-z.+!]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Payload names: one level under payload/, the characters wheel and sdist names use.
_PAYLOAD_NAME = re.compile(r"^payload/[A-Za-z0-9][A-Za-z0-9._+-]*$")


#: A platform field that any counter accepts: the payload has no wheel bound to it.
ANY = "any"
_LINUX_TAG = re.compile(r"^(?:manylinux_\d+_\d+|manylinux\d+|musllinux_\d+_\d+|linux)_(.+)$")
_CPYTHON_ABI = re.compile(r"^cp3\d+$")
_PLATFORM_VALUE = re.compile(r"^[a-z0-9_]{1,32}$")


@dataclass(frozen=True)
class Platform:
    """What a bundle's payload runs on: ``machine`` as ``platform.machine()`` says it
    (``aarch64`` on a Raspberry Pi, ``x86_64``), ``python`` the CPython ABI tag (``cp311``);
    either may be :data:`ANY` when no wheel in the payload is bound to it."""

    machine: str = ANY
    python: str = ANY

    def to_json(self) -> dict[str, str]:
        return {"machine": self.machine, "python": self.python}

    def __str__(self) -> str:
        return f"{self.machine}/{self.python}"

    @classmethod
    def running(cls) -> Platform:
        """This machine and interpreter: what a counter installs new versions for (the
        updater runs on the Python its venvs are made from)."""
        return cls(_platform.machine(), f"cp{sys.version_info[0]}{sys.version_info[1]}")

    @classmethod
    def of_wheels(cls, names: Iterable[str]) -> Platform:
        """The platform of a wheelhouse from its file names' tags; a payload that mixes
        machines or ABIs is refused (``mixed-platform``) before anything is signed."""
        machines: set[str] = set()
        pythons: set[str] = set()
        for name in names:
            if not name.endswith(".whl"):
                continue
            try:
                tags = parse_wheel_filename(name)[3]
            except InvalidWheelFilename as exc:
                raise BundleRejectedError("malformed", f"bad wheel name {name!r}") from exc
            for tag in tags:
                if tag.platform != "any":
                    match = _LINUX_TAG.match(tag.platform)
                    machines.add(match.group(1) if match else tag.platform)
                if _CPYTHON_ABI.match(tag.abi):
                    pythons.add(tag.abi)
        if len(machines) > 1 or len(pythons) > 1:
            raise BundleRejectedError(
                "mixed-platform",
                f"the payload mixes platforms: machines {sorted(machines)}, "
                f"Python ABIs {sorted(pythons)}",
            )
        return cls(next(iter(machines), ANY), next(iter(pythons), ANY))


@dataclass(frozen=True)
class FileEntry:
    """One payload file: its SHA-256 (hex) and size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """What a bundle is and holds. Built by IT, verified on the device."""

    version: str
    files: dict[str, FileEntry]
    #: pip requirement strings installed from the bundle's wheelhouse.
    requirements: tuple[str, ...]
    #: True for a bundle that carries only the app wheel (its dependencies are not pinned).
    no_deps: bool = False
    #: Installed versions this bundle may replace even though it is older (signed rollback).
    downgrade_from: tuple[str, ...] = ()
    created: str = ""
    key_id: str = ""
    product: str = PRODUCT
    notes: str = ""
    #: What the payload runs on; None only in manifests written before it was recorded.
    platform: Platform | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """Canonical bytes (sorted keys, UTF-8) — the bytes IT signs."""
        data = {
            "format": FORMAT,
            "product": self.product,
            "version": self.version,
            "created": self.created,
            "key_id": self.key_id,
            "notes": self.notes,
            "install": {"requirements": list(self.requirements), "no_deps": self.no_deps},
            "downgrade_from": list(self.downgrade_from),
            "files": {
                name: {"sha256": e.sha256, "size": e.size} for name, e in sorted(self.files.items())
            },
        }
        if self.platform is not None:
            data["platform"] = self.platform.to_json()
        return json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse and check every field; raises :class:`BundleRejectedError` ("malformed")."""
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"unsupported manifest format {data.get('format')!r}")
            version = str(data["version"])
            parse_version(version)
            install = data["install"]
            files: dict[str, FileEntry] = {}
            for name, entry in dict(data["files"]).items():
                if not _PAYLOAD_NAME.match(name):
                    raise ValueError(f"bad payload name {name!r}")
                sha, size = entry["sha256"], entry["size"]
                if not isinstance(sha, str) or not _SHA256.match(sha):
                    raise ValueError(f"bad sha256 for {name}")
                if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                    raise ValueError(f"bad size for {name}")
                files[name] = FileEntry(sha, size)
            requirements = tuple(str(r) for r in install["requirements"])
            downgrade_from = tuple(str(v) for v in data.get("downgrade_from", []))
            for v in downgrade_from:
                parse_version(v)
            platform = None
            if "platform" in data:
                machine, python = data["platform"]["machine"], data["platform"]["python"]
                for value in (machine, python):
                    if not isinstance(value, str) or not _PLATFORM_VALUE.match(value):
                        raise ValueError(f"bad platform {data['platform']!r}")
                platform = Platform(machine, python)
            return cls(
                version=version,
                files=files,
                requirements=requirements,
                no_deps=bool(install.get("no_deps", False)),
                downgrade_from=downgrade_from,
                created=str(data.get("created", "")),
                key_id=str(data.get("key_id", "")),
                product=str(data.get("product", "")),
                notes=str(data.get("notes", "")),
                platform=platform,
            )
        except BundleRejectedError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BundleRejectedError("malformed", f"manifest does not parse: {exc}") from exc

    def check_version(self, installed: str | None) -> None:
        """Refuse a bundle that is not newer than ``installed``, unless signed to allow it."""
        if self.product != PRODUCT:
            raise BundleRejectedError("wrong-product", f"bundle is for {self.product!r}")
        if installed is None:
            return
        new, old = parse_version(self.version), parse_version(installed)
        if new == old:
            raise BundleRejectedError("already-installed", f"version {self.version} is running")
        if new < old and not any(parse_version(v) == old for v in self.downgrade_from):
            raise BundleRejectedError(
                "downgrade",
                f"version {self.version} is older than the running {installed} and the "
                "bundle carries no signed rollback allowance for it",
            )


    def check_platform(self, running: Platform) -> None:
        """Refuse a bundle whose payload is for another machine or Python ABI
        (``wrong-platform``). An app-only bundle from before platforms were recorded
        carries only a pure-Python wheel and is taken; any other such bundle is not."""
        if self.platform is None:
            if self.no_deps:
                return
            raise BundleRejectedError(
                "wrong-platform",
                f"bundle {self.version} does not say which platform it was built for; "
                "rebuild it with this madoguchi's 'update build'",
            )
        for field_name, theirs, ours in (
            ("machine", self.platform.machine, running.machine),
            ("Python", self.platform.python, running.python),
        ):
            if theirs not in (ANY, ours):
                raise BundleRejectedError(
                    "wrong-platform",
                    f"bundle {self.version} is built for {self.platform} but this counter is "
                    f"{running} ({field_name} {theirs} is not {ours}); build it on or for "
                    f"{running.machine} with locks/counter-{running.python}-{running.machine}.txt",
                )


def parse_version(text: str) -> Version:
    """A PEP 440 version in its normal form, or ``malformed``.

    A version also names a directory (``versions/<version>``), so only the normal
    form is taken: no spaces, no ``v`` prefix, no path separator, at most 64 characters.
    """
    if not isinstance(text, str) or not _VERSION_NAME.match(text):
        raise BundleRejectedError("malformed", f"bad version {text!r}")
    try:
        version = Version(text)
    except InvalidVersion as exc:
        raise BundleRejectedError("malformed", f"bad version {text!r}") from exc
    if str(version) != text:
        raise BundleRejectedError(
            "malformed", f"version {text!r} is not in PEP 440 normal form ({version})"
        )
    return version
