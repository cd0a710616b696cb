"""Two batches that name the same new certificates, in different orders, both commit.

Each batch writes its certificates' registry rows in one upsert. Two server processes
inserting the same new serials in opposite orders would each hold one index entry the
other waits for, and PostgreSQL would break the deadlock by failing one batch (answered
503; the uploader sends it again, but the first scale-out benchmark saw it at once). The
rows are written in serial order, as they were locked, so the second batch waits for
the first instead.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from datetime import UTC, datetime

from device.records import CertificateAction
from device.store import GENESIS_HASH, record_hash
from sync.errors import RepositoryError
from sync.pgcluster import PgCluster
from sync.protocol import ACCEPTED, IncomingRecord, parse_item
from sync.server.repository import SqlRepository, open_repository
from tests.sync.sync_support import make_record

ROUNDS = 15
SERIALS = 40


def _chain(serials: list[str], first_seq: int, prev: str) -> tuple[list[IncomingRecord], str]:
    """One record per serial, each issuing it."""
    items = []
    for seq, serial in enumerate(serials, start=first_seq):
        record = dataclasses.replace(
            make_record(seq), certificates=(CertificateAction("sign", "issued", serial),)
        )
        payload = json.loads(json.dumps(record.to_payload()))
        digest = record_hash(seq, prev, payload)
        items.append(parse_item({"seq": seq, "transaction_id": payload["transaction_id"],
                                 "prev_hash": prev, "hash": digest, "payload": payload}))
        prev = digest
    return items, prev


def test_two_batches_naming_the_same_new_serials_in_opposite_orders_both_commit(
    pg_cluster: PgCluster,
) -> None:
    url = pg_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")
    repos: list[SqlRepository] = [open_repository(url, pool_size=1) for _ in range(2)]
    try:
        repos[0].migrate()
        now = datetime.now(UTC).isoformat()
        devices = ("counter-east", "counter-west")
        for device in devices:
            repos[0].add_enrolment_token(f"h-{device}", device, "131016", "2999-01-01T00:00:00Z")
            repos[0].use_enrolment_token(f"h-{device}", now)
            repos[0].bind_certificate(device, "131016", f"serial-{device}", now)
        prev = [GENESIS_HASH, GENESIS_HASH]
        failures: list[str] = []
        for round_ in range(ROUNDS):
            serials = [f"R{round_:02d}-{n:03d}" for n in range(SERIALS)]
            batches = []
            for side in (0, 1):
                items, prev[side] = _chain(
                    serials if side == 0 else serials[::-1], round_ * SERIALS + 1, prev[side]
                )
                batches.append(items)
            start = threading.Barrier(2)

            def send(side: int, batches: list[list[IncomingRecord]] = batches,
                     start: threading.Barrier = start) -> None:
                start.wait()
                try:
                    outcomes, _ = repos[side].ingest(
                        devices[side], batches[side], received_at=datetime.now(UTC)
                    )
                    failures.extend(str(o.error) for o in outcomes if o.status != ACCEPTED)
                except RepositoryError as exc:
                    failures.append(str(exc))

            threads = [threading.Thread(target=send, args=(side,)) for side in (0, 1)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert failures == []
        for side, device in enumerate(devices):
            info = repos[0].device(device)
            assert info is not None, side
            assert info.high_water == ROUNDS * SERIALS, (side, info)
        entry = repos[0].certificate_status("R07-011")
        assert entry is not None
        assert entry.status == "valid", entry
    finally:
        for repo in repos:
            repo.close()
