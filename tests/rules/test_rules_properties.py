"""Property tests: whatever the facts, the engine never continues without an identity check.

The identity checks are named here independently of the engine's own
``identity`` flag, so a rule path that slips through unflagged is caught too.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from device.procedures import PROCEDURES, Actor, Outcome, Policies, evaluate
from device.procedures.casefile import facts_from
from device.procedures.facts import (
    Channel,
    DeclarationItems,
    DeclarationSubject,
    ERecordSource,
    EvidenceKind,
    LegalRepKind,
    LegalRepProof,
    OperationStatus,
    PinConcealment,
    PinResult,
    PinWriteBy,
)
from device.records import Decision

#: Findings that establish who the person is (本人確認・本人性確認).
IDENTITY_CHECKS = frozenset({
    "id_confirmed", "reply_form_identity", "proxy_identified", "birth_registration_case",
    "b_pin_verified", "b_fallback_chip_match", "b_fallback_chip_match_or",
    "b_fallback_chip_and_declaration", "b_fallback_declaration_or",
    # 暗証番号の初期化・再設定 (outside the guidelines)
    "pin_reset_photo_match", "pin_reset_proxy_identified",
})


def _values(enum_type: Any) -> st.SearchStrategy[str]:
    return st.sampled_from([m.value for m in enum_type])


maybe_bool = st.none() | st.booleans()
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)).map(date.isoformat)

declarations = st.fixed_dictionaries({}, optional={
    "items": _values(DeclarationItems),
    "subject": _values(DeclarationSubject),
    "matches_record": maybe_bool,
})
cards = st.fixed_dictionaries({}, optional={
    "expiry": dates,
    "photo_confirmed": maybe_bool,
    "face_auth": maybe_bool,
    "basic4": st.booleans(),
    "issued_on": dates,
    "operator_authenticated": maybe_bool,
    "pin_result": _values(PinResult),
    "operation_status": _values(OperationStatus),
    "chip_face_match": maybe_bool,
    "declaration": declarations,
})
e_records = st.fixed_dictionaries({}, optional={
    "source": st.sampled_from(["my_number_card", "card_substitute_record"]),
    "fields": st.lists(st.sampled_from(["name", "address", "dob", "photo"]), unique=True),
    "certified_program": st.booleans(),
    "sender_verified": st.booleans(),
})
evidence = st.fixed_dictionaries({}, optional={
    "kind": _values(EvidenceKind),
    "channel": _values(Channel),
    "contents_match": maybe_bool,
    "mayor_deems_appropriate": st.booleans(),
    "card": cards,
    "e_record": e_records,
    "app_screen": st.fixed_dictionaries({}, optional={
        "listed_documents_difficult": st.booleans(), "screen_operation": st.booleans()}),
})
proxies = st.fixed_dictionaries({}, optional={
    "legal_rep_kind": _values(LegalRepKind),
    "agency_list_shows_power": st.booleans(),
    "power_of_attorney": st.fixed_dictionaries({}, optional={
        "present": st.booleans(), "signed_or_sealed": st.booleans()}),
    "legal_rep_proof": st.lists(_values(LegalRepProof), unique=True),
    "proof_omission": st.fixed_dictionaries({}, optional={
        "honseki_in_jurisdiction": st.booleans(), "municipality_confirmed": st.booleans(),
        "mayor_decided": st.booleans()}),
    "same_household": st.booleans(),
    "with_move_notice": st.booleans(),
    "reply_form": st.fixed_dictionaries({}, optional={
        "present": st.booleans(), "pin_concealment": _values(PinConcealment)}),
    "pin_document": st.fixed_dictionaries({}, optional={
        "present": st.booleans(), "concealed": st.booleans()}),
    "id": evidence,
})
facts_dicts = st.fixed_dictionaries({}, optional={
    "application": st.fixed_dictionaries({}, optional={
        "received": maybe_bool, "under_specified_age": st.booleans(),
        "with_birth_registration": st.booleans(), "at_fuhyo_municipality": maybe_bool,
        "content_doubt": st.booleans()}),
    "applicant_id": evidence,
    "proxy": proxies,
    "inquiry_request": st.fixed_dictionaries({}, optional={
        "in_person": maybe_bool, "identity_checked": st.booleans(),
        "requester_exists": st.booleans(), "form_presented": st.booleans()}),
    "lost_card": st.fixed_dictionaries({}, optional={
        "found": maybe_bool, "explained": maybe_bool, "revocation_application": maybe_bool,
        "held_certificates": st.lists(st.sampled_from(["S1", "A1"]), unique=True),
        "new_issuance": st.booleans()}),
    "disclosure_form": st.fixed_dictionaries({}, optional={
        "proxy_phone": st.sampled_from(["03-1234-5678", "x"]),
        "proxy_email": st.sampled_from(["a@example.jp", "03-1234-5678", "bad"])}),
    "pin_reset": st.fixed_dictionaries({}, optional={
        "pins": st.lists(st.sampled_from(["jpki_auth", "jpki_sign", "support", "juki"]),
                         unique=True),
        "card_brought": maybe_bool, "card_photo_match": maybe_bool, "second_id": maybe_bool,
        "reply_form": st.fixed_dictionaries({}, optional={
            "present": maybe_bool,
            "pin_concealment": st.sampled_from(["sticker", "sealed", "none"])}),
        "proxy_id": maybe_bool, "holder_id": maybe_bool, "power_of_attorney": maybe_bool,
        "card_step": st.fixed_dictionaries({}, optional={
            "by": st.sampled_from(["written", "handed_to_jlis", "not_done"]),
            "written": st.lists(st.sampled_from(["jpki_auth", "jpki_sign"]), unique=True)}),
    }),
})
policy_overrides = st.fixed_dictionaries({}, optional={
    "fallback_requires_both": st.booleans(),
    "proxy_declaration_subject": st.sampled_from(["applicant", "proxy", "either"]),
    "grace_counting": st.sampled_from(["civil_code", "exclusive"]),
    "honseki_omission_allowed": st.booleans(),
    "legal_rep_pin_document_required": st.booleans(),
    "pin_reset_second_id": st.booleans(),
    "pin_reset_power_of_attorney": st.booleans(),
})
identity_procedures = [p for p in PROCEDURES.values() if p.needs_identity]


@st.composite
def transactions(draw: st.DrawFn) -> tuple[Any, Actor, date, dict[str, Any], dict[str, Any]]:
    info = draw(st.sampled_from(identity_procedures))
    actor = draw(st.sampled_from(info.actors))
    on = date(2026, 4, 1) + timedelta(days=draw(st.integers(-400, 400)))
    return info, actor, on, draw(facts_dicts), draw(policy_overrides)


def _check_identity_invariant(txn: Any) -> None:
    info, actor, on, raw, overrides = txn
    result = evaluate(info, actor, on, facts_from(raw),
                      policies=Policies().with_overrides(overrides))
    if result.decision is Decision.CONTINUE:
        passed = {f.key for f in result.findings if f.outcome is Outcome.PASS}
        assert passed & IDENTITY_CHECKS, [f.key for f in result.findings]
        assert result.identity_verified
    if result.decision is None:
        assert result.pending
    for finding in result.findings:
        # the guidelines' form, or 「要領外-初期化-…」 outside them
        assert finding.citation.startswith("要領外-初期化-" if info.outside_guidelines else "第")
        assert finding.text("ja")
        assert finding.text("en")


@settings(max_examples=1000, deadline=None)
@given(transactions())
def test_no_continue_without_a_passed_identity_check(txn: Any) -> None:
    _check_identity_invariant(txn)


@settings(max_examples=300, deadline=None)
@given(transactions())
def test_a_failed_check_always_decides_reject(txn: Any) -> None:
    info, actor, on, raw, overrides = txn
    result = evaluate(info, actor, on, facts_from(raw),
                      policies=Policies().with_overrides(overrides))
    failed = [f for f in result.findings if f.outcome is Outcome.FAIL]
    if failed:
        assert result.decision is Decision.REJECT
        assert result.findings[-1] is failed[0]


# -- Mutations of the documented cases: most reach a decision, many continue -------------------

def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        out: list[tuple[Any, ...]] = []
        for key, item in value.items():
            out += _leaves(item, (*path, key))
        return out
    return [] if value is None else [path]


_ENUM_BY_KEY: dict[str, Any] = {
    "kind": EvidenceKind, "channel": Channel, "pin_result": PinResult,
    "operation_status": OperationStatus, "items": DeclarationItems,
    "subject": DeclarationSubject, "legal_rep_kind": LegalRepKind,
    "pin_concealment": PinConcealment, "source": ERecordSource, "by": PinWriteBy,
}


def _flip(key: Any, value: Any) -> st.SearchStrategy[Any]:
    if isinstance(value, bool):
        return st.just(not value)
    if isinstance(value, list):
        return st.just(value[:-1])
    if key in _ENUM_BY_KEY:
        return _values(_ENUM_BY_KEY[key])
    if key in ("expiry", "issued_on"):
        return dates
    return st.sampled_from(["03-1234-5678", "a@example.jp", "x"])


@st.composite
def mutated_cases(draw: st.DrawFn) -> tuple[Any, Actor, date, dict[str, Any], dict[str, Any]]:
    import copy
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "docs" / "cases"
    paths = sorted(root.glob("*.json"))
    data = json.loads(draw(st.sampled_from(paths)).read_text(encoding="utf-8"))
    info = PROCEDURES[data["procedure"]]
    if not info.needs_identity:
        info = PROCEDURES["2-1-1"]
    facts = copy.deepcopy(data.get("facts", {}))
    for _ in range(draw(st.integers(0, 3))):
        leaves = [p for p in _leaves(facts) if p]
        if not leaves:
            break
        path = draw(st.sampled_from(leaves))
        node = facts
        for key in path[:-1]:
            node = node[key]
        if draw(st.booleans()):
            del node[path[-1]]
        else:
            node[path[-1]] = draw(_flip(path[-1], node[path[-1]]))
    actor = Actor(data["actor"]) if Actor(data["actor"]) in info.actors else info.actors[0]
    on = date.fromisoformat(data["date"]) + timedelta(days=draw(st.integers(-200, 200)))
    return info, actor, on, facts, draw(policy_overrides)


@settings(max_examples=1500, deadline=None)
@given(mutated_cases())
def test_mutated_cases_never_continue_without_identity(txn: Any) -> None:
    _check_identity_invariant(txn)


@settings(max_examples=300, deadline=None)
@given(mutated_cases())
def test_session_and_one_shot_agree(txn: Any) -> None:
    from device.procedures import Session

    info, actor, on, raw, overrides = txn
    one_shot = evaluate(info, actor, on, facts_from(raw),
                        policies=Policies().with_overrides(overrides))
    session = Session(info, actor, on, policies=Policies().with_overrides(overrides))
    if raw:
        session.record_many(dict(raw))
    assert session.evaluation == one_shot
    step = session.next_step()
    assert (step.key if step else None) == one_shot.pending
