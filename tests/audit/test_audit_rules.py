"""The procedure engine's case runner at DEBUG: every documented case, and case files or clerk
input that wrongly carry a PIN or a My Number, leave neither in output, logs or errors."""

from __future__ import annotations

import ast
import datetime as dt
import json
from pathlib import Path

import pytest

from device.procedures import Session
from device.records import CertificateAction, Decision, Reason, TransactionRecord
from device.store import Store
from drivers.simcard.facts import facts_for
from madoguchi.cli import main
from madoguchi.errors import MadoguchiError, RuleError
from tests.audit.conftest import Capture
from tests.audit.leaks import Secrets, exception_text

CASES = sorted((Path(__file__).resolve().parents[2] / "docs" / "cases").glob("*.json"))
FACTS = facts_for("standard", 0, today=dt.date(2026, 6, 1))


def _secrets() -> Secrets:
    secrets = Secrets.of_card(FACTS)
    assert len(secrets.values) == 7  # four PINs, 照合番号B, My Number, its digest
    return secrets


def test_every_documented_case_runs_clean_at_debug(capture: Capture) -> None:
    assert len(CASES) > 50
    for case in CASES:
        assert main(["-vv", "rules", "check", "--json", "--verify", str(case)]) == 0, case
    assert main(["-vv", "rules", "list"]) == 0
    haystacks = capture.haystacks()
    assert sum(text.count('"decision"') for where, text in haystacks
               if where == "stdout" and isinstance(text, str)) == len(CASES)
    _secrets().assert_clean(haystacks)


@pytest.mark.parametrize("key", ["my_number", "個人番号", "暗証番号", "PIN"])
def test_a_case_file_holding_a_secret_is_refused_by_key_name_only(
    key: str, capture: Capture, tmp_path: Path
) -> None:
    value = FACTS.my_number if key in ("my_number", "個人番号") else FACTS.auth_pin
    data = json.loads(CASES[0].read_text(encoding="utf-8"))
    data["facts"]["applicant_id"][key] = value
    case = tmp_path / "bad.json"
    case.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert main(["-vv", "rules", "check", str(case)]) == 2
    haystacks = capture.haystacks()
    stderr = next(text for where, text in haystacks if where == "stderr")
    assert "is not allowed" in str(stderr)
    # The scan covers the case file's own copy too: skip it, it is the test's input.
    _secrets().assert_clean([h for h in haystacks if "bad.json" not in h[0]])


def test_the_clerks_session_refuses_a_secret_key_by_name_only() -> None:
    session = Session.start("2-1-1", "self", dt.date(2026, 6, 1), operator_id="op-1")
    with pytest.raises(RuleError) as info:
        session.record("applicant_id.card.my_number", FACTS.my_number)
    _secrets().assert_clean([("RuleError", exception_text(info.value))])
    assert "my_number" not in json.dumps(session.recorded)


@pytest.mark.parametrize(
    ("step", "typed"),
    [("applicant_id.card.pin_result", FACTS.auth_pin),
     ("applicant_id.card.expiry", FACTS.my_number)],
)
def test_a_secret_typed_into_a_result_field_is_not_echoed(step: str, typed: str) -> None:
    session = Session.start("2-1-1", "self", dt.date(2026, 6, 1), operator_id="op-1")
    with pytest.raises(RuleError) as info:
        session.record(step, typed)
    _secrets().assert_clean([("RuleError", exception_text(info.value))])


def test_the_store_refuses_a_my_number_in_a_record_value(capture: Capture) -> None:
    record = TransactionRecord(
        transaction_id="00000000-0000-4000-8000-000000000001", procedure="2-1-1", actor="self",
        decision=Decision.CONTINUE, reasons=(Reason("第2-1-(1)-ア", "確認"),),
        rule_version="改正後", operator_id="op-1", started_at="2026-06-01T09:00:00+09:00",
        completed_at="2026-06-01T09:01:00+09:00",
        certificates=(CertificateAction("auth", "issued", FACTS.my_number),),
    )
    store = Store(capture.state_dir / "device.sqlite3")
    try:
        with pytest.raises(MadoguchiError):
            store.record_transaction(record)
    finally:
        store.close()
    _secrets().assert_clean(capture.haystacks())


# -- finding A-8: no bare assert as a runtime check ----------------------------------------

#: The packages that ship; ``python -O`` strips every ``assert`` in them.
PRODUCTION = ("device", "drivers", "sync", "madoguchi", "updater", "tui")
#: Named in A-8 but owned by the TUI and fixed there; nothing may join this set.
PENDING = frozenset({"tui/screens/pin_prompt.py"})


def test_production_code_has_no_bare_assert() -> None:
    root = Path(__file__).resolve().parents[2]
    found = []
    for package in PRODUCTION:
        for path in sorted((root / package).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            if where in PENDING:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), where)
            found += [f"{where}:{node.lineno}" for node in ast.walk(tree)
                      if isinstance(node, ast.Assert)]
    assert found == [], "a check that vanishes under python -O; raise a typed error instead"
