"""The hash chain that makes a device's records tamper-evident.

Each record's hash covers its sequence number, the previous record's hash and
its canonical payload, so editing, removing or reordering any stored record
breaks the chain from that point on. The server recomputes the same function
(one implementation, imported from here) to verify what it receives.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: ``prev_hash`` of a device's first record.
GENESIS_HASH = "0" * 64


def canonical_json(payload: dict[str, Any]) -> str:
    """The one serialisation that is hashed: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(seq: int, prev_hash: str, payload: dict[str, Any]) -> str:
    """SHA-256 over ``seq``, ``prev_hash`` and the canonical payload, as hex."""
    return hash_canonical(seq, prev_hash, canonical_json(payload))


def hash_canonical(seq: int, prev_hash: str, canonical: str) -> str:
    """:func:`record_hash` for a payload already in :func:`canonical_json` form."""
    digest = hashlib.sha256()
    digest.update(f"{seq}\n{prev_hash}\n".encode())
    digest.update(canonical.encode())
    return digest.hexdigest()
