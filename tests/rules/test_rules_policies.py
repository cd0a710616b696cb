"""Every policy where the guidelines are open, switched both ways."""

from __future__ import annotations

from datetime import date

import pytest

from device.procedures import Policies, policies_from_config
from madoguchi.config import RulesConfig
from madoguchi.errors import RuleError

from .factories import (
    APP,
    NEW,
    OMISSION,
    cited,
    face_auth_card,
    legal_rep,
    my_number_card,
    outcome,
    proxy,
    run,
    with_card,
)

DECL = {"items": "resident_record", "subject": "applicant"}


def test_defaults_are_the_documented_ones() -> None:
    assert Policies().to_dict() == {
        "fallback_requires_both": True,
        "proxy_declaration_subject": "applicant",
        "grace_counting": "civil_code",
        "grace_months": 6,
        "honseki_omission_allowed": True,
        "legal_rep_pin_document_required": False,
        "fee_sign_cert_yen": 0,
        "fee_auth_cert_yen": 0,
        "fee_payable_jlis_percent": 100,
        "pin_reset_second_id": True,
        "pin_reset_power_of_attorney": False,
    }


def test_config_section_maps_to_policies() -> None:
    config = RulesConfig(fallback_requires_both=False, proxy_declaration_subject="either",
                         grace_counting="exclusive", fee_sign_cert_yen=200)
    policies = policies_from_config(config)
    assert not policies.fallback_requires_both
    assert policies.proxy_declaration_subject.value == "either"
    assert policies.grace_counting.value == "exclusive"
    assert policies.fee_sign_cert_yen == 200
    assert policies_from_config(RulesConfig()) == Policies()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"grace_counting": "lunar"}, "not one of"),
    ({"fallback_requires_both": "yes"}, "must be bool"),
    ({"no_such_policy": True}, "unknown policy"),
    ({"fee_payable_jlis_percent": 101}, "0..100"),
    ({"fee_sign_cert_yen": -1}, "negative"),
])
def test_bad_policy_values_are_typed_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        Policies().with_overrides(overrides)


# U10 ---------------------------------------------------------------------------------------------

def test_u10_fallback_and_vs_or_chip_mismatch_with_declaration() -> None:
    facts = {"application": APP,
             "applicant_id": with_card(face_auth_card(DECL, chip_face_match=False))}
    strict = run("2-1-1", "self", NEW, facts)
    lenient = run("2-1-1", "self", NEW, facts, fallback_requires_both=False)
    assert outcome(strict) == ("reject", "b_fallback_chip_mismatch")
    assert lenient.decision.value == "continue"
    assert "b_fallback_declaration_or" in [f.key for f in lenient.findings]


def test_u10_fallback_and_vs_or_chip_match_without_good_declaration() -> None:
    bad_decl = {**DECL, "matches_record": False}
    facts = {"application": APP, "applicant_id": with_card(face_auth_card(bad_decl))}
    assert outcome(run("2-1-1", "self", NEW, facts)) == ("reject", "b_declaration_mismatch")
    lenient = run("2-1-1", "self", NEW, facts, fallback_requires_both=False)
    assert lenient.decision.value == "continue"
    assert cited(lenient, "b_fallback_chip_match_or") == "第2-1-(1)-ア-(イ)-B"


# U11 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "subject", "decision"), [
    ("applicant", "applicant", "continue"),
    ("applicant", "proxy", "reject"),
    ("proxy", "proxy", "continue"),
    ("proxy", "applicant", "reject"),
    ("either", "proxy", "continue"),
    ("either", "applicant", "continue"),
])
def test_u11_proxy_declaration_subject(policy: str, subject: str, decision: str) -> None:
    decl = {"items": "resident_record", "subject": subject}
    facts = {"application": APP, "proxy": proxy(id=with_card(face_auth_card(decl)))}
    result = run("2-1-2", "proxy", NEW, facts, proxy_declaration_subject=policy)
    assert result.decision.value == decision


