"""Every question of every procedure: Japanese choices, safe defaults, no raw identifiers.

Walks the question catalogue (``device.procedures.checklist`` + ``texts``) for every
procedure × actor × rule set in both languages, and the sessions the clerk drives:
first answering every question with its default (the Enter-habit path), then
deviating from the default at each question once and going on with defaults.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from device.procedures import Session, Step, texts
from device.procedures.catalogue import PROCEDURES
from device.procedures.checklist import steps_for
from device.procedures.facts import Actor
from device.procedures.policies import Policies
from device.records import Decision

OLD, NEW = date(2026, 1, 15), date(2026, 6, 1)
#: Answers to typed questions (dates, text), which have no default.
TYPED = {"card.expiry": "2030-01-31", "card.issued_on": "2015-01-01",
         "retention.document": "issuance_register"}
#: Raw identifiers and JSON paths: snake_case words, ``$.`` paths, ``key@``.
RAW = re.compile(r"[a-z]+_[a-z_]+|\$\.|[a-z]\.[a-z]")
#: An English word on a Japanese screen (a single letter is a 項 number: A, (F), ア-(イ)-B).
ENGLISH = re.compile(r"[A-Za-z]{2,}")


def _combos() -> Iterator[tuple[str, Actor | None, date]]:
    for pid, info in PROCEDURES.items():
        for actor in info.actors or (None,):
            for on in (OLD, NEW):
                yield pid, actor, on


COMBOS = list(_combos())


def _ids(combo: tuple[str, Actor | None, date]) -> str:
    pid, actor, on = combo
    return f"{pid}-{actor.value if actor else 'none'}-{'new' if on == NEW else 'old'}"


def _start(pid: str, actor: Actor | None, on: date, policies: Policies | None = None) -> Session:
    return Session.start(pid, actor or Actor.SELF, on, policies=policies)


def _answer(step: Step) -> Any:
    if step.default is not None:
        return step.default
    for ending, value in TYPED.items():
        if step.key.endswith(ending):
            return value
    raise AssertionError(f"{step.key}: no default and no typed answer")


def _assert_clerk_text(text: str, where: str, language: str) -> None:
    assert text.strip(), f"{where}: empty"
    assert not RAW.search(text), f"{where}: raw identifier in {text!r}"
    if language == "ja":
        assert not ENGLISH.search(text), f"{where}: English on a Japanese screen: {text!r}"


def _assert_question(step: Step, language: str) -> None:
    where = f"{step.key} ({language})"
    _assert_clerk_text(step.text(language), where, language)
    kind = step.value_type.partition(":")[0]
    assert kind != "object", f"{where}: an object step would show raw field names as ticks"
    for value, label in step.options(language):
        _assert_clerk_text(label, f"{where} option {value}", language)
        assert value in texts.VALUES, f"{where}: {value} has no label in the catalogue"
    options = [value for value, _ in step.options(language)]
    if kind == "bool":
        assert isinstance(step.default, bool), f"{where}: no default answer"
    elif kind == "enum":
        assert step.default in options, f"{where}: default {step.default!r} not an option"
    elif kind == "list":
        assert isinstance(step.default, list), f"{where}: no default ticks"
        assert set(step.default) <= set(options), f"{where}: default not among the options"


@pytest.mark.parametrize("combo", COMBOS, ids=_ids)
@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_question_in_the_catalogue_reads_as_the_clerk_knows_it(
    combo: tuple[str, Actor | None, date], language: str
) -> None:
    pid, actor, _ = combo
    for step in steps_for(PROCEDURES[pid], actor):
        _assert_question(step, language)


def _walk(session: Session, deviate: tuple[str, Any] | None = None) -> list[Step]:
    """Answer with defaults (one answer replaced by ``deviate``); fail when a default
    answer is the one that decides 受付不可 or the inquiry route."""
    asked = []
    while (step := session.next_step()) is not None:
        asked.append(step)
        assert len(asked) < 80, "the checklist does not end"
        chosen = deviate[1] if deviate and deviate[0] == step.key else _answer(step)
        evaluation = session.record(step.key, chosen)
        deviated = deviate is not None and deviate[0] == step.key
        if evaluation.decision in (Decision.REJECT, Decision.INQUIRY) and not deviated \
                and not _deviation_decided(session, deviate):
            _assert_not_decided_by_default(session, step)
    return asked


def _deviation_decided(session: Session, deviate: tuple[str, Any] | None) -> bool:
    """Whether the earlier non-default answer, not this default one, ended the case."""
    if deviate is None or deviate[0] not in _flat(session.recorded):
        return False
    step = next(s for s in session.checklist() if s.key == deviate[0]) \
        if any(s.key == deviate[0] for s in session.checklist()) else None
    if step is None or step.default is None:
        return False
    trial = Session.start(session.info.id, session.actor, session.on, policies=session.policies)
    trial.record_many({**_flat(session.recorded), deviate[0]: step.default})
    return trial.evaluation.decision not in (Decision.REJECT, Decision.INQUIRY)


def _assert_not_decided_by_default(session: Session, step: Step) -> None:
    """The default answer to ``step`` ended the case: fine only when every other answer
    would end it too (an earlier answer decided it; this question only came first)."""
    decided = session.evaluation
    for other in _alternatives(step):
        trial = Session.start(session.info.id, session.actor, session.on,
                              policies=session.policies)
        trial.record_many({**_flat(session.recorded), step.key: other})
        if trial.evaluation.decision in (None, Decision.CONTINUE):
            reasons = [r.text for r in decided.reasons("ja")]
            pytest.fail(f"the default answer to {step.key} decided {decided.decision}: "
                        f"{reasons}")


def _flat(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


POLICY_SETS = [Policies(), Policies(fallback_requires_both=False)]


@pytest.mark.parametrize("combo", COMBOS, ids=_ids)
@pytest.mark.parametrize("policies", POLICY_SETS, ids=["and", "or"])
def test_the_enter_habit_path_continues_and_speaks_japanese(
    combo: tuple[str, Actor | None, date], policies: Policies
) -> None:
    pid, actor, on = combo
    session = _start(pid, actor, on, policies)
    for step in _walk(session):
        for language in ("ja", "en"):
            _assert_question(step, language)
    assert session.evaluation.decision is Decision.CONTINUE
    for reason in session.evaluation.reasons("ja"):
        _assert_clerk_text(reason.text, f"{pid} reason {reason.citation}", "ja")


def _alternatives(step: Step) -> list[Any]:
    kind = step.value_type.partition(":")[0]
    if kind == "bool":
        return [not step.default]
    if kind == "enum":
        return [v for v, _ in step.options() if v != step.default]
    if kind == "list":
        return [[]]
    return []


@pytest.mark.parametrize("combo", COMBOS, ids=_ids)
def test_after_any_other_answer_the_defaults_never_decide_by_themselves(
    combo: tuple[str, Actor | None, date],
) -> None:
    pid, actor, on = combo
    path = _walk(_start(pid, actor, on))
    seen: set[str] = set()
    for step in path:
        for other in _alternatives(step):
            session = _start(pid, actor, on)
            for later in _walk(session, (step.key, other)):
                if later.key not in seen:
                    seen.add(later.key)
                    for language in ("ja", "en"):
                        _assert_question(later, language)
            decided = session.evaluation
            assert decided.decision is not None
            for reason in decided.reasons("ja"):
                _assert_clerk_text(reason.text, f"{pid} {step.key}={other!r}", "ja")
