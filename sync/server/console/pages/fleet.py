"""窓口端末 (``/fleet``): the counters of the account's offices, their enrolment, last
upload and record chain, and what the update delivery knows of each (running version,
channel, last contact, unsent backlog, update health: ``updater.store``)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sync.server.authz import Operation
from sync.server.console.chart import bar_colour, fleet_chart
from sync.server.console.shared import (
    Console,
    MenuItem,
    Page,
    office_scope,
    received_label,
    render,
    route,
    signed_in,
)
from updater.store import rollout_store


async def _fleet(request: Request) -> Response:
    """The counters of the account's offices: enrolment, last upload, chain status."""
    session = await signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await office_scope(request, session.staff, Operation.READ_CHAIN)
    counters = await run_in_threadpool(console.store.fleet, offices)
    updates = rollout_store(console.store.dialect)
    facts = await run_in_threadpool(updates.facts, [c.device_id for c in counters])
    chart = fleet_chart(
        (
            (
                f"{visible.get(c.office_code, c.office_code)} {c.device_id}",
                facts[c.device_id].backlog if c.device_id in facts else None,
                (
                    facts[c.device_id].last_contact if c.device_id in facts else None,
                    c.last_received_at or None,
                ),
            )
            for c in counters
        ),
        datetime.now(UTC),
    )
    return render(
        request,
        "fleet.html",
        session=session,
        visible=visible,
        office=office,
        counters=counters,
        facts=facts,
        chart=chart,
        bar_colour=bar_colour,
        when=received_label,
    )


PAGE = Page(
    routes=(route("/fleet", _fleet),),
    menu=(MenuItem("/fleet", "nav.fleet", Operation.READ_CHAIN),),
)
