"""Bundle files: built and signed by IT, verified on the device before anything is written.

A bundle is one uncompressed tar (the wheels in it are compressed already)::

    manifest.json     the signed manifest (exact bytes)
    manifest.sig      base64 Ed25519 signature over manifest.json
    payload/*.whl     the app wheel and its locked dependencies (and pip itself)

:func:`verify_bundle` checks, in this order and reading only: the signature
against the device's trusted keys, the product and version rules, that the tar
holds exactly the manifest's files (no missing, no extra, regular files only,
none cut short) and that each file's SHA-256 matches. Only a
:class:`VerifiedBundle` can be extracted, and extraction re-hashes as it writes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from updater import keys
from updater.errors import BundleRejectedError
from updater.manifest import (
    MANIFEST_NAME,
    PAYLOAD_DIR,
    SIGNATURE_NAME,
    FileEntry,
    Manifest,
    Platform,
)

__all__ = [
    "VerifiedBundle",
    "build_bundle",
    "bundle_name",
    "extract_payload",
    "sha256_file",
    "verify_bundle",
]

_CHUNK = 1 << 20
#: A manifest or signature larger than this is not read (it would only be an attack).
_MAX_META = 1 << 20


def bundle_name(version: str) -> str:
    """The file name of the bundle for ``version``."""
    return f"madoguchi-{version}.bundle"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def build_bundle(
    *,
    version: str,
    payload: Iterable[Path],
    signing_key: Ed25519PrivateKey,
    out_dir: Path,
    requirements: Iterable[str],
    no_deps: bool = False,
    downgrade_from: Iterable[str] = (),
    notes: str = "",
) -> Path:
    """Write ``madoguchi-<version>.bundle`` into ``out_dir`` and return its path.

    Runs on IT's signing machine: ``signing_key`` never goes to a device.
    """
    files: dict[str, tuple[Path, FileEntry]] = {}
    for path in payload:
        name = f"{PAYLOAD_DIR}/{path.name}"
        if name in files:
            raise BundleRejectedError("malformed", f"two payload files named {path.name}")
        files[name] = (path, FileEntry(sha256_file(path), path.stat().st_size))
    now = datetime.now(UTC)
    manifest = Manifest(
        version=version,
        files={name: entry for name, (_, entry) in files.items()},
        requirements=tuple(requirements),
        no_deps=no_deps,
        downgrade_from=tuple(downgrade_from),
        created=now.isoformat(timespec="seconds"),
        key_id=keys.key_id(signing_key.public_key()),
        notes=notes,
        platform=Platform.of_wheels(path.name for path, _ in files.values()),
    )
    Manifest.from_json(manifest.to_json())  # what we sign must parse on the device
    raw = manifest.to_json()
    signature = base64.b64encode(keys.sign(signing_key, raw)) + b"\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / bundle_name(version)
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.USTAR_FORMAT) as tar:
        _add_bytes(tar, MANIFEST_NAME, raw, now.timestamp())
        _add_bytes(tar, SIGNATURE_NAME, signature, now.timestamp())
        for name, (path, _) in sorted(files.items()):
            info = tar.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with path.open("rb") as src:
                tar.addfile(info, src)
    os.replace(partial, target)
    return target


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature, version and every file hash were checked."""

    path: Path
    manifest: Manifest
    signer: str


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    stream = tar.extractfile(member)
    if stream is None:  # pragma: no cover - only regular files reach here
        raise BundleRejectedError("malformed", f"{member.name} is not a regular file")
    return stream


def _hash_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with _read_member(tar, member) as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _is_zero(raw: IO[bytes], start: int, end: int) -> bool:
    raw.seek(start)
    remaining = end - start
    while remaining > 0:
        chunk = raw.read(min(_CHUNK, remaining))
        if not chunk or chunk.count(0) != len(chunk):
            return False
        remaining -= len(chunk)
    return True


