"""Clerk-facing texts exist in both languages, and every citation can be found in the code."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from device.procedures import PROCEDURES, evaluate_case, load_case, steps_for, texts

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "device" / "procedures").glob("*.py"))
CODE = "\n".join(p.read_text(encoding="utf-8") for p in SOURCES)
CASES = sorted((ROOT / "docs" / "cases").glob("*.json"))


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(texts.MESSAGES))
def test_messages_have_both_languages_with_the_same_fields(key: str) -> None:
    ja, en = texts.MESSAGES[key]
    assert ja
    assert en
    assert _fields(ja) == _fields(en)
    assert re.search(r"[ぁ-んァ-ン一-龥]", ja), "the Japanese text must be Japanese"


def test_every_message_key_used_in_rules_has_a_text() -> None:
    used = set(re.findall(r'(?:passed|failed|note|inquiry)\(\s*"([a-z0-9_]+)"', CODE))
    used |= set(re.findall(r'"(b_[a-z_]+|form_[a-z_]+|legal_rep_proof_ok[a-z_]*)"', CODE))
    assert used
    assert used <= set(texts.MESSAGES), sorted(used - set(texts.MESSAGES))


def test_every_step_has_a_question_in_both_languages() -> None:
    for info in PROCEDURES.values():
        for step in steps_for(info):
            assert step.text("ja")
            assert step.text("en")


def test_procedure_titles() -> None:
    assert set(texts.PROCEDURE_TITLES) == set(PROCEDURES)
    assert PROCEDURES["2-1-2"].title("ja") == "電子証明書の新規発行／更新（代理人）"


def test_every_citation_in_the_cases_is_written_literally_in_the_code() -> None:
    """Grep 「第2-1-(1)-ア-(イ)-B」 and you find the rule that cites it."""
    seen: set[str] = set()
    for path in CASES:
        result = evaluate_case(load_case(path))
        seen |= {f.citation for f in result.findings}
    assert len(seen) > 30
    missing = sorted(c for c in seen if f'"{c}"' not in CODE)
    assert not missing, missing


def test_every_option_of_every_step_has_a_label() -> None:
    from device.procedures import Actor

    for info in PROCEDURES.values():
        for actor in (None, *info.actors):
            for step in steps_for(info, actor if isinstance(actor, Actor) else None):
                for value, ja in step.options("ja"):
                    assert value in texts.VALUES, (step.key, value)
                    assert ja != value
                    assert dict(step.options("en"))[value]


def test_option_labels() -> None:
    from device.procedures import procedure

    kind = next(s for s in steps_for(procedure("2-1-1")) if s.key == "applicant_id.kind")
    assert ("my_number_card", "個人番号カード") in kind.options("ja")
    assert ("passport", "passport") in kind.options("en")
    assert texts.value_label("no-such-value") == "no-such-value"


def test_parameters_are_shown_with_labels() -> None:
    assert "（一時停止）" in texts.message("b_status_not_in_operation", status="suspended")
    assert "(suspended)" in texts.message("b_status_not_in_operation", "en", status="suspended")
    assert "はい" in texts.message("reply_form_not_required", legal=True)
    both = texts.message("legal_rep_proof_ok", proofs="agency_list,family_register_copy")
    assert "代理行為目録等（登記事項証明書）、戸籍謄本" in both
