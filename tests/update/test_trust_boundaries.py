"""The updater trusts nothing another user can write (issue 13, part 1), each check alone.

Fast checks, no container: the updater's private state directory and its file
access (no link, FIFO or hard link followed or read), ``pending.json`` and version
names validated before they become paths, the update lock under a planted link,
atomic writes under a planted temporary name, and the signed key list and channel
pointer (``updater.trust``, ``updater.channel``). The same attacks as the app user,
under systemd, are in ``tests/systemd/test_update_trust.py``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from madoguchi.bench.update import ReleaseSet
from updater import keys
from updater.bundle import verify_bundle
from updater.channel import (
    KEY_LIST_FILE,
    accept_key_list,
    accept_pointer,
    held_keys,
    signed_pointers_required,
)
from updater.engine import Updater
from updater.errors import BundleRejectedError
from updater.fsutil import atomic_write
from updater.keys import load_private_key, load_public_keys
from updater.layout import MARKER, InstallTree
from updater.lock import update_lock
from updater.manifest import MANIFEST_NAME, SIGNATURE_NAME, parse_version
from updater.statedir import PrivateDir, UnsafeStateError
from updater.status import StatusStore
from updater.trust import (
    TrustedKeys,
    TrustRejectedError,
    make_key_list,
    make_pointer,
    verify_key_list,
)

# --- versions and paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "../../../var/lib/madoguchi/evil",
        "1.0/../../evil",
        " 1.0.0",
        "v1.0.0",
        "1.0.0-rc1",  # PEP 440 parses it, but only the normal form ("1.0.0rc1") names a dir
        "",
        "1" * 65,
        ".1",
    ],
)
def test_a_version_that_is_no_plain_pep440_name_is_refused(text: str) -> None:
    with pytest.raises(BundleRejectedError, match="malformed"):
        parse_version(text)


def test_normal_pep440_versions_pass() -> None:
    for text in ("1.0.0", "1.0.0rc1", "2.0.post1", "1!1.0", "1.0+site.2"):
        assert str(parse_version(text)) == text


def test_the_tree_confines_versions_under_versions(tmp_path: Path) -> None:
    tree = InstallTree(tmp_path / "opt")
    tree.versions_dir.mkdir(parents=True)
    with pytest.raises(BundleRejectedError):
        tree.version_dir("../../evil")
    # a version directory that is a link out of the tree does not count as installed
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / MARKER).write_text("{}")
    (tree.versions_dir / "9.9.9").symlink_to(evil)
    assert not tree.is_complete("9.9.9")
    assert tree.installed_versions() == []
    with pytest.raises(FileNotFoundError):
        tree.switch_current("9.9.9")


def test_a_planted_traversal_pending_record_is_refused_not_followed(
    updater: Updater, tmp_path: Path
) -> None:
    # the proof: a rollback "previous" pointing into a folder the app user made
    evil = tmp_path / "evil"
    (evil / "bin").mkdir(parents=True)
    (evil / MARKER).write_text("{}")
    before = os.readlink(updater.tree.current_link)
    updater.status.private.write(
        "pending.json",
        json.dumps(
            {"phase": "rollback", "version": "1.0.0", "previous": f"../../../{evil}"}
        ).encode(),
    )
    done = updater.recover()
    assert done is not None
    assert "refused" in done
    assert os.readlink(updater.tree.current_link) == before
    assert updater.status.read_pending() is None
    status = updater.status.read()
    assert (status["state"], status["reason"]) == ("failed", "unsafe-state")


@pytest.mark.parametrize(
    "pending",
    [
        {"phase": "check", "version": "../1.1.0"},
        {"phase": "unknown", "version": "1.1.0"},
        {"phase": "rollback", "version": "1.1.0", "previous": ["1.0.0"]},
        ["not", "an", "object"],
    ],
)
def test_every_malformed_pending_record_is_refused(tmp_path: Path, pending: object) -> None:
    store = StatusStore(tmp_path / "update")
    store.private.write("pending.json", json.dumps(pending).encode())
    with pytest.raises(UnsafeStateError):
        store.read_pending()


def test_bad_versions_keep_only_version_names(tmp_path: Path) -> None:
    store = StatusStore(tmp_path / "update")
    store.private.write("bad-versions.json", json.dumps(["1.1.0", "../x", 3]).encode())
    assert store.bad_versions() == {"1.1.0"}


# --- the private directory ------------------------------------------------------------


def test_the_state_directory_is_private(tmp_path: Path) -> None:
    store = StatusStore(tmp_path / "update")
    assert oct(store.dir.stat().st_mode & 0o777) == "0o700"
    assert oct(store.downloads.stat().st_mode & 0o777) == "0o700"
    store.record("idle")
    assert oct((store.dir / "status.json").stat().st_mode & 0o777) == "0o600"


def test_a_directory_others_can_change_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone could swap what lies below
    with pytest.raises(UnsafeStateError, match="another user"):
        PrivateDir(shared / "update")


def test_a_state_directory_that_is_a_link_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "update").symlink_to(real)
    with pytest.raises(UnsafeStateError):
        PrivateDir(tmp_path / "update")


@pytest.mark.parametrize("name", ["status.json", "pending.json", "bad-versions.json"])
def test_a_planted_link_is_replaced_by_a_write_and_never_read(tmp_path: Path, name: str) -> None:
    store = StatusStore(tmp_path / "update")
    target = tmp_path / "victim"
    target.write_text("untouched")
    (store.dir / name).symlink_to(target)
    with pytest.raises(UnsafeStateError):
        store.private.read(name)
    store.private.write(name, b"[]")
    assert target.read_text() == "untouched"
    assert not (store.dir / name).is_symlink()


def test_reports_are_not_appended_through_a_link(tmp_path: Path) -> None:
    store = StatusStore(tmp_path / "update")
    target = tmp_path / "victim"
    target.write_text("untouched")
    (store.dir / "reports.jsonl").symlink_to(target)
    with pytest.raises(UnsafeStateError):
        store.record("idle")
    assert target.read_text() == "untouched"


def test_a_fifo_or_hard_link_is_not_read(tmp_path: Path) -> None:
    store = StatusStore(tmp_path / "update")
    os.mkfifo(store.dir / "status.json")
    with pytest.raises(UnsafeStateError):
        store.private.read("status.json")  # and does not hang waiting for a writer
    other = tmp_path / "other"
    other.write_text('{"phase": "check", "version": "1.0.0"}')
    os.link(other, store.dir / "pending.json")
    with pytest.raises(UnsafeStateError):
        store.read_pending()


def test_a_planted_download_part_link_is_replaced(tmp_path: Path) -> None:
    downloads = PrivateDir(tmp_path / "downloads")
    target = tmp_path / "victim"
    target.write_text("untouched")
    (downloads.path / "madoguchi-1.1.0.bundle.part").symlink_to(target)
    fd = downloads.open_new("madoguchi-1.1.0.bundle.part", append=True)
    os.write(fd, b"new")
    os.close(fd)
    assert target.read_text() == "untouched"
    assert (downloads.path / "madoguchi-1.1.0.bundle.part").read_bytes() == b"new"


def test_atomic_write_ignores_a_link_at_the_old_temporary_name(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("untouched")
    # the name the old code used: .<name>.tmp-<pid>
    (tmp_path / f".status.json.tmp-{os.getpid()}").symlink_to(target)
    atomic_write(tmp_path / "status.json", b"{}")
    assert target.read_text() == "untouched"
    assert (tmp_path / "status.json").read_bytes() == b"{}"


def test_the_update_lock_replaces_a_planted_link(tmp_path: Path) -> None:
    state = tmp_path / "app"
    state.mkdir()
    target = tmp_path / "made-by-root"
    (state / "update.lock").symlink_to(target)
    with update_lock(state):
        pass
    assert not target.exists()  # O_CREAT did not follow the link
    assert not (state / "update.lock").is_symlink()
    assert (state / "update.lock").is_file()


# --- the key list and the channel pointer ---------------------------------------------


def _key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _ids(*private: Ed25519PrivateKey) -> dict[str, object]:
    return {keys.key_id(p.public_key()): p.public_key() for p in private}


def _pointer(
    key: Ed25519PrivateKey,
    *,
    channel: str = "stable",
    serial: int | None = None,
    valid_for: timedelta = timedelta(days=1),
    now: datetime | None = None,
) -> dict:
    return make_pointer(
        key,
        channel=channel,
        version="1.1.0",
        bundle="madoguchi-1.1.0.bundle",
        size=10,
        sha256="0" * 64,
        valid_for=valid_for,
        serial=serial,
        now=now,
    )


def test_a_key_list_must_be_signed_by_a_root_key() -> None:
    root, other, bundle_key = _key(), _key(), _key()
    doc = make_key_list(other, [(bundle_key.public_key(), ["bundle"])], serial=1)
    with pytest.raises(TrustRejectedError, match="bad-signature"):
        verify_key_list(doc, _ids(root))  # type: ignore[arg-type]
    listed = verify_key_list(
        make_key_list(root, [(bundle_key.public_key(), ["bundle"])], serial=1), _ids(root)
    )  # type: ignore[arg-type]
    assert set(listed.keys) == {keys.key_id(bundle_key.public_key())}


def test_an_altered_key_list_is_refused() -> None:
    root, bundle_key = _key(), _key()
    doc = make_key_list(root, [(bundle_key.public_key(), ["bundle"])], serial=1)
    doc["signed"] = doc["signed"].replace('"bundle"', '"pointer"')
    with pytest.raises(TrustRejectedError, match="bad-signature"):
        verify_key_list(doc, _ids(root))  # type: ignore[arg-type]


def test_roles_and_revocation_decide_which_key_signs_what() -> None:
    root, bundle_key, pointer_key = _key(), _key(), _key()
    trusted = TrustedKeys(_ids(root)).adopt(  # type: ignore[arg-type]
        make_key_list(
            root,
            [(bundle_key.public_key(), ["bundle"]), (pointer_key.public_key(), ["pointer"])],
            serial=1,
        )
    )
    bid, pid = keys.key_id(bundle_key.public_key()), keys.key_id(pointer_key.public_key())
    assert bid in trusted.for_role("bundle")
    assert bid not in trusted.for_role("pointer")
    assert pid in trusted.for_role("pointer")
    assert pid not in trusted.for_role("bundle")
    # a bundle key cannot sign the channel pointer
    with pytest.raises(TrustRejectedError, match="bad-signature"):
        accept_pointer_plain(trusted, _pointer(bundle_key))
    revoked = trusted.adopt(
        make_key_list(root, [(pointer_key.public_key(), ["pointer"])], serial=2, revoked=[bid])
    )
    assert bid not in revoked.for_role("bundle")
    # and an older list cannot bring the revoked key back
    with pytest.raises(TrustRejectedError, match="replayed"):
        revoked.adopt(make_key_list(root, [(bundle_key.public_key(), ["bundle"])], serial=1))


def accept_pointer_plain(trusted: TrustedKeys, doc: dict) -> object:
    from updater.trust import verify_pointer

    return verify_pointer(doc, trusted, channel="stable")


def test_a_pointer_expires(tmp_path: Path) -> None:
    root = _key()
    store = StatusStore(tmp_path / "update")
    trusted = TrustedKeys(_ids(root))  # type: ignore[arg-type]
    old = datetime.now(UTC) - timedelta(days=10)
    with pytest.raises(TrustRejectedError, match="expired"):
        accept_pointer(trusted, store, _pointer(root, now=old), channel="stable")


def test_a_replayed_older_pointer_is_refused(tmp_path: Path) -> None:
    root = _key()
    store = StatusStore(tmp_path / "update")
    trusted = TrustedKeys(_ids(root))  # type: ignore[arg-type]
    older, newer = _pointer(root, serial=100), _pointer(root, serial=200)
    assert accept_pointer(trusted, store, newer, channel="stable").serial == 200
    assert accept_pointer(trusted, store, newer, channel="stable").serial == 200  # same again
    with pytest.raises(TrustRejectedError, match="replayed"):
        accept_pointer(trusted, store, older, channel="stable")
    # and from now on this channel accepts only signed answers
    assert signed_pointers_required(trusted, store, "stable")
    assert not signed_pointers_required(trusted, store, "canary")


def test_a_pointer_for_another_channel_is_refused(tmp_path: Path) -> None:
    root = _key()
    store = StatusStore(tmp_path / "update")
    with pytest.raises(TrustRejectedError, match="wrong-channel"):
        accept_pointer(
            TrustedKeys(_ids(root)),
            store,  # type: ignore[arg-type]
            _pointer(root, channel="canary"),
            channel="stable",
        )


def test_the_counter_keeps_the_highest_key_list(tmp_path: Path) -> None:
    root, k1, k2 = _key(), _key(), _key()
    store = StatusStore(tmp_path / "update")
    roots = _ids(root)
    trusted = held_keys(roots, store)  # type: ignore[arg-type]
    assert trusted.key_list is None
    second = make_key_list(root, [(k2.public_key(), ["bundle"])], serial=2)
    trusted = accept_key_list(trusted, store, second)
    assert signed_pointers_required(trusted, store, "stable")
    with pytest.raises(TrustRejectedError, match="replayed"):
        accept_key_list(
            trusted, store, make_key_list(root, [(k1.public_key(), ["bundle"])], serial=1)
        )
    assert store.read_json(KEY_LIST_FILE) == second
    reloaded = held_keys(roots, store)  # type: ignore[arg-type]
    assert reloaded.key_list is not None
    assert reloaded.key_list.serial == 2


def _resign(bundle: Path, out: Path, key: Ed25519PrivateKey, key_id: str) -> Path:
    """``bundle`` with its manifest's key_id changed and signed again by ``key``."""
    with (
        tarfile.open(bundle, "r:") as src,
        tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as dst,
    ):
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == MANIFEST_NAME:
                manifest = json.loads(data)
                manifest["key_id"] = key_id
                data = json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=1).encode()
                data += b"\n"
                signature = base64.b64encode(keys.sign(key, data)) + b"\n"
            if member.name == SIGNATURE_NAME:
                data = signature
            info = tarfile.TarInfo(member.name)
            info.size, info.mtime, info.mode = len(data), member.mtime, 0o644
            import io

            dst.addfile(info, io.BytesIO(data))
    return out


