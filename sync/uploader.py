"""The uploader daemon: drains the store's outbox to the central server.

One *round* sends the oldest pending records as one batch:

- accepted or duplicate → acknowledged, they leave the queue;
- a record the server refuses (a 4xx about that record) → quarantined: kept,
  reported in the uploader status, and no longer blocking the records behind it.
  A 4xx about the whole request splits the batch in halves until the record at
  fault is found;
- network errors, TLS failures, 5xx, garbled answers and a refused device →
  nothing is marked; the round is retried after a capped exponential backoff
  with full jitter.

After every contact the uploader writes its state into the store (queue length,
last success, last error, reachability, clock skew) for the TUI.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from device.store import OutboxItem, Store, UploaderStatus, current_boot_id
from sync.client import SyncClient
from sync.errors import (
    BatchRejectedError,
    DeviceRefusedError,
    ProtocolError,
    RetryableSyncError,
    ServerFailureError,
)
from sync.protocol import REJECTED

log = logging.getLogger(__name__)


@dataclass
class Backoff:
    """Capped exponential backoff with full jitter: ``uniform(0, min(cap, base·2ⁿ))``."""

    base_s: float = 1.0
    cap_s: float = 300.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """The wait before the next attempt; counts one more failure."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.failures, 32)))
        self.failures += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        """Forget past failures after a success."""
        self.failures = 0


@dataclass(frozen=True, slots=True)
class RoundResult:
    """What one round did."""

    sent: int = 0
    acked: int = 0
    quarantined: int = 0
    error: str | None = None
    more_pending: bool = False


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


