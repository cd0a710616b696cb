"""The counter's side of the key list and the channel pointer: what it accepted last.

The highest key list accepted and, per channel, the serial of the last accepted
pointer are kept in the updater's own state (:class:`updater.status.StatusStore`,
root's only), so neither an app user nor the server can make a counter go back.
Once a counter holds a key list, or has accepted one signed pointer on a channel,
an unsigned answer for that channel is refused: the only way in is signed.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from updater.status import StatusStore
from updater.trust import Pointer, TrustedKeys, TrustRejectedError, verify_pointer

__all__ = ["KEY_LIST_FILE", "POINTERS_FILE", "accept_key_list", "accept_pointer", "held_keys"]

log = logging.getLogger(__name__)

#: The accepted key list, verbatim (in the updater's state directory).
KEY_LIST_FILE = "keys.json"
#: ``{channel: serial}`` of the last accepted channel pointers.
POINTERS_FILE = "pointers.json"
#: A key list provisioned with the counter's image, beside the root keys.
PROVISIONED_NAME = "keys.json"


def _provisioned(keys_path: Path) -> Any:
    source = keys_path / PROVISIONED_NAME if keys_path.is_dir() else None
    if source is None or not source.is_file():
        return None
    try:
        return json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", source, exc)
        return None


def held_keys(
    roots: dict[str, Ed25519PublicKey], status: StatusStore, keys_path: Path | None = None
) -> TrustedKeys:
    """The root keys with the highest valid key list this counter holds on top."""
    best = TrustedKeys(roots)
    candidates = [status.read_json(KEY_LIST_FILE)]
    if keys_path is not None:
        candidates.append(_provisioned(keys_path))
    for doc in candidates:
        if doc is None:
            continue
        try:
            best = best.adopt(doc)
        except TrustRejectedError as exc:
            log.warning("key list not used: %s", exc)
    return best


def accept_key_list(trusted: TrustedKeys, status: StatusStore, doc: Any) -> TrustedKeys:
    """Take the key list the server serves, if valid and not older; keep it."""
    adopted = trusted.adopt(doc)
    if (
        trusted.key_list is None
        or adopted.key_list is None
        or (adopted.key_list.serial > trusted.key_list.serial)
    ):
        status.write_json(KEY_LIST_FILE, doc)
    return adopted


def _serials(status: StatusStore) -> dict[str, int]:
    data = status.read_json(POINTERS_FILE)
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int)}


def signed_pointers_required(trusted: TrustedKeys, status: StatusStore, channel: str) -> bool:
    """Whether an unsigned answer for ``channel`` must be refused."""
    return trusted.key_list is not None or channel in _serials(status)


def accept_pointer(
    trusted: TrustedKeys,
    status: StatusStore,
    doc: Any,
    *,
    channel: str,
    now: datetime | None = None,
) -> Pointer:
    """Verify a channel pointer against what this counter accepted before; remember it."""
    serials = _serials(status)
    pointer = verify_pointer(
        doc, trusted, channel=channel, now=now, last_serial=serials.get(channel, 0)
    )
    if pointer.serial > serials.get(channel, 0):
        status.write_json(POINTERS_FILE, {**serials, channel: pointer.serial})
    return pointer
