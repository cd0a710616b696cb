"""One test per amendment of domain-spec §3, showing the 現行 and the 改正後 outcome side by side.

Each test is named ``test_amendment_NN_...`` after the row number in the table.
"""

from __future__ import annotations

from device.procedures import RuleVersion
from device.procedures.catalogue import DEFINITIONS, form_labels
from device.procedures.issuance_log import _HEADER
from device.procedures.retention import find, retained_documents

from .factories import (
    APP,
    APP3,
    NEW,
    OLD,
    OMISSION,
    PASSPORT,
    REQUEST_OK,
    cited,
    e_record,
    face_auth_card,
    keys,
    legal_rep,
    my_number_card,
    outcome,
    proxy,
    run,
    side_by_side,
    with_card,
)

RESIDENT_DECL = {"items": "resident_record", "subject": "applicant"}
FUHYO_DECL = {"items": "koseki_fuhyo", "subject": "applicant"}


def test_versions_are_chosen_by_date() -> None:
    old, new = side_by_side("2-1-1", "self", {"application": APP, "applicant_id": my_number_card()})
    assert (old.rule_version, new.rule_version) == (RuleVersion.CURRENT, RuleVersion.AMENDED)


def test_amendment_01_card_substitute_record() -> None:
    facts = {"application": APP, "proxy": proxy(id=e_record(source="card_substitute_record"))}
    old, new = side_by_side("2-1-2", "proxy", facts)
    assert outcome(old) == ("reject", "e_record_not_accepted")
    assert new.decision.value == "continue"
    assert "e_record_ok" in keys(new)
    assert 32 not in DEFINITIONS[RuleVersion.CURRENT] or (
        DEFINITIONS[RuleVersion.CURRENT][32] != "カード代替電磁的記録"
    )
    assert DEFINITIONS[RuleVersion.AMENDED][32] == "カード代替電磁的記録"


def test_amendment_02_definitions_renumbered() -> None:
    old, new = DEFINITIONS[RuleVersion.CURRENT], DEFINITIONS[RuleVersion.AMENDED]
    assert (max(old), max(new)) == (44, 45)
    assert new[33] == "(略) 旧(32)"
    assert new[45] == "(略) 旧(44)"
    assert old[31] == new[31] == "個人番号カード"


def test_amendment_03_grace_period_self_issuance() -> None:
    facts = {"application": APP,
             "applicant_id": my_number_card(expiry="2026-02-15", photo_confirmed=True)}
    old = run("2-1-1", "self", OLD, facts)
    new = run("2-1-1", "self", NEW, facts)
    assert outcome(old) == ("reject", "card_expired")
    assert new.decision.value == "continue"
    assert cited(new, "card_in_grace") == "第2-1-(1)-ア-(イ)-A-(A)"
    late = run("2-1-1", "self", NEW, {**facts, "applicant_id": my_number_card(
        expiry="2025-11-30", photo_confirmed=True)})
    assert outcome(late) == ("reject", "card_grace_over")


def test_amendment_04_fallback_declaration_self_issuance() -> None:
    declared_wrong = {**RESIDENT_DECL, "matches_record": False}
    facts = {"application": APP, "applicant_id": with_card(face_auth_card(declared_wrong))}
    old, new = side_by_side("2-1-1", "self", facts)
    assert outcome(old) == ("continue", "record_issuance_register")
    assert "b_fallback_chip_match" in keys(old)
    assert outcome(new) == ("reject", "b_declaration_mismatch")
    assert cited(new, "b_declaration_mismatch") == "第2-1-(1)-ア-(イ)-B"
    ok = {"application": APP, "applicant_id": with_card(face_auth_card(RESIDENT_DECL))}
    assert "b_fallback_chip_and_declaration" in keys(run("2-1-1", "self", NEW, ok))


def test_amendment_05_issuance_status_record() -> None:
    old, new = side_by_side("2-1-1", "self", {"application": APP, "applicant_id": my_number_card()})
    assert (old.record_keeping, new.record_keeping) == ("issuance_register", "issuance_status_log")
    assert cited(new, "record_issuance_status") == "第2-1-(1)-ア-(ケ)"