class Uploader:
    """Sends the store's outbox to the server, one batch per round."""

    def __init__(
        self,
        store: Store,
        client: SyncClient,
        *,
        batch_size: int = 200,
        backoff: Backoff | None = None,
        wall: Callable[[], float] = time.time,
        boot_id: str | None = None,
        on_contact: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.batch_size = batch_size
        self.backoff = backoff or Backoff()
        self.wall = wall
        self.boot_id = boot_id if boot_id is not None else current_boot_id()
        #: Runs after every round that reached the server (a batch or an idle ping): the
        #: clerk accounts' sync (sync/clerks.py), which must not raise.
        self.on_contact = on_contact

    def send_round(self, *, ping: bool = False) -> RoundResult:
        """Send one batch (or, with nothing to send and ``ping``, just check the clock)."""
        items = self.store.pending(self.batch_size)
        now = self.wall()
        if not items and not ping:
            return RoundResult()
        try:
            skew: float | None
            high_water: int | None
            if items:
                acked, quarantined, skew, high_water = self._deliver(items)
            else:
                acked, quarantined, high_water = 0, 0, None
                skew = self.client.clock_skew()
        except RetryableSyncError as exc:
            self._failed(items, exc, now)
            return RoundResult(sent=len(items), error=str(exc), more_pending=bool(items))
        fields: dict[str, object] = {
            "last_attempt": _iso(now),
            "last_success": _iso(now),
            "last_error": None,
            "server_reachable": True,
            "device_revoked": False,
        }
        if skew is not None:
            fields["clock_skew_s"] = skew
            fields["clock_checked_boot"] = self.boot_id
        if high_water is not None:
            fields["server_high_water"] = high_water
        self.store.set_uploader_status(**fields)
        return RoundResult(
            sent=len(items),
            acked=acked,
            quarantined=quarantined,
            more_pending=len(items) == self.batch_size,
        )

    def _failed(self, items: Sequence[OutboxItem], exc: RetryableSyncError, now: float) -> None:
        reachable = isinstance(exc, (ServerFailureError, ProtocolError, DeviceRefusedError))
        revoked = isinstance(exc, DeviceRefusedError) and exc.status == 403
        log.warning("upload failed, will retry: %s", exc)
        if items:
            self.store.note_attempt([i.seq for i in items], str(exc))
        self.store.set_uploader_status(
            last_attempt=_iso(now),
            last_error=str(exc),
            server_reachable=reachable,
            device_revoked=revoked,
        )

    def _deliver(self, items: Sequence[OutboxItem]) -> tuple[int, int, float | None, int | None]:
        """Send ``items``; settle what the server decided. Splits on a request-level 4xx."""
        try:
            reply = self.client.post_batch(items)
        except BatchRejectedError as exc:
            if len(items) == 1:
                self.store.mark_quarantined({items[0].seq: str(exc)})
                log.error("record %s quarantined: %s", items[0].transaction_id, exc,
                          extra={"transaction_id": items[0].transaction_id})
                return 0, 1, None, None  # a refusal carries no clock or high-water mark
            half = len(items) // 2
            a_acked, a_quar, a_skew, a_mark = self._deliver(items[:half])
            b_acked, b_quar, b_skew, b_mark = self._deliver(items[half:])
            skew = b_skew if b_skew is not None else a_skew
            mark = b_mark if b_mark is not None else a_mark
            return a_acked + b_acked, a_quar + b_quar, skew, mark
        rejected = {
            seq: err or "rejected" for seq, (st, err) in reply.statuses.items() if st == REJECTED
        }
        acked = [seq for seq, (st, _) in reply.statuses.items() if st != REJECTED]
        if acked:
            self.store.mark_acked(acked)
        if rejected:
            self.store.mark_quarantined(rejected)
            log.error("%d record(s) quarantined by the server: %s", len(rejected), rejected)
        return len(acked), len(rejected), reply.clock_skew_s, reply.high_water

    def drain(self, max_rounds: int = 1_000_000) -> int:
        """Send until the queue is empty or a round fails; returns records acknowledged."""
        total = 0
        for _ in range(max_rounds):
            result = self.send_round()
            total += result.acked
            if result.error is not None or not result.sent:
                break
        return total

    def run(
        self,
        stop: threading.Event,
        *,
        poll_interval_s: float = 0.05,
        ping_interval_s: float = 60.0,
        sleep: Callable[[float], object] | None = None,
        on_ready: Callable[[], object] | None = None,
        on_tick: Callable[[], object] | None = None,
        tick_s: float = 5.0,
    ) -> None:
        """Loop until ``stop`` is set. ``sleep`` defaults to waiting on ``stop``
        (tests inject a clock that advances instead of sleeping). ``on_tick`` (the
        systemd watchdog ping) runs every turn and at least every ``tick_s``."""
        wait: Callable[[float], object] = sleep or stop.wait
        last_contact = float("-inf")
        if on_ready is not None:
            on_ready()
        while not stop.is_set():
            if on_tick is not None:
                on_tick()
            ping = self.wall() - last_contact >= ping_interval_s
            result = self.send_round(ping=ping)
            if result.error is not None:
                delay = self.backoff.next_delay()
            else:
                self.backoff.reset()
                if result.sent or ping:
                    last_contact = self.wall()
                    if self.on_contact is not None:
                        self.on_contact()
                delay = 0.0 if result.more_pending else poll_interval_s
            while delay > 0 and not stop.is_set():
                # Long backoffs are slept in slices so the watchdog keeps being fed.
                step = min(delay, tick_s) if on_tick is not None else delay
                wait(step)
                delay -= step
                if on_tick is not None and delay > 0:
                    on_tick()


def backlog_status(status: UploaderStatus) -> str:
    """The uploader's one-line ``STATUS=`` for ``systemctl status madoguchi-sync``.

    ``12 waiting, 0 quarantined; last upload 2026-12-03T06:40:00Z`` (``never`` before the
    first), with the last error when the last attempt failed.
    """
    text = (
        f"{status.queue_length} waiting, {status.quarantined} quarantined;"
        f" last upload {status.last_success or 'never'}"
    )
    if status.last_error:
        text += f"; retrying: {' '.join(status.last_error.split())[:120]}"
    return text
