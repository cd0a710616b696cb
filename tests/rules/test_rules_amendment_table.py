"""The amendment table in code matches domain-spec §3 and the per-amendment tests."""

from __future__ import annotations

import re
from pathlib import Path

from device.procedures import PROCEDURES, texts
from device.procedures.amendments import AMENDMENTS, for_procedure

HERE = Path(__file__).resolve().parent


def test_all_37_amendments_are_listed_in_order() -> None:
    assert [a.number for a in AMENDMENTS] == list(range(1, 38))
    assert set(texts.AMENDMENTS) == set(range(1, 38))
    for amendment in AMENDMENTS:
        assert amendment.citation.startswith("第")
        assert set(amendment.procedures) <= set(PROCEDURES)
        assert amendment.summary("ja")
        assert amendment.summary("en")


def test_each_amendment_has_its_own_side_by_side_test() -> None:
    source = (HERE / "test_rules_amendments.py").read_text(encoding="utf-8")
    numbers = {int(n) for n in re.findall(r"^def test_amendment_(\d\d)_", source, re.M)}
    assert numbers == set(range(1, 38))


def test_amendments_by_procedure() -> None:
    assert [a.number for a in for_procedure("2-1-1")] == [3, 4, 5, 6, 7]
    assert 36 in [a.number for a in for_procedure("4-3")]
    assert all(for_procedure(pid) for pid, info in PROCEDURES.items()
               if not info.outside_guidelines), "every procedure of the guidelines was amended"
    assert not for_procedure("pin-reset"), "outside the guidelines: no amendment touches it"
