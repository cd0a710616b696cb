"""Who may sign what: root keys, the signed key list, and the signed channel pointer.

Three kinds of signed document, after TUF's roles (root, targets, timestamp):

- **Root keys** are the ``.pem`` files in ``[update] keys`` on the counter
  (``/etc/madoguchi/update-keys``, root's). A root key may sign anything: a
  small site keeps one IT key for everything, as before.
- The **key list** (``madoguchi update keylist``), signed by a root key, names
  further keys and their roles — ``bundle`` (signs bundles' manifests) and
  ``pointer`` (signs channel pointers) — and revokes keys by id. It carries a
  ``serial``: a counter keeps the highest it accepted, in its own state, and
  refuses a lower one, so an old list cannot bring a revoked key back.
- The **channel pointer** says which release is the latest on a channel
  (``madoguchi update publish --pointer-key``). It is signed by a key with the
  ``pointer`` role, has a ``serial`` and an ``expires`` time: a counter refuses
  an expired pointer and one older than the last it accepted for that channel,
  so nobody can freeze a counter on an old release by replaying an old answer.

Each document travels as ``{"signed": "<canonical JSON text>", "signature": "<base64>"}``:
the signature covers the exact text, which is never re-serialised before checking.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from madoguchi.errors import UpdateError
from updater import keys
from updater.errors import BundleRejectedError
from updater.manifest import parse_version

__all__ = [
    "KEY_LIST_KIND",
    "POINTER_KIND",
    "ROLES",
    "KeyList",
    "Pointer",
    "TrustRejectedError",
    "TrustedKeys",
    "make_key_list",
    "make_pointer",
    "verify_key_list",
    "verify_pointer",
]

KEY_LIST_KIND = "madoguchi-update-keys"
POINTER_KIND = "madoguchi-channel-pointer"
ROLES = ("bundle", "pointer")
_MAX_DOC = 1 << 16


class TrustRejectedError(UpdateError):
    """A key list or channel pointer was refused; ``reason`` says why.

    One of ``unsigned``, ``bad-signature``, ``malformed``, ``expired``, ``replayed``,
    ``wrong-channel``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{message} ({reason})")
        self.reason = reason


