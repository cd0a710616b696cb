"""Abandonment (中止) and suspected-counterfeit records, the fee as a fact, the extra allow-list."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from device.procedures import Session
from device.procedures.policies import Policies
from device.records import (
    POLICY_KEYS,
    AbandonmentReason,
    Decision,
    TransactionRecord,
    extra_problem,
)
from madoguchi.errors import PersonalDataError, RuleError

NEW = date(2026, 6, 1)


@pytest.mark.parametrize("reason", list(AbandonmentReason))
def test_an_abandoned_procedure_leaves_a_record_with_its_reason(
    reason: AbandonmentReason,
) -> None:
    session = Session.start("2-1-2", "proxy", NEW)
    session.record_many({"application.received": True,
                         "application.with_birth_registration": False})
    record = session.abandon(reason)
    assert record.decision is Decision.ABANDONED
    assert record.abandonment_reason is reason
    assert record.certificates == ()
    assert record.fee_collected_yen == 0
    assert record.checks  # what was checked before stopping is kept
    assert record.reasons[0].citation == "第2-1-(2)"
    assert "中止" in record.reasons[0].text
    payload = record.to_payload()
    assert payload["decision"] == "abandoned"
    assert TransactionRecord.from_payload(payload) == record


def test_an_unknown_abandonment_reason_is_refused() -> None:
    session = Session.start("2-1-1", "self", NEW)
    with pytest.raises(RuleError, match="withdrawn"):
        session.abandon("bored")


def test_a_reason_without_abandonment_or_the_reverse_is_refused() -> None:
    record = Session.start("2-1-1", "self", NEW).abandon("other")
    with pytest.raises(PersonalDataError, match="reason"):
        dataclasses.replace(record, abandonment_reason=None).to_payload()
    with pytest.raises(PersonalDataError, match="reason"):
        dataclasses.replace(record, decision=Decision.REJECT).to_payload()


def _counterfeit_session() -> Session:
    session = Session.start("2-1-1", "self", NEW)
    session.record_many({
        "application.received": True,
        "applicant_id.kind": "my_number_card",
        "applicant_id.contents_match": True,
        "applicant_id.card.expiry": "2030-01-31",
        "applicant_id.card.operation_status": "in_operation",
        "applicant_id.card.face_auth": True,
        "applicant_id.card.chip_face_match": False,
        "applicant_id.card.counterfeit_suspected": True,
    })
    return session


def test_a_suspected_counterfeit_is_its_own_reason_and_flagged_in_the_record() -> None:
    session = _counterfeit_session()
    assert session.evaluation.decision is Decision.REJECT
    record = session.complete()
    assert any("偽造カードの疑い" in r.text for r in record.reasons)
    assert record.reasons[-1].citation == "第2-1-(1)-ア-(イ)-B"
    assert record.suspected_counterfeit is True
    assert record.to_payload()["suspected_counterfeit"] is True
    # abandoning after the warning keeps the flag too
    assert session.abandon("card").suspected_counterfeit is True


def _issuance(fee: str | None) -> Session:
    session = Session.start(
        "2-1-1", "self", NEW, policies=Policies(fee_sign_cert_yen=200, fee_auth_cert_yen=200)
    )
    facts: dict[str, Any] = {
        "application.received": True, "applicant_id.kind": "passport",
        "applicant_id.contents_match": True,
    }
    if fee is not None:
        facts["application.fee"] = fee
    session.record_many(facts)
    return session


def test_the_fee_can_be_a_fact_of_the_case() -> None:
    assert _issuance(None).evaluation.fee.collected_yen == 400
    assert _issuance("paid").evaluation.fee.collected_yen == 400
    exempt = _issuance("exempt")
    assert exempt.evaluation.fee.collected_yen == 0
    record = exempt.complete()
    assert record.fee_collected_yen == 0
    assert record.extra["fee_status"] == "exempt"
    with pytest.raises(RuleError, match=r"not one of paid, exempt"):
        _issuance("waived")


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"juki_pin": "x"}, "juki_pin"),
        ({"note": "hello"}, "note"),
        ({"policies": {"juki_pin": True}}, "policies"),
        ({"transaction_date": "2026/06/01"}, "transaction_date"),
        ({"actions": [["revoke", "x"]]}, "actions"),
        ({"fee_status": "maybe"}, "fee_status"),
    ],
)
def test_extra_is_an_allow_list(extra: dict[str, Any], problem: str) -> None:
    found = extra_problem(extra)
    assert found is not None
    assert problem in found
    session = _issuance(None)
    record = session.complete()
    with pytest.raises(PersonalDataError):
        dataclasses.replace(record, extra={**record.extra, **extra}).to_payload()


def test_every_policy_may_be_recorded() -> None:
    assert set(Policies().to_dict()) <= POLICY_KEYS
    assert extra_problem(_issuance(None).complete().extra) is None


@pytest.mark.parametrize(
    "number", ["1234-5678-9012-34", "12345678901234", "1234 5678 9012 34", "123456789012"]
)
def test_long_digit_runs_with_separators_are_refused(number: str) -> None:
    record = _issuance(None).complete()
    with pytest.raises(PersonalDataError) as info:
        dataclasses.replace(record, operator_id=f"id {number}").to_payload()
    assert number not in str(info.value)


@pytest.mark.parametrize(
    "identifier",
    ["00000000-0000-4000-8000-000000000001", "2026-06-01T09:00:00+09:00",
     "123456789012345678901234567890", "03-1234-5678"],
)
def test_identifiers_that_are_not_numbers_pass(identifier: str) -> None:
    record = _issuance(None).complete()
    dataclasses.replace(record, operator_id=identifier).to_payload()
