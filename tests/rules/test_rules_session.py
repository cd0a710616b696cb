"""The step-by-step API the TUI drives: start → next step → record → decision → record."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from device.procedures import Actor, ForbiddenKeyError, Policies, RuleVersion, Session
from device.records import FORBIDDEN_KEYS, CertificateAction, TransactionRecord
from madoguchi.errors import RuleError

NEW = date(2026, 6, 1)


def _clock() -> datetime:
    return datetime(2026, 6, 1, 9, 30, tzinfo=UTC)


def _walk(session: Session, answers: dict[str, object]) -> list[str]:
    """Answer each step the session asks for; returns the keys asked, in order."""
    asked = []
    while (step := session.next_step()) is not None:
        asked.append(step.key)
        session.record(step.key, answers[step.key])
    return asked


def test_self_issuance_face_auth_walkthrough() -> None:
    session = Session.start("2-1-1", "self", NEW, operator_id="op-7", office_code="131016",
                            clock=_clock)
    assert session.rule_version is RuleVersion.AMENDED
    first = session.next_step()
    assert first is not None
    assert first.key == "application.received"
    assert first.citation == "第2-1-(1)-ア-(ア)"
    assert first.text("ja") == "申請書等を受理したか"
    assert first.text("en").startswith("Was the application")
    asked = _walk(session, {
        "application.received": True,
        "applicant_id.kind": "my_number_card",
        "applicant_id.card.expiry": "2030-01-31",
        "applicant_id.contents_match": True,
        "applicant_id.card.operation_status": "in_operation",
        "applicant_id.card.face_auth": True,
        "applicant_id.card.chip_face_match": True,
        "applicant_id.card.declaration.items": "resident_record",
        "applicant_id.card.declaration.subject": "applicant",
    })
    assert asked[-2:] == ["applicant_id.card.declaration.items",
                          "applicant_id.card.declaration.subject"]
    assert session.evaluation.decision is not None
    assert session.evaluation.decision.value == "continue"
    record = session.complete(certificates=[CertificateAction("sign", "issued", "S-1"),
                                            CertificateAction("auth", "issued", "A-1")])
    assert record.procedure == "2-1-1"
    assert record.actor == "self"
    assert record.rule_version == "改正後"
    assert record.operator_id == "op-7"
    assert record.office_code == "131016"
    assert record.started_at == record.completed_at == _clock().isoformat()
    assert any(c.startswith("b_fallback_chip_and_declaration@第2-1-(1)-ア-(イ)-B")
               for c in record.checks)
    assert record.extra["record_keeping"] == "issuance_status_log"
    payload = record.to_payload()
    assert TransactionRecord.from_payload(payload) == record
    _assert_no_secret_keys(payload)


def _assert_no_secret_keys(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert str(key).lower() not in FORBIDDEN_KEYS
            _assert_no_secret_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _assert_no_secret_keys(item)


def test_proxy_session_asks_only_what_the_case_needs() -> None:
    session = Session.start("2-1-2", Actor.LEGAL_REPRESENTATIVE, NEW)
    asked = _walk(session, {
        "application.received": True,
        "application.with_birth_registration": False,
        "proxy.legal_rep_kind": "statutory",
        "proxy.legal_rep_proof": [],
        "proxy.proof_omission.honseki_in_jurisdiction": True,
        "proxy.proof_omission.municipality_confirmed": True,
        "proxy.proof_omission.mayor_decided": True,
        "proxy.id.kind": "passport",
        "proxy.id.contents_match": True,
    })
    # a legal representative: no 委任状, no reply form (改正後), no PIN step for a passport
    assert asked == [
        "application.received", "proxy.legal_rep_kind", "application.with_birth_registration",
        "proxy.legal_rep_proof", "proxy.proof_omission.honseki_in_jurisdiction",
        "proxy.proof_omission.municipality_confirmed", "proxy.proof_omission.mayor_decided",
        "proxy.id.kind",
        "proxy.id.contents_match",
    ]
    assert session.evaluation.decision is not None
    assert session.evaluation.decision.value == "continue"
    session.record("proxy.proof_omission.mayor_decided", False)
    assert session.evaluation.decision is not None
    assert session.evaluation.decision.value == "reject"


def test_same_household_question_only_with_a_move_notice() -> None:
    session = Session.start("2-1-2", Actor.PROXY, NEW)
    session.record_many({
        "application.received": True, "application.with_birth_registration": False,
        "proxy.power_of_attorney": {"present": True, "signed_or_sealed": True},
    })
    step = session.next_step()
    assert step is not None
    assert step.key == "proxy.with_move_notice"
    session.record("proxy.with_move_notice", True)
    step = session.next_step()
    assert step is not None
    assert step.key == "proxy.same_household"
    session.record("proxy.same_household", True)
    step = session.next_step()
    assert step is not None
    assert step.key == "proxy.pin_document.present"  # exempt from the reply form


def test_bad_value_is_refused_and_loses_nothing() -> None:
    session = Session.start("2-2-1", "self", NEW)
    session.record("application.received", True)
    before = session.evaluation
    with pytest.raises(RuleError, match="not one of"):
        session.record("applicant_id.kind", "library_card")
    with pytest.raises(RuleError, match="not a date"):
        session.record_many({"applicant_id.kind": "my_number_card",
                             "applicant_id.card.expiry": "31/01/2030"})
    assert session.evaluation == before
    assert session.facts.application is not None
    assert session.facts.applicant_id is None  # all-or-nothing: the good half was not kept


def test_pin_and_my_number_can_never_be_recorded() -> None:
    session = Session.start("2-1-1", "self", NEW)
    for key in ("applicant_id.card.pin", "my_number", "applicant_id.暗証番号"):
        with pytest.raises(ForbiddenKeyError, match="never hold a PIN"):
            session.record(key, "1234")
    with pytest.raises(ForbiddenKeyError):
        session.record("applicant_id", {"kind": "my_number_card", "card": {"pin": "1234"}})


def test_complete_before_decision_is_an_error() -> None:
    session = Session.start("2-1-1", "self", NEW)
    with pytest.raises(RuleError, match="not decided yet"):
        session.complete()


def test_reject_completes_with_its_reasons() -> None:
    session = Session.start("2-1-1", "self", NEW, policies=Policies())
    session.record_many({"application.received": True, "applicant_id.kind": "none"})
    assert session.evaluation.decision is not None
    assert session.evaluation.decision.value == "inquiry"
    record = session.complete(language="en")
    assert record.decision.value == "inquiry"
    assert record.reasons[-1].citation == "第2-1-(1)-ア-(イ)-A-(E)"
    assert "inquiry letter" in record.reasons[-1].text
    assert record.fee_collected_yen == 0


def test_wrong_actor_for_procedure_is_an_error() -> None:
    with pytest.raises(RuleError, match="actor"):
        Session.start("2-1-1", "proxy", NEW)
    with pytest.raises(RuleError, match="unknown procedure"):
        Session.start("9-9-9", "self", NEW)


def test_procedure_ids_in_guideline_form() -> None:
    assert Session.start("第2-1-(2)", "proxy", NEW).info.id == "2-1-2"


def test_checklist_is_the_static_view() -> None:
    steps = Session.start("3-1-2", "proxy", NEW).checklist()
    keys = [s.key for s in steps]
    assert keys[0] == "application.received"
    assert "application.at_fuhyo_municipality" in keys
    assert "proxy.id.card.pin_result" in keys
    assert all(s.citation.startswith("第") for s in steps)


def test_found_card_by_proxy_checklist_follows_2_2_2() -> None:
    by_proxy = Session.start("4-3", "proxy", NEW)
    keys = [s.key for s in by_proxy.checklist()]
    assert keys[:3] == ["lost_card.found", "lost_card.explained",
                        "lost_card.revocation_application"]
    assert "proxy.power_of_attorney.present" in keys
    assert "applicant_id.kind" not in keys
    in_person = [s.key for s in Session.start("4-3", "self", NEW).checklist()]
    assert "applicant_id.card.pin_result" in in_person
    assert "proxy.power_of_attorney.present" not in in_person


def test_forget_takes_a_fact_back() -> None:
    session = Session.start("2-2-1", "self", NEW)
    session.record_many({"application.received": True, "applicant_id.kind": "passport",
                         "applicant_id.contents_match": False})
    assert session.evaluation.decision is not None
    assert session.evaluation.decision.value == "reject"
    session.forget("applicant_id.contents_match")
    step = session.next_step()
    assert step is not None
    assert step.key == "applicant_id.contents_match"
    assert session.recorded == {"application": {"received": True},
                                "applicant_id": {"kind": "passport"}}
    with pytest.raises(RuleError, match="nothing is recorded"):
        session.forget("proxy.reply_form")


def test_a_person_cannot_identify_themself_by_transmission() -> None:
    session = Session.start("2-1-1", "self", NEW)
    session.record_many({"application.received": True,
                         "applicant_id": {"kind": "my_number_card", "channel": "transmitted"}})
    assert session.evaluation.decision is not None
    assert session.evaluation.decision.value == "reject"
    assert session.evaluation.findings[-1].key == "id_kind_not_accepted"
