"""第4-3 does what it decides: the held certificates are named and revoked, the card is
運用中 again on the central server (改正後), and the new issuance comes next.

The demo's real parts: the virtual card on the in-process reader, the local central
server with its registry (a child process), the uploader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.widgets import Static

from device.procedures.certificates import CardCertificates
from madoguchi.commands.demo import DEMO_SERVER_DIR, build_services, demo_sync
from madoguchi.config import Config
from sync.client import SyncClient
from tui.app import CounterApp

from .conftest import StepClock
from .helpers import (
    CARD_PROCEDURE_KEYS,
    card_settled,
    pick_procedure,
    sign_in,
    step_ready,
    wait_for,
)

SIZE = (80, 24)
KEYS = {**CARD_PROCEDURE_KEYS, "lost_card.found": ("enter",), "lost_card.explained": ("enter",),
        "lost_card.revocation_application": ("enter",),
        "lost_card.new_issuance": ("home", "enter")}  # はい: the default is いいえ


async def test_found_card_revokes_names_and_sets_the_card_in_operation(
    state_dir: Path, clock: StepClock
) -> None:
    config = Config()  # 2026-11-25 on the step clock: 改正後
    services = build_services(config, state_dir=state_dir, demo=True, clock=clock)
    sync = demo_sync(services, state_dir, config)
    app = CounterApp(services=services)
    device_tls = state_dir / DEMO_SERVER_DIR / "device"
    try:
        async with app.run_test(size=SIZE) as pilot:
            await sign_in(pilot)
            sync.start()
            await wait_for(pilot, lambda: app.sync_state.server_reachable is True, timeout=60)
            card: CardCertificates = services._card_certificates()
            assert sync.server is not None
            with SyncClient(sync.server.url, device_tls) as client:
                # reported lost earlier: the card is 一時停止 in the registry
                assert client.set_card_status(card.auth_serial, "suspended", "lost") == "suspended"
            await card_settled(pilot)
            await pick_procedure(pilot, "4-3")
            await wait_for(pilot, lambda: app.screen.id == "actor")
            await pilot.press("enter")  # 本人
            await wait_for(pilot, lambda: app.screen.id == "checklist")
            session: Any = app.screen.session  # type: ignore[attr-defined]
            while (step := session.next_step()) is not None:
                await wait_for(pilot, lambda: step_ready(app))
                if step.key.endswith("card.pin_result"):
                    await pilot.press("enter")
                    await wait_for(pilot, lambda: app.screen.id == "pin-prompt")
                    await pilot.press(*"1234", "enter")
                    await wait_for(pilot, lambda: app.screen.id == "checklist")
                else:
                    await pilot.press(*KEYS[step.key])
                await wait_for(pilot, lambda k=step.key: app.screen.id == "outcome"
                               or session.next_step() is None or session.next_step().key != k)
            await wait_for(pilot, lambda: app.screen.id == "outcome")
            certificates = app.screen.query_one("#outcome-certificates", Static)
            await wait_for(pilot, lambda: "失効させる電子証明書" in str(certificates.render()))
            shown = str(certificates.render())
            assert "署名用電子証明書" in shown
            # The serial by its first digits (40 hex digits wrapped a notice over five
            # lines at 80 columns); the record below keeps it whole.
            assert len(card.auth_serial) > 12
            assert f"利用者証明用電子証明書（シリアル {card.auth_serial[:8]}...）" in shown
            assert card.auth_serial not in shown
            assert "0 件" not in shown
            await pilot.press("enter")  # 記録して終了
            # the new issuance is offered next: its checklist opens for the same person
            await wait_for(pilot, lambda: app.screen.id == "checklist", timeout=30)
            assert app.screen.session.info.id == "2-1-1"  # type: ignore[attr-defined]
            with SyncClient(sync.server.url, device_tls) as client:
                status = client._request("GET", f"/v1/cards/{card.auth_serial}/operation-status")
            rows = services.store.db.execute("SELECT payload FROM transactions").fetchall()
    finally:
        sync.stop()
        services.close()
    assert status[0]["status"] == "in_operation"
    [record] = [json.loads(row[0]) for row in rows]
    assert record["procedure"] == "4-3"
    assert {(c["kind"], c["action"]) for c in record["certificates"]} == {
        ("sign", "revoked"), ("auth", "revoked")}
    assert card.auth_serial in {c["serial"] for c in record["certificates"]}
    assert record["extra"]["operation_status_set"] == "in_operation"
    assert record["extra"]["next_procedure"] == "2-1-1"
    assert not any("0 件" in r["text"] for r in record["reasons"])