def test_u11_self_declaration_is_always_the_applicants() -> None:
    decl = {"items": "resident_record", "subject": "proxy"}
    facts = {"application": APP, "applicant_id": with_card(face_auth_card(decl))}
    result = run("2-1-1", "self", NEW, facts, proxy_declaration_subject="either")
    assert outcome(result) == ("reject", "b_declaration_wrong_subject")


# U20 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expiry", "on", "civil", "exclusive"), [
    ("2026-01-31", date(2026, 7, 31), "continue", "reject"),  # same day number, month end
    ("2026-01-31", date(2026, 8, 1), "reject", "reject"),
    ("2026-01-31", date(2026, 7, 30), "continue", "continue"),
    ("2025-12-31", date(2026, 6, 30), "continue", "reject"),  # no 31 June: end of month
    ("2025-12-31", date(2026, 7, 1), "reject", "reject"),
])
def test_u20_grace_counting(expiry: str, on: date, civil: str, exclusive: str) -> None:
    facts = {"application": APP,
             "applicant_id": my_number_card(expiry=expiry, photo_confirmed=True)}
    assert run("2-1-1", "self", on, facts).decision.value == civil
    assert run("2-1-1", "self", on, facts, grace_counting="exclusive").decision.value == exclusive


def test_grace_months_is_a_policy() -> None:
    facts = {"application": APP,
             "applicant_id": my_number_card(expiry="2026-01-31", photo_confirmed=True)}
    assert run("2-1-1", "self", date(2026, 6, 1), facts, grace_months=3).decision.value == (
        "reject")


# 戸籍謄本等 omission --------------------------------------------------------------------------

def test_honseki_omission_policy_both_ways() -> None:
    facts = {"application": APP, "proxy": legal_rep(legal_rep_proof=[], proof_omission=OMISSION)}
    assert run("2-1-2", "legal_representative", NEW, facts).decision.value == "continue"
    refused = run("2-1-2", "legal_representative", NEW, facts, honseki_omission_allowed=False)
    assert outcome(refused) == ("reject", "omission_not_used_here")


# U19 ---------------------------------------------------------------------------------------------

def test_u19_legal_rep_pin_document_both_ways() -> None:
    facts = {"application": APP, "proxy": legal_rep(pin_document={"present": False})}
    assert run("2-1-2", "legal_representative", NEW, facts).decision.value == "continue"
    strict = run("2-1-2", "legal_representative", NEW, facts,
                 legal_rep_pin_document_required=True)
    assert outcome(strict) == ("reject", "pin_document_missing")


# fees ------------------------------------------------------------------------------------------

def test_fee_table_both_ways() -> None:
    facts = {"application": {**APP, "certificates": ["sign", "auth"]},
             "applicant_id": my_number_card()}
    free = run("2-1-1", "self", NEW, facts)
    assert (free.fee.collected_yen, free.fee.payable_jlis_yen) == (0, 0)
    paid = run("2-1-1", "self", NEW, facts, fee_sign_cert_yen=200, fee_auth_cert_yen=200,
               fee_payable_jlis_percent=50)
    assert (paid.fee.collected_yen, paid.fee.payable_jlis_yen) == (400, 200)
    sign_only = run("2-1-1", "self", NEW, {**facts, "application": {**APP,
                                                                    "certificates": ["sign"]}},
                    fee_sign_cert_yen=200, fee_auth_cert_yen=100)
    assert sign_only.fee.collected_yen == 200
    revoked = run("2-2-1", "self", NEW, {"application": APP, "applicant_id": my_number_card()},
                  fee_sign_cert_yen=200)
    assert revoked.fee.collected_yen == 0


def test_unknown_certificate_kind_is_an_error() -> None:
    facts = {"application": {**APP, "certificates": ["gold"]}, "applicant_id": my_number_card()}
    with pytest.raises(RuleError, match="sign and/or auth"):
        run("2-1-1", "self", NEW, facts)
