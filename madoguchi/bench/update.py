"""Update bundles: time to verify+apply and to roll back, and the tamper cases refused.

``madoguchi bench update --json`` builds signed bundles of this source tree in a
scratch directory, applies one to a fresh install tree (verify, venv, pip,
switch, self-test health check, commit), rolls back, and runs every tamper
case against the verifier. ``--full`` bundles the locked dependencies too
(``--requirements``; built with ``pip wheel``, needs the network or a warm pip
cache); the default bundles the app wheel only and installs it against this
interpreter's site-packages (``[update] extra_site``).

The helpers here are also what the update and systemd tests use to make their
bundles and tamper cases, so the benchmark and the tests refuse the same set.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sysconfig
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: Appended to a module of a "broken" release: its self-test (the health check) fails.
BREAKAGE = '\nraise RuntimeError("deliberately broken release (test bundle)")\n'
BROKEN_MODULE = "madoguchi/commands/update.py"


@dataclass(frozen=True)
class ReleaseSet:
    """Signed bundles by version, and the keys that made them."""

    private_key: Path
    public_key: Path
    wrong_private_key: Path
    bundles: dict[str, Path]


def broken_source(source: Path, dest: Path) -> Path:
    """A copy of ``source`` whose self-test fails at import time."""
    from updater.build import SOURCE_IGNORE

    shutil.copytree(source, dest, ignore=SOURCE_IGNORE, symlinks=True)
    with (dest / BROKEN_MODULE).open("a", encoding="utf-8") as out:
        out.write(BREAKAGE)
    return dest


def make_release_set(
    work: Path,
    versions: tuple[str, ...],
    *,
    broken: tuple[str, ...] = (),
    source: Path = ROOT,
    requirements: Path | None = None,
) -> ReleaseSet:
    """Generate keys and build one signed bundle per version (``broken`` ones fail health)."""
    from updater.build import build_release
    from updater.keys import generate_keypair, load_private_key

    keys = work / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    private, public = keys / "it.key", keys / "it.pem"
    wrong = keys / "wrong.key"
    if not private.exists():
        generate_keypair(private, public)
        generate_keypair(wrong, keys / "wrong.pem")
    key = load_private_key(private)
    bundles = {}
    for version in (*versions, *broken):
        tree = source
        if version in broken:
            tree = broken_source(source, work / f"src-broken-{version}")
        bundles[version] = build_release(
            source=tree,
            version=version,
            signing_key=key,
            out_dir=work / "dist",
            requirements=requirements,
        )
    return ReleaseSet(private, public, wrong, bundles)


def _rewrite(src: Path, dest: Path, *, drop: str | None = None, add: str | None = None) -> Path:
    """Copy a bundle's tar, leaving out member ``drop`` or adding member ``add``."""
    with (
        tarfile.open(src, "r:") as tin,
        tarfile.open(dest, "w", format=tarfile.USTAR_FORMAT) as tout,
    ):
        for member in tin.getmembers():
            if member.name == drop:
                continue
            tout.addfile(member, tin.extractfile(member))
        if add is not None:
            info = tarfile.TarInfo(add)
            payload = b"#!/bin/sh\necho injected\n"
            info.size = len(payload)
            tout.addfile(info, io.BytesIO(payload))
    return dest


def _member_bytes(tar: tarfile.TarFile, name: str) -> bytes:
    stream = tar.extractfile(name)
    if stream is None:
        raise ValueError(f"{name} is not a regular file")
    return stream.read()


