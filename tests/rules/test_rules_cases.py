"""Every documented case in docs/cases runs to the decision it documents.

Also checks coverage: each procedure has a case, and every 受付不可 path in the
rules (each ``failed("...")`` key) has a case that ends in it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from device.procedures import PROCEDURES, evaluate_case, load_case

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "docs" / "cases").glob("*.json"))
RULE_SOURCES = sorted((ROOT / "device" / "procedures").glob("*.py"))


def _failure_keys() -> set[str]:
    found: set[str] = set()
    for path in RULE_SOURCES:
        found |= set(re.findall(r'failed\(\s*"([a-z0-9_]+)"', path.read_text(encoding="utf-8")))
        # keys chosen in a variable before failed(key/why, ...)
        found |= set(re.findall(r'"(b_declaration_[a-z_]+|form_email_[a-z_]+)"', path.read_text(
            encoding="utf-8")))
    found.discard("form_email_ok")
    return found


def test_there_are_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_reaches_its_documented_decision(path: Path) -> None:
    case = load_case(path)
    result = evaluate_case(case)
    assert result.decision is not None, f"pending at {result.pending}"
    assert result.decision.value == case.expect["decision"]
    matching = [f for f in result.findings if f.key == case.expect["key"]]
    assert matching, [f.key for f in result.findings]
    if "citation" in case.expect:
        assert case.expect["citation"] in {f.citation for f in matching}
    if result.decision.value == "reject":
        assert result.findings[-1].key == case.expect["key"], "the documented reason decides"
    for reason in result.reasons():
        # the guidelines' form, or 「要領外-…」 for a procedure outside them (pin-reset)
        assert reason.citation.startswith("第" if not case.info.outside_guidelines else "要領外-")
        assert reason.text


def test_every_procedure_has_a_case() -> None:
    covered = {load_case(p).info.id for p in CASES}
    assert covered == set(PROCEDURES)


def test_every_reject_path_has_a_case() -> None:
    rejected = {
        load_case(p).expect["key"] for p in CASES if load_case(p).expect["decision"] == "reject"
    }
    keys = _failure_keys()
    assert len(keys) > 30, "the scan for 受付不可 keys found too little"
    missing = keys - rejected
    assert not missing, f"受付不可 paths without a documented case: {sorted(missing)}"