def test_the_manifest_key_id_is_enforced(releases: ReleaseSet, tmp_path: Path) -> None:
    key = load_private_key(releases.private_key)
    trusted = load_public_keys(releases.public_key)
    same = _resign(
        releases.bundles["1.1.0"], tmp_path / "same.bundle", key, keys.key_id(key.public_key())
    )
    assert verify_bundle(same, trusted, "1.0.0").signer == keys.key_id(key.public_key())
    other = _resign(releases.bundles["1.1.0"], tmp_path / "other.bundle", key, "0" * 16)
    with pytest.raises(BundleRejectedError, match="names key"):
        verify_bundle(other, trusted, "1.0.0")


def test_a_revoked_bundle_key_no_longer_installs(releases: ReleaseSet) -> None:
    bundle_key = load_private_key(releases.private_key)
    root = _key()
    trusted = TrustedKeys(_ids(root)).adopt(  # type: ignore[arg-type]
        make_key_list(root, [(bundle_key.public_key(), ["bundle"])], serial=1)
    )
    assert verify_bundle(releases.bundles["1.1.0"], trusted.for_role("bundle"), "1.0.0")
    revoked = trusted.adopt(
        make_key_list(root, [], serial=2, revoked=[keys.key_id(bundle_key.public_key())])
    )
    with pytest.raises(BundleRejectedError, match=r"unsigned|bad-signature"):
        verify_bundle(releases.bundles["1.1.0"], revoked.for_role("bundle"), "1.0.0")