def test_amendment_06_register_contents_deleted() -> None:
    old, new = side_by_side("2-1-1", "self", {"application": APP, "applicant_id": my_number_card()})
    assert cited(old, "record_issuance_register") == "第2-1-(1)-ケ"
    assert "record_issuance_register" not in keys(new)
    # the optional export keeps the deleted items (ア)–(カ) for offices that want them
    assert _HEADER[0] == "受付年月日"
    assert _HEADER[-1] == "破棄／職権失効件数"
    assert len(_HEADER) == 7


def test_amendment_07_register_form_deleted() -> None:
    old, new = side_by_side("2-1-1", "self", {"application": APP, "applicant_id": my_number_card()})
    old_register = [f for f in old.findings if f.key == "record_issuance_register"]
    new_register = [f for f in new.findings if f.key == "record_issuance_register"]
    assert len(old_register) == 1
    assert new_register == []


def test_amendment_08_legal_rep_includes_curator_with_agency_list() -> None:
    rep = legal_rep(legal_rep_kind="curator", agency_list_shows_power=True,
                    legal_rep_proof=["agency_list"], power_of_attorney={"present": False})
    old, new = side_by_side("2-1-2", "legal_representative", {"application": APP, "proxy": rep})
    assert "legal_rep_kind_not_included" in keys(old)
    assert outcome(old) == ("reject", "poa_missing")  # an ordinary proxy without a 委任状
    assert new.decision.value == "continue"
    assert "legal_rep_by_agency_list" in keys(new)
    without_list = legal_rep(legal_rep_kind="assistant", agency_list_shows_power=False,
                             power_of_attorney={"present": False})
    assert outcome(run("2-1-2", "legal_representative", NEW,
                       {"application": APP, "proxy": without_list}))[0] == "reject"


def test_amendment_09_proof_named_koseki_tohon_to() -> None:
    rep = legal_rep(legal_rep_proof=["agency_list"])
    old, new = side_by_side("2-1-2", "legal_representative",
                            {"application": APP, "proxy": rep})
    assert "legal_rep_proof_ok_current" in keys(old)
    assert "legal_rep_proof_ok" in keys(new)
    assert "戸籍謄本等" in next(f for f in new.findings if f.key == "legal_rep_proof_ok").text()


def test_amendment_10_proof_omission_2_1_2() -> None:
    rep = legal_rep(legal_rep_proof=[], proof_omission=OMISSION)
    old, new = side_by_side("2-1-2", "legal_representative", {"application": APP, "proxy": rep})
    assert outcome(old) == ("reject", "legal_rep_proof_missing")
    assert new.decision.value == "continue"
    assert cited(new, "legal_rep_proof_omitted") == "第2-1-(2)-ア-(ア)-C-(A)"


def test_amendment_11_reply_form_exemption() -> None:
    rep = legal_rep(with_move_notice=False, reply_form={"present": False})
    old, new = side_by_side("2-1-2", "legal_representative", {"application": APP, "proxy": rep})
    assert outcome(old) == ("inquiry", "proxy_reply_form_needed")
    assert new.decision.value == "continue"
    assert "reply_form_not_required" in keys(new)
    # a same-household proxy still needs the move-in filing in both versions
    household = proxy(same_household=True, reply_form={"present": False})
    o2, n2 = side_by_side("2-1-2", "proxy", {"application": APP, "proxy": household})
    assert outcome(o2)[0] == outcome(n2)[0] == "inquiry"


def test_amendment_12_pin_concealment_only_from_non_legal_proxies() -> None:
    rep = legal_rep(with_move_notice=True, pin_document={"present": True, "concealed": False})
    old, new = side_by_side("2-1-2", "legal_representative", {"application": APP, "proxy": rep})
    assert outcome(old) == ("reject", "pin_not_concealed_document")
    assert new.decision.value == "continue"
    ordinary = proxy(reply_form={"present": True, "pin_concealment": "none"})
    o2, n2 = side_by_side("2-1-2", "proxy", {"application": APP, "proxy": ordinary})
    assert outcome(o2) == outcome(n2) == ("reject", "pin_not_concealed_reply")


def test_amendment_13_proxy_id_transmitted() -> None:
    facts = {"application": APP, "proxy": proxy(id=e_record())}
    old, new = side_by_side("2-1-2", "proxy", facts)
    assert outcome(old) == ("reject", "e_record_not_accepted")
    assert new.decision.value == "continue"
    assert new.identity_verified


