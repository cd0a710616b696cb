"""暗証番号の初期化・再設定 ends in a transaction record like every procedure at the counter:
the engine writes it, the device's store and outbox keep it, the central server (SQLite
and PostgreSQL, over mutual TLS) accepts it and keeps it out of the issuance report.

The records come from real engine sessions: in person (written on the virtual card),
by proxy with the new PIN from the concealed reply form, the proxy's first visit
(the reply form is posted), a refusal and an abandonment.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from device.procedures import Session
from device.records import Decision, TransactionRecord, find_forbidden_data
from device.store import Store
from sync.client import SyncClient
from sync.uploader import Uploader
from tests.sync.conftest import ServerProcess

DAY = date(2026, 11, 25)


def _clock() -> datetime:
    return datetime(2026, 11, 25, 1, 30, tzinfo=UTC)


def _session(actor: str) -> Session:
    return Session.start("pin-reset", actor, DAY, operator_id="clerk01", office_code="131016",
                         clock=_clock)


def pin_reset_records() -> list[TransactionRecord]:
    """One record of each ending of the procedure."""
    records = []
    in_person = _session("self")
    in_person.record_many({"application.received": True, "pin_reset.pins": ["jpki_auth"],
                           "pin_reset.card_brought": True, "pin_reset.card_photo_match": True,
                           "pin_reset.second_id": True})
    in_person.record_many({"pin_reset.card_step.by": "written",
                           "pin_reset.card_step.written": ["jpki_auth"]})
    records.append(in_person.complete())
    proxy = _session("proxy")
    proxy.record_many({
        "application.received": True, "pin_reset.pins": ["jpki_auth", "jpki_sign"],
        "pin_reset.card_brought": True, "pin_reset.reply_form.present": True,
        "pin_reset.reply_form.pin_concealment": "sealed", "pin_reset.proxy_id": True,
        "pin_reset.holder_id": True, "pin_reset.card_step.by": "handed_to_jlis",
        "pin_reset.card_step.from_concealed_form": True})
    records.append(proxy.complete())
    first_visit = _session("proxy")
    first_visit.record_many({"application.received": True, "pin_reset.pins": ["juki"],
                             "pin_reset.card_brought": True,
                             "pin_reset.reply_form.present": False})
    records.append(first_visit.complete())
    refused = _session("self")
    refused.record_many({"application.received": True, "pin_reset.pins": ["support"],
                         "pin_reset.card_brought": False})
    records.append(refused.complete())
    stopped = _session("self")
    stopped.record("application.received", True)
    records.append(stopped.abandon("withdrawn"))
    return records


def test_the_engine_writes_one_record_per_ending() -> None:
    records = pin_reset_records()
    assert [r.decision for r in records] == [
        Decision.CONTINUE, Decision.CONTINUE, Decision.INQUIRY, Decision.REJECT,
        Decision.ABANDONED]
    assert {r.procedure for r in records} == {"pin-reset"}
    written, by_proxy, first_visit, refused, stopped = (r.to_payload() for r in records)
    assert written["extra"]["actions"] == [["reset_pin", "jpki_auth", "要領外-初期化-9"]]
    assert [a[1] for a in by_proxy["extra"]["actions"]] == ["jpki_auth", "jpki_sign"]
    # the proxy's record says the concealed form was used, and nothing else of it
    assert by_proxy["extra"]["concealed_form_used"] is True
    assert "concealed_form_used" not in written["extra"]
    assert first_visit["extra"]["actions"] == [["send_inquiry", "holder", "要領外-初期化-6"]]
    assert refused["reasons"][-1]["citation"] == "要領外-初期化-3"
    assert stopped["abandonment_reason"] == "withdrawn"
    for payload in (written, by_proxy, first_visit, refused, stopped):
        assert all(r["citation"].startswith("要領外-初期化") for r in payload["reasons"])
        assert payload["fee_collected_yen"] == 0
        assert not payload["certificates"]
        assert payload["extra"]["procedure_title"] == "暗証番号の初期化・再設定"
        assert set(payload["extra"]["policies"]) >= {"pin_reset_second_id",
                                                     "pin_reset_power_of_attorney"}


def test_the_server_accepts_them_and_counts_none_as_an_issuance(
    server: ServerProcess, device_tls: Path, tmp_path: Path
) -> None:
    store = Store(tmp_path / "device.sqlite3")
    uploader = Uploader(store, SyncClient(server.url, device_tls), batch_size=50)
    try:
        records = pin_reset_records()
        for record in records:
            store.record_transaction(record)
        sent = [item.payload for item in store.pending(100)]
        assert len(sent) == len(records)
        assert uploader.drain() == len(records)
        assert store.queue_length() == 0
        assert store.uploader_status().last_error is None
        for payload in sent:
            assert find_forbidden_data(payload) is None
        with server.it_client() as it:
            report = it.get("/v1/reports/daily", params={"date": DAY.isoformat()}).json()
        # no certificate was issued: nothing of the issuance report counts them
        assert all(row["issued"] == 0 for row in report["rows"]), json.dumps(report)
    finally:
        uploader.client.close()
        store.close()