def test_it_makes_a_key_list_with_the_cli_and_a_counter_takes_it_from_etc(tmp_path: Path) -> None:
    """``madoguchi update keylist`` as IT runs it; the list provisioned beside the root key."""
    from update_helpers import DEV_BIN

    def cli(*argv: str) -> None:
        result = subprocess.run(
            [str(DEV_BIN / "madoguchi"), "update", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    etc = tmp_path / "update-keys"
    etc.mkdir()
    cli("keygen", str(tmp_path / "root.key"), str(etc / "root.pem"))
    cli("keygen", str(tmp_path / "bundle.key"), str(tmp_path / "bundle.pem"))
    cli("keygen", str(tmp_path / "pointer.key"), str(tmp_path / "pointer.pem"))
    old_id = keys.key_id(load_private_key(tmp_path / "bundle.key").public_key())
    cli(
        "keylist", "--root-key", str(tmp_path / "root.key"), "--serial", "3",
        "--bundle-key", str(tmp_path / "bundle.pem"),
        "--pointer-key", str(tmp_path / "pointer.pem"),
        "--bundle-key", str(tmp_path / "pointer.pem"),
        "--revoke", "00000000deadbeef",
        "--out", str(etc / "keys.json"),
    )  # fmt: skip
    store = StatusStore(tmp_path / "update")
    trusted = held_keys(load_public_keys(etc), store, etc)
    assert trusted.key_list is not None
    assert trusted.key_list.serial == 3
    assert trusted.key_list.revoked == {"00000000deadbeef"}
    pointer_id = keys.key_id(load_private_key(tmp_path / "pointer.key").public_key())
    assert trusted.key_list.keys[pointer_id][1] == {"bundle", "pointer"}
    assert old_id in trusted.for_role("bundle")
    assert old_id not in trusted.for_role("pointer")