def test_amendment_14_e_record_conditions() -> None:
    unverified = {"application": APP, "proxy": proxy(id=e_record(sender_verified=False))}
    old, new = side_by_side("2-1-2", "proxy", unverified)
    assert outcome(old) == ("reject", "e_record_not_accepted")
    assert outcome(new) == ("reject", "e_record_sender_not_verified")
    assert cited(new, "e_record_sender_not_verified") == "第2-1-(2)-ア-(イ)-A-(A)"
    uncertified = {"application": APP, "proxy": proxy(id=e_record(certified_program=False))}
    assert outcome(run("2-1-2", "proxy", NEW, uncertified)) == (
        "reject", "e_record_not_certified_program")
    dob_only = {"application": APP, "proxy": proxy(id=e_record(fields=["name", "dob", "photo"]))}
    assert run("2-1-2", "proxy", NEW, dob_only).decision.value == "continue"


def test_amendment_15_fallback_declaration_proxy_card() -> None:
    proxy_decl = {"items": "resident_record", "subject": "proxy"}
    facts = {"application": APP, "proxy": proxy(id=with_card(face_auth_card(proxy_decl)))}
    old, new = side_by_side("2-1-2", "proxy", facts)
    assert old.decision.value == "continue"
    assert outcome(new) == ("reject", "b_declaration_wrong_subject")
    assert cited(new, "b_declaration_wrong_subject") == "第2-1-(2)-ア-(イ)-B"


def test_amendment_16_proxy_register_deleted() -> None:
    old, new = side_by_side("2-1-2", "proxy", {"application": APP, "proxy": proxy()})
    assert cited(old, "record_issuance_register") == "第2-1-(2)-ケ"
    assert cited(new, "record_issuance_status") == "第2-1-(1)-ア-(ケ)"


def test_amendment_17_fallback_declaration_revocation() -> None:
    card_facts = face_auth_card(None, pin_result="failed", face_auth=False,
                                operator_authenticated=True)
    facts = {"application": APP, "applicant_id": with_card(card_facts)}
    old = run("2-2-1", "self", OLD, facts)
    assert old.decision.value == "continue"
    new = run("2-2-1", "self", NEW, facts)
    assert new.decision is None
    assert new.pending == "applicant_id.card.declaration.items"
    wrong = {"application": APP, "applicant_id": with_card(
        {**card_facts, "declaration": {"items": "koseki_fuhyo", "subject": "applicant"}})}
    assert outcome(run("2-2-1", "self", NEW, wrong)) == ("reject", "b_declaration_wrong_items")
    assert cited(run("2-2-1", "self", NEW, wrong), "b_declaration_wrong_items") == (
        "第2-2-(1)-ア-(イ)-B")


def test_amendment_18_revocation_proxy_form_renumbered() -> None:
    old, new = form_labels("2-2-2", RuleVersion.CURRENT), form_labels("2-2-2", RuleVersion.AMENDED)
    assert old[-2:] == ("(ツ)", "(ト)")
    assert new[-2:] == ("(ツ)", "(テ)")
    assert len(old) == len(new)


def test_amendment_19_disclosure_reply_form_without_visit() -> None:
    reply = {"kind": "reply_form", "mayor_deems_appropriate": True}
    facts = {"application": APP, "applicant_id": reply,
             "inquiry_request": {**REQUEST_OK, "in_person": False}}
    old, new = side_by_side("2-3-1", "self", facts)
    assert outcome(old) == ("reject", "inquiry_request_not_in_person")
    assert new.decision.value == "continue"
    assert cited(new, "inquiry_request_ok") == "第2-3-(1)-ア-(イ)-A-(F)"
    unchecked = {**facts, "inquiry_request": {**REQUEST_OK, "in_person": False,
                                              "requester_exists": False}}
    assert outcome(run("2-3-1", "self", NEW, unchecked)) == (
        "reject", "inquiry_request_checks_missing")


def test_amendment_20_disclosure_proxy_omission() -> None:
    rep = legal_rep(legal_rep_proof=[], proof_omission=OMISSION, id=PASSPORT)
    old, new = side_by_side("2-3-2", "legal_representative", {"application": APP, "proxy": rep})
    assert outcome(old) == ("reject", "legal_rep_proof_missing")
    assert cited(new, "legal_rep_proof_omitted") == "第2-3-(2)-ア-(ア)-C-(A)"
    assert new.decision.value == "continue"


