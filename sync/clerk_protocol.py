"""The wire bodies of the clerk-account endpoints (issue 16), as msgspec Structs.

Shared by the server (:mod:`sync.server.clerks`) and the counter's sync daemon
(:mod:`sync.clerks`), and ready for the generated OpenAPI description
(``msgspec.json.schema``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

ACTIVE, REVOKED = "active", "revoked"
#: Sign-in events one upload may carry.
MAX_SIGN_INS = 500


class ClerkEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One clerk as a counter receives it. A revoked clerk comes without a verifier."""

    clerk_id: str
    display_name: str
    status: Literal["active", "revoked"]
    generation: int
    kdf: Literal["scrypt"] = "scrypt"
    kdf_n: int = 0
    kdf_r: int = 0
    kdf_p: int = 0
    salt_b64: str = ""
    password_hash_b64: str = ""


class ClerkList(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``GET /v1/clerks``: the office's clerks changed after ``since`` (or all: ``full``)."""

    office_code: str
    generation: int
    full: bool
    clerks: list[ClerkEntry]


_ClerkId = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]*)?$")]


class SignInEventBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One sign-in attempt; ``clerk_id`` is empty for an id the counter does not know
    (the typed id is never kept: it may be a password typed into the wrong field)."""

    id: Annotated[int, msgspec.Meta(ge=1, le=2**62)]
    clerk_id: _ClerkId
    at: Annotated[str, msgspec.Meta(min_length=10, max_length=40)]
    action: Literal["sign_in", "sign_in_refused", "sign_out"]
    detail: Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[ -~]*$")] = ""


class SignInBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /v1/clerks/sign-ins``: the attempts above the counter's mark."""

    store_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
    events: Annotated[list[SignInEventBody], msgspec.Meta(min_length=1, max_length=MAX_SIGN_INS)]


class SignInAck(msgspec.Struct, frozen=True):
    """What the server now holds: every event of the batch (``up_to`` is its last id)."""

    stored: int
    up_to: int



__all__ = [
    "ACTIVE",
    "MAX_SIGN_INS",
    "REVOKED",
    "ClerkEntry",
    "ClerkList",
    "SignInAck",
    "SignInBatch",
    "SignInEventBody",
]
