"""PostgreSQL plans each statement of the server for its parameters.

psycopg prepares a statement on its fifth use, and PostgreSQL then keeps a generic plan
in that connection when it looks no worse than the custom ones so far. On a new server
the tables are empty at that moment, so the kept plan reads whole tables; nothing makes
it plan again until an ``ANALYZE``, and the pool keeps its connections for hours. The
scale-out benchmark showed it: PostgreSQL's share of a batch grew threefold within a
minute of ingest (docs/BENCHMARKS.md). The server's connections plan every execution
(``plan_cache_mode = force_custom_plan``); this test walks the first minutes of a new
server and asks PostgreSQL which plan the connection would use.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from device.store import GENESIS_HASH, record_hash
from sync.pgcluster import PgCluster
from sync.protocol import ACCEPTED, parse_item
from sync.server.repository import SqlRepository, open_repository
from tests.sync.sync_support import make_record

DEVICE = "counter-new"
BATCH = 2


def _batch(first_seq: int, prev: str) -> tuple[list[Any], str]:
    items = []
    for seq in range(first_seq, first_seq + BATCH):
        payload = json.loads(json.dumps(make_record(seq).to_payload()))
        digest = record_hash(seq, prev, payload)
        items.append(parse_item({"seq": seq, "transaction_id": payload["transaction_id"],
                                 "prev_hash": prev, "hash": digest, "payload": payload}))
        prev = digest
    return items, prev


def _plan_of_kept_statement(repo: SqlRepository, fragment: str, values: list[str]) -> str:
    """The plan the pool's connection would run for its prepared statement containing
    ``fragment`` (the pool has one connection: the one that prepared it), its
    parameters taken from ``values`` in turn."""
    with repo.dialect.read() as cur:
        cur.execute(
            "SELECT name, statement, generic_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s",
            [f"%{fragment}%"],
        )
        found = cur.fetchall()
        assert len(found) == 1, found
        name, text, _ = found[0]
        count = len(re.findall(r"\$\d+", text))
        params = [values[i % len(values)] for i in range(count)]
        # EXPLAIN takes no bound parameters: the values go in as quoted literals.
        cur.execute(sql.SQL("EXPLAIN EXECUTE {}({})").format(
            sql.Identifier(name), sql.SQL(", ").join(sql.Literal(p) for p in params)))
        return "\n".join(row[0] for row in cur.fetchall())


def test_a_statement_prepared_on_empty_tables_is_planned_again_when_they_are_large(
    pg_cluster: PgCluster,
) -> None:
    url = pg_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")
    repo = open_repository(url, pool_size=1)
    try:
        repo.migrate()
        now = datetime.now(UTC).isoformat()
        repo.add_enrolment_token("h-new", DEVICE, "131016", "2999-01-01T00:00:00+00:00")
        repo.use_enrolment_token("h-new", now)
        repo.bind_certificate(DEVICE, "131016", "serial-new", now)
        # The first minutes: batches into empty tables, every statement used often
        # enough to be prepared and to have its generic plan weighed.
        prev, seq = GENESIS_HASH, 1
        for _ in range(20):
            items, prev = _batch(seq, prev)
            seq += BATCH
            outcomes, _ = repo.ingest(DEVICE, items, received_at=datetime.now(UTC))
            assert all(o.status == ACCEPTED for o in outcomes)
        # Then the fleet's certificates arrive (written here in one go, as a day of
        # uploads would be) and no ANALYZE has run yet.
        with psycopg.connect(url, autocommit=True) as other:
            other.execute(
                "INSERT INTO certificate_status (serial, kind, status, updated_at)"
                " SELECT 'fleet-' || i, 'sign', 'valid', '2026-11-25T09:00:00+09:00'"
                " FROM generate_series(1, 60000) AS i"
            )
        plan = _plan_of_kept_statement(
            repo, "FROM certificate_status WHERE serial IN", ["fleet-7", "fleet-8"]
        )
        # The registry check of a batch looks its few serials up; it must not read the
        # whole registry (a kept generic plan: "Seq Scan on certificate_status").
        assert "Seq Scan" not in plan, plan
        assert "certificate_status_pkey" in plan, plan
    finally:
        repo.close()
