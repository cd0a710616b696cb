"""The case-file format: strict schema, clear errors, and no place for a PIN or My Number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from device.procedures import ForbiddenKeyError, load_case, parse_case
from madoguchi.errors import RuleError

BASE: dict[str, Any] = {
    "procedure": "2-1-1", "actor": "self", "date": "2026-06-01",
    "facts": {"application": {"received": True}},
}


def test_minimal_case_parses() -> None:
    case = parse_case(BASE)
    assert case.info.id == "2-1-1"
    assert case.facts.application is not None


@pytest.mark.parametrize("path", [
    ("pin",), ("facts", "pin"), ("facts", "applicant_id", "card", "PIN"),
    ("facts", "my_number"), ("facts", "applicant_id", "individual_number"),
    ("facts", "proxy", "id", "暗証番号"), ("facts", "proxy", "個人番号"), ("password",),
])
def test_secret_keys_are_refused_at_any_depth(path: tuple[str, ...]) -> None:
    data: dict[str, Any] = json.loads(json.dumps(BASE))
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = "1234"
    with pytest.raises(ForbiddenKeyError, match="never hold a PIN or an individual number"):
        parse_case(data)


def test_secret_key_inside_a_list_is_refused() -> None:
    data = {**BASE, "facts": {"lost_card": {"held_certificates": [{"pin": "1"}]}}}
    with pytest.raises(ForbiddenKeyError):
        parse_case(data)


@pytest.mark.parametrize(("change", "message"), [
    ({"procedure": "2-9-9"}, "unknown procedure"),
    ({"actor": "mayor"}, "not one of"),
    ({"date": "2026/13/01"}, "not a date"),
    ({"extra": 1}, "unknown key"),
    ({"facts": {"applicant_id": {"kind": "my_number_card", "colour": "blue"}}}, "unknown key"),
    ({"facts": {"application": {"received": "yes"}}}, "true or false"),
    ({"facts": {"application": []}}, "expected an object"),
    ({"facts": {"proxy": {"legal_rep_proof": "family_register_copy"}}}, "expected a list"),
    ({"facts": {"proxy": {"id": {"e_record": {"fields": ["nmae"]}}}}}, "not one of"),
])
def test_bad_input_is_a_clear_rule_error(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_case({**BASE, **change})


@pytest.mark.parametrize(("change", "field", "form"), [
    ({"actor": "4711"}, "$.actor", "self, proxy"),
    ({"facts": {"applicant_id": {"kind": "my_number_card", "card": {"pin_result": "4711"}}}},
     "$.facts.applicant_id.card.pin_result", "verified, failed, blocked"),
    ({"date": "4711"}, "$.date", "YYYY-MM-DD"),
    ({"facts": {"applicant_id": {"kind": "my_number_card", "card": {"expiry": "471147114711"}}}},
     "$.facts.applicant_id.card.expiry", "YYYY-MM-DD"),
])
def test_a_refused_value_is_named_by_its_field_never_echoed(
    change: dict[str, Any], field: str, form: str
) -> None:
    # audit A-4: a PIN typed into a result field, or a My Number into a date field,
    # must not come back in the message the clerk sees and the UI logs
    with pytest.raises(RuleError) as info:
        parse_case({**BASE, **change})
    message = str(info.value)
    assert "4711" not in message
    assert field in message
    assert form in message


def test_missing_top_level_keys() -> None:
    with pytest.raises(RuleError, match="missing 'date'"):
        parse_case({"procedure": "2-1-1", "actor": "self"})
    with pytest.raises(RuleError, match="JSON object"):
        parse_case([1, 2])


def test_load_case_reports_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(RuleError, match=r"bad\.json: not valid JSON"):
        load_case(bad)
    with pytest.raises(RuleError, match="cannot read case file"):
        load_case(tmp_path / "absent.json")
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({**BASE, "facts": {"pin": "0000"}}), encoding="utf-8")
    with pytest.raises(ForbiddenKeyError, match=r"secret\.json"):
        load_case(secret)