def test_amendment_21_grace_period_overseas() -> None:
    facts = {"application": APP3,
             "applicant_id": my_number_card(expiry="2026-02-15", photo_confirmed=True)}
    old = run("3-1-1", "self", OLD, facts)
    new = run("3-1-1", "self", NEW, facts)
    assert outcome(old) == ("reject", "card_expired")
    assert cited(old, "card_expired") == "第3-1-(1)-ア-(イ)-A"
    assert new.decision.value == "continue"
    assert "card_in_grace" in keys(new)


def test_amendment_22_fallback_declares_fuhyo_items() -> None:
    resident = {"application": APP3, "applicant_id": with_card(face_auth_card(RESIDENT_DECL))}
    old, new = side_by_side("3-1-1", "self", resident)
    assert old.decision.value == "continue"
    assert outcome(new) == ("reject", "b_declaration_wrong_items")
    fuhyo = {"application": APP3, "applicant_id": with_card(face_auth_card(FUHYO_DECL))}
    assert run("3-1-1", "self", NEW, fuhyo).decision.value == "continue"


def test_amendment_23_overseas_issuance_status_record() -> None:
    facts = {"application": APP3, "applicant_id": PASSPORT}
    old, new = side_by_side("3-1-1", "self", facts)
    assert cited(new, "record_issuance_status") == "第3-1-(1)-ア-(ケ)"
    assert new.record_keeping == "issuance_status_log"
    assert old.record_keeping != "issuance_status_log"


def test_amendment_24_overseas_register_deleted() -> None:
    old, new = side_by_side("3-1-1", "self", {"application": APP3, "applicant_id": PASSPORT})
    assert cited(old, "record_issuance_register") == "第3-1-(1)-ケ"
    assert "record_issuance_register" not in keys(new)


def test_amendment_25_overseas_proxy_omission() -> None:
    rep = legal_rep(legal_rep_proof=[], proof_omission=OMISSION)
    old, new = side_by_side("3-1-2", "legal_representative", {"application": APP3, "proxy": rep})
    assert outcome(old)[1] == "legal_rep_proof_missing"
    assert cited(new, "legal_rep_proof_omitted") == "第3-1-(2)-ア-(ア)-C-(A)"


def test_amendment_26_overseas_reply_form_without_visit() -> None:
    facts = {"application": APP3, "proxy": proxy(),
             "inquiry_request": {**REQUEST_OK, "in_person": False}}
    old, new = side_by_side("3-1-2", "proxy", facts)
    assert outcome(old) == ("reject", "inquiry_request_not_in_person")
    assert cited(old, "inquiry_request_not_in_person") == "第3-1-(2)-ア-(ア)-C-(B)"
    assert new.decision.value == "continue"


def test_amendment_27_overseas_proxy_e_record() -> None:
    facts = {"application": APP3, "proxy": proxy(id=e_record()), "inquiry_request": REQUEST_OK}
    old, new = side_by_side("3-1-2", "proxy", facts)
    assert outcome(old) == ("reject", "e_record_not_accepted")
    assert cited(new, "e_record_ok") == "第3-1-(2)-ア-(イ)-A-(A)"


def test_amendment_28_overseas_proxy_fallback_fuhyo() -> None:
    facts = {"application": APP3, "inquiry_request": REQUEST_OK,
             "proxy": proxy(id=with_card(face_auth_card(RESIDENT_DECL)))}
    old, new = side_by_side("3-1-2", "proxy", facts)
    assert old.decision.value == "continue"
    assert outcome(new) == ("reject", "b_declaration_wrong_items")
    assert cited(new, "b_declaration_wrong_items") == "第3-1-(2)-ア-(イ)-B"
    good = {**facts, "proxy": proxy(id=with_card(face_auth_card(FUHYO_DECL)))}
    assert run("3-1-2", "proxy", NEW, good).decision.value == "continue"


def test_amendment_29_overseas_proxy_register_deleted() -> None:
    facts = {"application": APP3, "proxy": proxy(), "inquiry_request": REQUEST_OK}
    old, new = side_by_side("3-1-2", "proxy", facts)
    assert cited(old, "record_issuance_register") == "第3-1-(2)-ケ"
    assert cited(new, "record_issuance_status") == "第3-1-(1)-ア-(ケ)"