def _canonical(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _sign(private: Ed25519PrivateKey, data: Mapping[str, Any]) -> dict[str, str]:
    text = _canonical(data)
    signature = keys.sign(private, text.encode())
    return {"signed": text, "signature": base64.b64encode(signature).decode()}


def _open(
    doc: Any, kind: str, signers: Mapping[str, Ed25519PublicKey]
) -> tuple[dict[str, Any], str]:
    """The signed body of ``doc`` and the id of the key that signed it."""
    if not isinstance(doc, dict) or "signed" not in doc:
        raise TrustRejectedError("unsigned", f"the {kind} is not signed")
    text, encoded = doc.get("signed"), doc.get("signature")
    if not isinstance(text, str) or not isinstance(encoded, str) or len(text) > _MAX_DOC:
        raise TrustRejectedError("malformed", f"the {kind} is not a signed document")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TrustRejectedError("bad-signature", f"the {kind}'s signature is not base64") from exc
    signer = next(
        (kid for kid, key in signers.items() if keys.verify(key, signature, text.encode())), None
    )
    if signer is None:
        raise TrustRejectedError(
            "bad-signature", f"the {kind} is not signed by a key trusted for it"
        )
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise TrustRejectedError("malformed", f"the {kind} does not parse") from exc
    if not isinstance(body, dict) or body.get("kind") != kind or body.get("format") != 1:
        raise TrustRejectedError("malformed", f"the signed document is not a {kind}")
    if body.get("key_id") != signer:
        raise TrustRejectedError(
            "malformed", f"the {kind} names key {body.get('key_id')!r}, signed by {signer}"
        )
    return body, signer


def _serial(body: Mapping[str, Any], kind: str) -> int:
    serial = body.get("serial")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 1:
        raise TrustRejectedError("malformed", f"the {kind} has no valid serial")
    return serial


def _raw(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class KeyList:
    """Delegated keys with their roles, and revoked key ids, as of ``serial``."""

    serial: int
    keys: dict[str, tuple[Ed25519PublicKey, frozenset[str]]]
    revoked: frozenset[str]
    signer: str
    document: dict[str, str] = field(default_factory=dict)


def make_key_list(
    root: Ed25519PrivateKey,
    entries: Iterable[tuple[Ed25519PublicKey, Iterable[str]]],
    *,
    serial: int,
    revoked: Iterable[str] = (),
) -> dict[str, str]:
    """IT: a key list signed by ``root``. ``entries`` are (public key, roles)."""
    listed = []
    for public, roles in entries:
        wanted = sorted(set(roles))
        if not wanted or not set(wanted) <= set(ROLES):
            raise ValueError(f"roles must be among {ROLES}, got {wanted}")
        listed.append({"id": keys.key_id(public), "public": _raw(public), "roles": wanted})
    body = {
        "kind": KEY_LIST_KIND,
        "format": 1,
        "serial": serial,
        "issued": datetime.now(UTC).isoformat(timespec="seconds"),
        "key_id": keys.key_id(root.public_key()),
        "keys": listed,
        "revoked": sorted(set(revoked)),
    }
    return _sign(root, body)


def verify_key_list(doc: Any, roots: Mapping[str, Ed25519PublicKey]) -> KeyList:
    """Check a key list against the root keys; raises :class:`TrustRejectedError`."""
    body, signer = _open(doc, KEY_LIST_KIND, roots)
    serial = _serial(body, KEY_LIST_KIND)
    revoked = body.get("revoked", [])
    if not isinstance(revoked, list) or not all(isinstance(r, str) for r in revoked):
        raise TrustRejectedError("malformed", "the key list's revocations are not key ids")
    if signer in revoked:
        raise TrustRejectedError("bad-signature", "the key list is signed by a key it revokes")
    listed: dict[str, tuple[Ed25519PublicKey, frozenset[str]]] = {}
    try:
        for entry in body["keys"]:
            public = Ed25519PublicKey.from_public_bytes(
                base64.b64decode(entry["public"], validate=True)
            )
            roles = frozenset(entry["roles"])
            if keys.key_id(public) != entry["id"] or not roles or not roles <= set(ROLES):
                raise ValueError(f"bad entry {entry.get('id')!r}")
            listed[entry["id"]] = (public, roles)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise TrustRejectedError("malformed", f"the key list's keys do not parse: {exc}") from exc
    return KeyList(serial, listed, frozenset(revoked), signer, dict(doc))


@dataclass(frozen=True)
class TrustedKeys:
    """The root keys, and the key list accepted on top of them (if any)."""

    roots: dict[str, Ed25519PublicKey]
    key_list: KeyList | None = None

    def for_role(self, role: str) -> dict[str, Ed25519PublicKey]:
        """Every key that may sign for ``role``: roots and listed keys, minus revoked ones."""
        revoked = self.key_list.revoked if self.key_list else frozenset()
        found = {kid: key for kid, key in self.roots.items() if kid not in revoked}
        if self.key_list is not None:
            for kid, (key, roles) in self.key_list.keys.items():
                if role in roles and kid not in revoked:
                    found[kid] = key
        return found

    def adopt(self, doc: Any) -> TrustedKeys:
        """These keys with key list ``doc`` on top, if it checks out and is not older
        than the one held; raises :class:`TrustRejectedError` otherwise."""
        listed = verify_key_list(doc, self.roots)
        if self.key_list is not None and listed.serial < self.key_list.serial:
            raise TrustRejectedError(
                "replayed",
                f"key list serial {listed.serial} is older than the accepted "
                f"{self.key_list.serial}",
            )
        return TrustedKeys(self.roots, listed)


@dataclass(frozen=True)
class Pointer:
    """A verified channel pointer: the latest release on ``channel``."""

    channel: str
    version: str
    bundle: str
    size: int
    sha256: str
    serial: int
    expires: datetime
    signer: str


def make_pointer(
    private: Ed25519PrivateKey,
    *,
    channel: str,
    version: str,
    bundle: str,
    size: int,
    sha256: str,
    valid_for: timedelta,
    serial: int | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """IT: a signed pointer to a release, valid for ``valid_for``.

    The serial defaults to the signing time in milliseconds, so a later pointer
    always carries a higher one.
    """
    now = now or datetime.now(UTC)
    body = {
        "kind": POINTER_KIND,
        "format": 1,
        "channel": channel,
        "version": version,
        "bundle": bundle,
        "size": size,
        "sha256": sha256,
        "serial": serial if serial is not None else int(now.timestamp() * 1000),
        "issued": now.isoformat(timespec="seconds"),
        "expires": (now + valid_for).isoformat(timespec="seconds"),
        "key_id": keys.key_id(private.public_key()),
    }
    return _sign(private, body)


def verify_pointer(
    doc: Any,
    trusted: TrustedKeys,
    *,
    channel: str,
    now: datetime | None = None,
    last_serial: int = 0,
) -> Pointer:
    """Check a channel pointer: signer with the ``pointer`` role, the channel asked for,
    not expired, not older than ``last_serial``. Raises :class:`TrustRejectedError`."""
    body, signer = _open(doc, POINTER_KIND, trusted.for_role("pointer"))
    serial = _serial(body, POINTER_KIND)
    try:
        pointer = Pointer(
            channel=str(body["channel"]),
            version=str(body["version"]),
            bundle=str(body["bundle"]),
            size=int(body["size"]),
            sha256=str(body["sha256"]),
            serial=serial,
            expires=datetime.fromisoformat(str(body["expires"])),
            signer=signer,
        )
        parse_version(pointer.version)
    except (KeyError, TypeError, ValueError, BundleRejectedError) as exc:
        raise TrustRejectedError("malformed", f"the channel pointer does not parse: {exc}") from exc
    if pointer.expires.tzinfo is None:
        raise TrustRejectedError("malformed", "the channel pointer's expiry has no time zone")
    if pointer.channel != channel:
        raise TrustRejectedError(
            "wrong-channel", f"the pointer is for channel {pointer.channel!r}, not {channel!r}"
        )
    if (now or datetime.now(UTC)) >= pointer.expires:
        raise TrustRejectedError(
            "expired", f"the channel pointer expired at {pointer.expires.isoformat()}"
        )
    if serial < last_serial:
        raise TrustRejectedError(
            "replayed",
            f"the channel pointer's serial {serial} is older than the accepted {last_serial}",
        )
    return pointer
