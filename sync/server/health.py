"""``/healthz`` and ``/readyz``: what a load balancer or systemd asks of a server process.

- ``GET /healthz``: the process is alive and its event loop answers (no database query,
  so a database outage does not get every host restarted at once).
- ``GET /readyz``: this process can serve: the database answers and its schema is the
  version this code reads (``sync.server.migrations``). 503 with the reason otherwise,
  e.g. "the database schema is version 1, this server needs 2: run `madoguchi server
  migrate` as the schema's owner".

Both are open to everyone, without a client certificate (the authorization matrix,
``sync.server.authz``, says so in its own rows). While the server is not ready it refuses
every other request with 503 ``not_ready`` and the same reason, and looks again at most
once per :data:`RECHECK_S`, so it becomes ready by itself once IT has migrated.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sync import wire

log = logging.getLogger(__name__)

#: While not ready, how often a request may make the server look again.
RECHECK_S = 1.0
#: What the reason is before the first look.
UNCHECKED = "not checked yet"


class Readiness:
    """Whether the server can serve, from ``check`` (the repository's ``readiness``)."""

    def __init__(self, check: Callable[[], str | None],
                 on_change: Callable[[str | None], object] | None = None) -> None:
        self._check = check
        self._on_change = on_change
        self._lock = threading.Lock()
        self.reason: str | None = UNCHECKED
        self._checked = float("-inf")

    def check(self) -> str | None:
        """Look now (a database round trip); returns why not ready, or None."""
        reason = self._check()
        with self._lock:
            previous, self.reason = self.reason, reason
            changed = reason != previous
            self._checked = time.monotonic()
        if changed:
            if reason is None:
                # at start quietly; after a time not ready, as loudly as that was
                level = logging.INFO if previous == UNCHECKED else logging.WARNING
                log.log(level, "the server is ready")
            else:
                log.error("the server is not ready: %s", reason)
            if self._on_change is not None:
                self._on_change(reason)
        return reason

    def refusal(self) -> str | None:
        """Why a request cannot be served now (None: serve it). Looks again only while
        not ready, at most once per :data:`RECHECK_S`."""
        if self.reason is not None and time.monotonic() - self._checked >= RECHECK_S:
            return self.check()
        return self.reason


async def healthz(request: Request) -> Response:
    """The process is alive."""
    return _answer(wire.Liveness(alive=True))


async def readyz(request: Request) -> Response:
    """The process can serve (database reachable, schema current), or why not."""
    readiness: Readiness = request.app.state.ctx.readiness
    reason = await run_in_threadpool(readiness.check)
    if reason is None:
        return _answer(wire.Readiness(ready=True))
    return _answer(wire.Readiness(ready=False, reason=reason), 503)


def _answer(body: wire.Liveness | wire.Readiness, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json")