def _check_structure(
    tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], raw: IO[bytes], file_size: int
) -> None:
    """Every byte outside headers and file data must be zero, and the end marker present.

    Headers are covered by their own checksums and file data by the manifest's
    hashes; with this, no single altered byte anywhere in a bundle goes unnoticed.
    """
    for member in members.values():
        padded = -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        if not _is_zero(raw, member.offset_data + member.size, member.offset_data + padded):
            raise BundleRejectedError("malformed", f"garbage in the padding after {member.name}")
    end = tar.offset
    # The writer ends with two zero blocks, padded to a whole record: exactly this size.
    expected = -(-(end + 2 * tarfile.BLOCKSIZE) // tarfile.RECORDSIZE) * tarfile.RECORDSIZE
    if file_size < expected:
        raise BundleRejectedError("truncated", f"bundle is {file_size} bytes, {expected} expected")
    if file_size > expected:
        raise BundleRejectedError("malformed", f"{file_size - expected} bytes after the archive")
    if not _is_zero(raw, end, file_size):
        raise BundleRejectedError("malformed", f"corrupt header or garbage after byte {end}")


def _members(tar: tarfile.TarFile, file_size: int) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        if not member.isfile():
            raise BundleRejectedError("malformed", f"{member.name!r} is not a regular file")
        if member.name in members:
            raise BundleRejectedError("malformed", f"{member.name!r} appears twice")
        if member.offset_data + member.size > file_size:
            raise BundleRejectedError(
                "truncated", f"{member.name} is cut short (bundle is {file_size} bytes)"
            )
        members[member.name] = member
    return members


def _check_signature(
    tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], trusted: dict[str, Ed25519PublicKey]
) -> tuple[Manifest, str]:
    if MANIFEST_NAME not in members or SIGNATURE_NAME not in members:
        raise BundleRejectedError("unsigned", "bundle has no manifest or no signature")
    if members[MANIFEST_NAME].size > _MAX_META or members[SIGNATURE_NAME].size > _MAX_META:
        raise BundleRejectedError("malformed", "manifest or signature is implausibly large")
    raw = _read_member(tar, members[MANIFEST_NAME]).read()
    encoded = _read_member(tar, members[SIGNATURE_NAME]).read()
    try:
        signature = base64.b64decode(encoded.removesuffix(b"\n"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleRejectedError("bad-signature", "signature is not base64") from exc
    if encoded != base64.b64encode(signature) + b"\n":
        raise BundleRejectedError("bad-signature", "signature file is not in canonical form")
    if not trusted:
        raise BundleRejectedError("unsigned", "the device has no trusted update key")
    signer = next((kid for kid, key in trusted.items() if keys.verify(key, signature, raw)), None)
    if signer is None:
        raise BundleRejectedError(
            "bad-signature",
            "signature does not match any trusted key (wrong key or altered manifest)",
        )
    manifest = Manifest.from_json(raw)
    if manifest.key_id != signer:
        # the manifest says which key signs it; a bundle signed by another trusted key
        # (say a revoked one's successor replaying it) is not what IT released
        raise BundleRejectedError(
            "bad-signature", f"manifest names key {manifest.key_id!r} but {signer} signed it"
        )
    return manifest, signer


def verify_bundle(
    path: Path,
    trusted: dict[str, Ed25519PublicKey],
    installed_version: str | None,
    platform: Platform | None = None,
) -> VerifiedBundle:
    """Check everything about the bundle at ``path`` without writing anything.

    ``platform``: the device's (:meth:`Platform.running`); the central server, which keeps
    bundles for every platform, passes none. Raises :class:`BundleRejectedError` with the
    first reason found.
    """
    try:
        file_size = path.stat().st_size
        with tarfile.open(path, "r:") as tar, path.open("rb") as raw:
            members = _members(tar, file_size)
            _check_structure(tar, members, raw, file_size)
            manifest, signer = _check_signature(tar, members, trusted)
            manifest.check_version(installed_version)
            if platform is not None:
                manifest.check_platform(platform)
            payload = {n for n in members if n not in (MANIFEST_NAME, SIGNATURE_NAME)}
            missing = sorted(set(manifest.files) - payload)
            if missing:
                raise BundleRejectedError("missing-file", f"{', '.join(missing)} not in bundle")
            extra = sorted(payload - set(manifest.files))
            if extra:
                raise BundleRejectedError("extra-file", f"{', '.join(extra)} not in manifest")
            for name, entry in sorted(manifest.files.items()):
                sha, size = _hash_member(tar, members[name])
                if size != entry.size or sha != entry.sha256:
                    raise BundleRejectedError("hash-mismatch", f"{name} does not match its SHA-256")
    except FileNotFoundError as exc:
        raise BundleRejectedError("malformed", f"no bundle at {path}") from exc
    except EOFError as exc:
        raise BundleRejectedError("truncated", f"{path.name} ends early") from exc
    except tarfile.TarError as exc:
        reason = "truncated" if "end of" in str(exc) else "malformed"
        raise BundleRejectedError(reason, f"{path.name} is not a valid bundle: {exc}") from exc
    return VerifiedBundle(path=path, manifest=manifest, signer=signer)


def extract_payload(bundle: VerifiedBundle, dest: Path) -> list[Path]:
    """Write the payload files into ``dest`` (created), re-hashing each as it is written.

    The bundle file could have changed since it was verified; a mismatch now
    raises and the caller removes ``dest``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with tarfile.open(bundle.path, "r:") as tar:
        for name, entry in sorted(bundle.manifest.files.items()):
            member = tar.getmember(name)
            target = dest / Path(name).name
            digest = hashlib.sha256()
            with _read_member(tar, member) as src, target.open("wb") as out:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != entry.sha256:
                raise BundleRejectedError("hash-mismatch", f"{name} changed after verification")
            written.append(target)
    return written
