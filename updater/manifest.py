"""The signed manifest of a bundle: what it installs and a SHA-256 for every file.

The manifest is JSON; its exact bytes are what the Ed25519 signature covers, so
it is never re-serialised before verifying. Version rules live here too: a
bundle must be newer than the running version, unless the manifest itself (and
so IT's signature) allows a downgrade from that very version — a *signed
rollback allowance*. Replaying an old, ordinary bundle is therefore refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

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