def tamper_cases(
    good: Path, older: Path, wrong_key: Path, work: Path
) -> list[tuple[str, Path, str]]:
    """Every way a bundle can be bad: ``(case name, bundle path, expected refusal reason)``.

    ``good`` must be newer than the installed version; ``older`` older than it.
    """
    from updater.bundle import build_bundle
    from updater.keys import load_private_key
    from updater.manifest import Manifest

    work.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[str, Path, str]] = []
    with tarfile.open(good, "r:") as tar:
        members = [(m.name, m.offset_data, m.size) for m in tar.getmembers()]
        manifest = Manifest.from_json(_member_bytes(tar, "manifest.json"))
    data = good.read_bytes()
    for name, offset, size in members:
        for where, position in (
            ("first", offset),
            ("middle", offset + size // 2),
            ("last", offset + size - 1),
        ):
            flipped = bytearray(data)
            flipped[position] ^= 0x01
            path = work / f"flip-{Path(name).name}-{where}.bundle"
            path.write_bytes(flipped)
            reason = (
                "bad-signature" if name in ("manifest.json", "manifest.sig") else "hash-mismatch"
            )
            cases.append((f"flipped byte ({where}) in {name}", path, reason))
    # Bytes that are neither file data nor covered by a hash: headers, padding, end marker.
    structural = [
        (f"tar header of {name}", offset - tarfile.BLOCKSIZE + 3) for name, offset, _ in members
    ]
    structural += [
        (f"padding after {name}", offset + size)
        for name, offset, size in members
        if size % tarfile.BLOCKSIZE
    ]
    structural.append(("end-of-archive marker", len(data) - 1))
    for where, position in structural:
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        path = work / f"flip-structure-{len(cases)}.bundle"
        path.write_bytes(flipped)
        cases.append((f"flipped byte in the {where}", path, "malformed"))
    payload = [n for n, _, _ in members if n.startswith("payload/")]
    cases.append(
        ("missing file", _rewrite(good, work / "missing.bundle", drop=payload[0]), "missing-file")
    )
    cases.append(
        ("extra file", _rewrite(good, work / "extra.bundle", add="payload/evil.sh"), "extra-file")
    )
    cases.append(
        ("no signature", _rewrite(good, work / "unsigned.bundle", drop="manifest.sig"), "unsigned")
    )
    # Wrong key: a perfectly formed bundle, signed by someone IT does not trust.
    extract = work / "wrong-key-payload"
    extract.mkdir(exist_ok=True)
    with tarfile.open(good, "r:") as tar:
        for name in payload:
            (extract / Path(name).name).write_bytes(_member_bytes(tar, name))
    wrong_dir = work / "wrong-key"
    wrong = build_bundle(
        version=manifest.version,
        payload=sorted(extract.iterdir()),
        signing_key=load_private_key(wrong_key),
        out_dir=wrong_dir,
        requirements=manifest.requirements,
        no_deps=manifest.no_deps,
    )
    cases.append(("signed with the wrong key", wrong, "bad-signature"))
    cases.append(("replayed older bundle", older, "downgrade"))
    for fraction in (0.1, 0.5, 0.99):
        cut = work / f"truncated-{int(fraction * 100)}.bundle"
        cut.write_bytes(data[: int(len(data) * fraction)])
        cases.append((f"truncated download ({int(fraction * 100)}%)", cut, "truncated"))
    last = work / "truncated-last-byte.bundle"
    last.write_bytes(data[:-1])  # only the end-of-archive padding is missing
    cases.append(("truncated download (last byte)", last, "truncated"))
    longer = work / "appended.bundle"
    longer.write_bytes(data + bytes(tarfile.RECORDSIZE))  # zeros only, after the archive
    cases.append(("data appended after the archive", longer, "malformed"))
    return cases


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full", action="store_true", help="bundle locked dependencies too (needs --requirements)"
    )
    parser.add_argument("--requirements", type=Path, help="pinned requirements for --full")
    parser.add_argument("--keep", type=Path, help="keep the scratch directory here")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from madoguchi.errors import UpdateError
    from updater.bundle import verify_bundle
    from updater.engine import Updater
    from updater.health import HealthCheck
    from updater.keys import load_public_keys
    from updater.layout import InstallTree
    from updater.status import StatusStore

    scratch = args.keep or Path(tempfile.mkdtemp(prefix="madoguchi-bench-update-"))
    scratch.mkdir(parents=True, exist_ok=True)
    requirements = args.requirements if args.full else None
    started = time.perf_counter()
    releases = make_release_set(scratch, ("1.0.0", "1.1.0", "1.2.0"), requirements=requirements)
    build_s = time.perf_counter() - started
    trusted = load_public_keys(releases.public_key)
    extra = None if args.full else Path(sysconfig.get_paths()["purelib"])
    state = scratch / "state"
    updater = Updater(
        tree=InstallTree(scratch / "root"),
        status=StatusStore(scratch / "state-update"),
        state_dir=state,
        trusted_keys=trusted,
        health=HealthCheck(timeout_s=120, settle_s=0),
        extra_site=extra,
    )
    updater.apply(releases.bundles["1.0.0"])
    bundle = releases.bundles["1.1.0"]
    started = time.perf_counter()
    verify_bundle(bundle, trusted, "1.0.0")
    verify_s = time.perf_counter() - started
    started = time.perf_counter()
    result = updater.apply(bundle)
    apply_s = time.perf_counter() - started
    cases = tamper_cases(
        releases.bundles["1.2.0"],
        releases.bundles["1.0.0"],
        releases.wrong_private_key,
        scratch / "tamper",
    )
    rejected = 0
    for _name, path, expected in cases:
        try:
            updater.verify(path)
        except UpdateError as exc:
            rejected += getattr(exc, "reason", None) == expected
    started = time.perf_counter()
    updater.rollback()
    rollback_s = time.perf_counter() - started
    size = bundle.stat().st_size
    if args.keep is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "bundle": "full (locked deps)" if args.full else "app wheel + pip",
        "bundle_bytes": size,
        "build_s": round(build_s, 3),
        "verify_s": round(verify_s, 4),
        "apply_s": round(apply_s, 3),
        "apply_state": result.state,
        "rollback_s": round(rollback_s, 4),
        "tamper_cases_rejected": rejected,
        "tamper_cases_total": len(cases),
    }
