"""交付状況 log, fee reconciliation and the optional old-register daily export."""

from __future__ import annotations

from datetime import date

from device.procedures import Policies, Session
from device.procedures.issuance_log import (
    daily_register,
    daily_register_csv,
    issuance_status,
    reconcile,
)
from device.records import CertificateAction, TransactionRecord


def _issue(on: date, *, fee: int, certs: list[CertificateAction]) -> TransactionRecord:
    session = Session.start("2-1-1", "self", on, operator_id="op-1",
                            policies=Policies(fee_sign_cert_yen=fee, fee_auth_cert_yen=fee))
    session.record_many({
        "application.received": True, "applicant_id.kind": "passport",
        "applicant_id.contents_match": True,
    })
    return session.complete(certificates=certs)


def _rejected(on: date) -> TransactionRecord:
    session = Session.start("2-1-1", "self", on)
    session.record("application.received", False)
    return session.complete()


def _revoked(on: date) -> TransactionRecord:
    session = Session.start("2-2-1", "self", on)
    session.record_many({
        "application.received": True, "applicant_id.kind": "passport",
        "applicant_id.contents_match": True,
    })
    return session.complete(certificates=[CertificateAction("sign", "revoked", "S9")])


DAY1, DAY2 = date(2026, 6, 1), date(2026, 6, 2)
SIGN, AUTH = CertificateAction("sign", "issued", "S1"), CertificateAction("auth", "issued", "A1")


def _records() -> list[TransactionRecord]:
    return [
        _issue(DAY1, fee=200, certs=[SIGN, AUTH]),
        _issue(DAY1, fee=0, certs=[AUTH, CertificateAction("sign", "discarded", "S2")]),
        _rejected(DAY1),
        _revoked(DAY1),
        _issue(DAY2, fee=0, certs=[CertificateAction("auth", "renewed", "A3")]),
    ]


def test_issuance_status_lists_only_issuances_that_went_ahead() -> None:
    log = issuance_status(_records())
    assert [e.day for e in log] == ["2026-06-01", "2026-06-01", "2026-06-02"]
    assert log[0].certificates == ("sign", "auth")
    assert log[0].serials == ("S1", "A1")
    assert log[0].fee_collected_yen == 400
    assert log[1].certificates == ("auth",)  # the discarded sign cert was not handed over
    assert log[0].operator_id == "op-1"


def test_fee_reconciliation_against_jlis_payments() -> None:
    fees = reconcile(_records(), paid_jlis_yen=300)
    assert (fees.collected_yen, fees.payable_jlis_yen, fees.paid_jlis_yen) == (400, 400, 300)
    assert fees.outstanding_yen == 100


def test_daily_register_counts_items_a_to_ka() -> None:
    rows = {(r.day, r.certificate): r for r in daily_register(_records())}
    sign1 = rows[("2026-06-01", "sign")]
    auth1 = rows[("2026-06-01", "auth")]
    auth2 = rows[("2026-06-02", "auth")]
    # (イ) 通信件数: two continued issuances asked for both kinds on day 1
    assert (sign1.requests, sign1.handed_over, sign1.paid, sign1.free) == (2, 1, 1, 0)
    assert sign1.discarded_or_revoked == 1
    assert (auth1.requests, auth1.handed_over, auth1.paid, auth1.free) == (2, 2, 1, 1)
    assert (auth2.handed_over, auth2.free) == (1, 1)
    csv_text = daily_register_csv(daily_register(_records()))
    assert csv_text.splitlines()[0] == (
        "受付年月日,証明書,通信件数,交付件数,有償の交付件数,無償の交付件数,破棄／職権失効件数")
    assert len(csv_text.splitlines()) == 1 + len(rows)


def test_empty_log() -> None:
    assert issuance_status([]) == []
    assert daily_register([]) == []
    assert reconcile([], 0).outstanding_yen == 0
