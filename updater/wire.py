"""The update endpoints' bodies as msgspec Structs (``updater/server.py``, mounted under
``/updates`` of the central server; ``updater/download.py`` on the counter).

Here rather than in ``sync/`` so that the updater, which runs alone on a counter
(``madoguchi update``) and alone as ``madoguchi update serve``, needs nothing of the
sync package. ``sync/server/openapi.py`` turns these into the OpenAPI document's schemas.

The server decodes IT's signed documents (``PUT /keys``, ``PUT /releases/<channel>``)
strictly: a missing or mistyped field is a 400 naming it. A device's status report is
typed field by field but may carry fields this server does not know: the reports wait in
the counter's outbox (``reports.jsonl``) across updates and rollbacks, and a report
written by a newer version must not block the ones behind it for ever.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = [
    "Fleet",
    "FleetDevice",
    "KeyListAnswer",
    "PointerAnswer",
    "Refusal",
    "Release",
    "ReportAnswer",
    "SignedDocument",
    "StatusReport",
    "StatusReports",
]

#: A bundle's file name.
BUNDLE_NAME = "^madoguchi-[A-Za-z0-9.+!_-]+\\.bundle$"
#: A channel's name.
CHANNEL = "^[a-z0-9-]{1,32}$"
#: A device id in a path.
DEVICE_ID = "^[A-Za-z0-9._-]{1,64}$"
#: Most reports one request may carry (the outbox is sent whole; its history is 20).
MAX_REPORTS = 1000
#: The states a counter's updater reports (``updater.status.STATES``).
State = Literal["idle", "downloaded", "deferred", "installed", "committed", "rolled_back", "failed"]


class Release(msgspec.Struct, frozen=True):
    """A published bundle: the unsigned ``latest`` answer and ``PUT /bundles``' answer."""

    version: str
    bundle: Annotated[str, msgspec.Meta(pattern=BUNDLE_NAME)]
    size: Annotated[int, msgspec.Meta(ge=0)]
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


class SignedDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A key list or a channel pointer as IT signed it (``updater.trust``): the canonical
    JSON text and its Ed25519 signature in base64."""

    signed: str
    signature: str


class StatusReport(msgspec.Struct, frozen=True, omit_defaults=True):
    """One state change of a counter's updater (``updater.status.StatusStore.record``)."""

    state: State
    at: str
    version: str | None = None
    running: str | None = None
    reason: str = ""
    detail: str = ""
    previous: str | None = None
    bundle: str | None = None


class StatusReports(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /devices/<device_id>/status``: the counter's unsent reports, oldest first."""

    reports: Annotated[list[StatusReport], msgspec.Meta(max_length=MAX_REPORTS)] = []
    #: What the counter is now, sent on every poll (the fleet's last contact and backlog;
    #: ``updater.rollout.StatusPost`` is how the store keeps them).
    running: str | None = None
    channel: str | None = None
    #: ``machine/python``, as :class:`updater.manifest.Platform` prints it.
    platform: str | None = None
    #: Records in the counter's outbox not yet acknowledged by the server, and quarantined.
    backlog: Annotated[int, msgspec.Meta(ge=0)] | None = None
    quarantined: Annotated[int, msgspec.Meta(ge=0)] | None = None


class ReportAnswer(msgspec.Struct, frozen=True):
    """How many reports the server took."""

    accepted: int


class FleetDevice(msgspec.Struct):
    """One counter as the fleet view shows it (``updater.store.UpdateStore.fleet``)."""

    device_id: str
    office_code: str | None
    #: Its last update state and the version and reason it named.
    state: str
    version: str | None
    running: str | None
    reason: str
    detail: str
    reported_at: str
    #: When the server last heard from it (any status post, reports or not).
    last_contact: str | None
    channel: str | None
    platform: str | None
    backlog: int | None
    quarantined: int | None
    #: ``ok``, ``failing`` (its last update failed or was rolled back) or ``unknown``.
    health: str


class Fleet(msgspec.Struct, frozen=True):
    """``GET /fleet``: every counter's last report."""

    devices: list[FleetDevice]


class KeyListAnswer(msgspec.Struct, frozen=True):
    """``PUT /keys``: the serial and key ids of the key list taken."""

    serial: int
    keys: list[str]


class PointerAnswer(msgspec.Struct, frozen=True):
    """``PUT /releases/<channel>``: the pointer taken."""

    channel: str
    version: str
    serial: int
    expires: str


class Refusal(msgspec.Struct, frozen=True, omit_defaults=True):
    """The update endpoints' own refusals (the gate's are ``sync.wire.Error``)."""

    error: str
    reason: str | None = None