def test_amendment_30_overseas_revocation_fallback() -> None:
    facts = {"application": APP3, "applicant_id": with_card(face_auth_card(RESIDENT_DECL))}
    old, new = side_by_side("3-2-1", "self", facts)
    assert old.decision.value == "continue"
    assert outcome(new) == ("reject", "b_declaration_wrong_items")
    assert cited(new, "b_declaration_wrong_items") == "第3-2-(1)-ア-(イ)-B"


def test_amendment_31_overseas_revocation_form_renumbered() -> None:
    old, new = form_labels("3-2-2", RuleVersion.CURRENT), form_labels("3-2-2", RuleVersion.AMENDED)
    assert old[-4:] == ("(ツ)", "(ソ)", "(タ)", "(チ)")
    assert new[-4:] == ("(ツ)", "(テ)", "(ト)", "(ナ)")
    assert len(set(new)) == len(new)
    assert len(set(old)) < len(old)


def test_amendment_32_no_visible_change() -> None:
    revocation = {"application": APP3, "proxy": proxy(id=PASSPORT)}
    old, new = side_by_side("3-2-2", "proxy", revocation)
    assert outcome(old) == outcome(new) == ("continue", "proxy_identified")
    disclosure = {"application": APP3, "applicant_id": PASSPORT}
    old, new = side_by_side("3-3-1", "self", disclosure)
    assert keys(old) == keys(new)


def test_amendment_33_overseas_disclosure_proxy_omission() -> None:
    rep = legal_rep(legal_rep_proof=[], proof_omission=OMISSION, id=PASSPORT)
    old, new = side_by_side("3-3-2", "legal_representative", {"application": APP3, "proxy": rep})
    assert outcome(old) == ("reject", "legal_rep_proof_missing")
    assert cited(new, "legal_rep_proof_omitted") == "第3-3-(2)-ア-(ア)-C-(A)"


def test_amendment_34_proxy_phone_reference() -> None:
    facts = {"application": APP3, "proxy": proxy(id=PASSPORT),
             "disclosure_form": {"proxy_phone": "03-1234-5678"}}
    old, new = side_by_side("3-3-2", "proxy", facts)
    old_f = next(f for f in old.findings if f.key == "form_phone_ok")
    new_f = next(f for f in new.findings if f.key == "form_phone_ok")
    assert (old_f.params["ref"], new_f.params["ref"]) == ("(ケ)", "(コ)")
    assert old_f.citation == new_f.citation == "第3-3-(2)-イ-(サ)"


def test_amendment_35_proxy_email_follows_email_rule() -> None:
    facts = {"application": APP3, "proxy": proxy(id=PASSPORT),
             "disclosure_form": {"proxy_email": "dairi@example.jp"}}
    old, new = side_by_side("3-3-2", "proxy", facts)
    assert outcome(old) == ("reject", "form_email_phone_rule")
    assert new.decision.value == "continue"
    assert cited(new, "form_email_ok") == "第3-3-(2)-イ-(ス)"


def test_amendment_36_found_card_back_in_operation() -> None:
    facts = {"lost_card": {"found": True, "held_certificates": ["S1", "A1"], "explained": True,
                           "revocation_application": True, "new_issuance": False},
             "application": APP, "applicant_id": my_number_card(operation_status="suspended")}
    old, new = side_by_side("4-3", "self", facts)
    assert old.decision.value == new.decision.value == "continue"
    old_kinds = [a.kind for a in old.actions]
    new_kinds = [a.kind for a in new.actions]
    assert old_kinds.count("revoke") == new_kinds.count("revoke") == 2
    assert "set_operation_status" not in old_kinds
    assert "set_operation_status" in new_kinds
    assert cited(new, "lost_card_status_in_operation") == "第4-3"


def test_amendment_37_register_not_retained() -> None:
    facts = {"retention": {"document": "issuance_register"}}
    old, new = side_by_side("4-4", "self", facts)
    assert (old.retain, new.retain) == (True, False)
    assert find("issuance_register", RuleVersion.CURRENT) is not None
    assert find("issuance_register", RuleVersion.AMENDED) is None
    assert len(retained_documents(RuleVersion.CURRENT)) == len(
        retained_documents(RuleVersion.AMENDED)) + 1
