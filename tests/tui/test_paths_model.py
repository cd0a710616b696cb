"""Every path at the counter ends in a record: an exhaustive walk of the checklist's step graph.

For every procedure × actor × rule version (and both settings of the 改正後 fallback
policy) the walk starts a real engine :class:`~device.procedures.Session` and gives
every step the answers the checklist offers for it (the same step kinds as
``tui.screens.checklist.step_kind``: yes/no and choices, the PIN prompt's results,
照合番号B's match or not, ticks, dates, text), depth first, each distinct set of
recorded facts once. It asserts:

- every reachable state that is not decided has a way forward other than 中止: at
  least one offered answer is accepted by the engine (no dead end);
- every decided state is an outcome with cited reasons (continue, 受付不可, the inquiry
  route), and its record is built without personal data;
- from every distinct step, 中止 with each of the six reasons is a record naming the
  procedure, the step and its citation, the reason, and nothing personal.

Answers are a covering set, not every combination (the fields of a document: all
present, none, each one missing), so the walk stays exhaustive over the steps and
decisions while finishing in seconds.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from device.procedures import PROCEDURES, Actor, Policies, Session, Step, facts
from device.records import AbandonmentReason, Decision
from madoguchi.errors import MadoguchiError
from tui.screens.checklist import OPERATOR_AUTH_STEP, PIN_RESULT_STEP, step_kind
from tui.screens.fallback import CHIP_MATCH_STEP

EFFECTIVE = date(2026, 4, 1)
#: A day under each rule version.
DAYS = {"現行": date(2026, 3, 2), "改正後": date(2026, 6, 1)}
#: Most states one case may reach before the walk is called runaway.
STATE_BOUND = 200_000


def _field_values() -> dict[str, tuple[Any, ...]]:
    """Field name -> the values the checklist must offer, for the fields of the facts' documents.

    From the facts' own types: a yes/no for a flag, a choice of the values for an
    enumeration (never a tick the engine refuses), none or all for a set of values.
    """
    found: dict[str, tuple[Any, ...]] = {}
    for value in vars(facts).values():
        if not (dataclasses.is_dataclass(value) and isinstance(value, type)):
            continue
        for name, hint in typing.get_type_hints(value).items():
            kind = hint
            if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
                kind = next(a for a in typing.get_args(hint) if a is not type(None))
            inner = typing.get_args(kind)
            # A set of values wins over a same-named single value of another document.
            if inner and isinstance(inner[0], type) and issubclass(inner[0], enum.Enum):
                found[name] = ([str(m.value) for m in inner[0]], [])
            elif kind is bool:
                found.setdefault(name, (True, False))
            elif isinstance(kind, type) and issubclass(kind, enum.Enum):
                found.setdefault(name, tuple(str(m.value) for m in kind))
    return found


FIELD_VALUES = _field_values()


def offered(step: Step, on: date) -> list[Any]:
    """The answers the checklist offers for ``step`` (a covering set for ticks and dates)."""
    key = step.key
    if key.endswith(OPERATOR_AUTH_STEP):
        return [True]  # answered by the sign-in, never asked
    if key.endswith(PIN_RESULT_STEP):
        # The prompt's results: verified, or wrong → failed (照合番号B from the step, and
        # 'blocked', record the same fallback as failed).
        return ["verified", "failed"]
    if key.endswith(CHIP_MATCH_STEP):
        return [True, False]  # 照合番号B's comparison, or 照合できない
    kind = step_kind(step)
    spec = step.value_type.partition(":")[2]
    if kind == "choice":
        options = [value for value, _ in step.options("ja")]
        return options or [True, False]
    if kind == "multi":
        values = spec.split("|")
        return [[], *([v] for v in values), values]
    if kind == "fields":
        names = spec.split(",")
        choices = [list(FIELD_VALUES.get(name, (True, False))) for name in names]
        # Every field as usual, every field the other way, each one the other way alone,
        # and every further value of an enumeration.
        first = [c[0] for c in choices]
        combos = [first, [c[-1] for c in choices]]
        for i, values in enumerate(choices):
            combos += [[*first[:i], v, *first[i + 1:]] for v in values[1:]]
        return [dict(zip(names, combo, strict=True)) for combo in combos]
    if kind == "date":
        if key.endswith("issued_on"):  # a 住基カード with chip data, or from before it
            return ["2010-01-01", "2008-01-01"]
        return [
            (on + timedelta(days=3000)).isoformat(),  # valid
            (on - timedelta(days=30)).isoformat(),  # expired, inside the 6-month grace
            (on - timedelta(days=800)).isoformat(),  # long expired
        ]
    return ["住民票の写し"]


def cases() -> Iterator[tuple[str, str, str, bool]]:
    for pid, info in sorted(PROCEDURES.items()):
        # A procedure without an actor (第4-4) runs as "self", as the TUI starts it.
        for actor in info.actors or (Actor.SELF,):
            for version in DAYS:
                for both in ((True, False) if version == "改正後" else (True,)):
                    yield pid, actor.value, version, both


def _state(session: Session) -> str:
    """What decides the rest of the walk: the next step and every finding so far.

    The engine's findings name each fact a rule has used (with its outcome and
    parameters), so two states with the same findings and the same next step go on
    alike; walking each such state once keeps the walk exhaustive over steps and
    decisions without multiplying out every combination of earlier, settled answers.
    """
    evaluation = session.evaluation
    findings = [
        (f.key, f.outcome.value, f.citation, sorted(map(str, f.params.items())))
        for f in evaluation.findings
    ]
    return json.dumps([evaluation.pending, findings], ensure_ascii=False)


@pytest.mark.parametrize(("pid", "actor", "version", "both"), list(cases()))
def test_every_path_ends_in_a_decision_or_a_recorded_abandonment(
    pid: str, actor: str, version: str, both: bool
) -> None:
    on = DAYS[version]
    policies = Policies(fallback_requires_both=both)
    start = Session.start(pid, actor, on, policies=policies, effective_date=EFFECTIVE,
                          operator_id="clerk01")
    assert start.rule_version.value == version
    seen: set[str] = set()
    decisions: set[Decision] = set()
    abandoned_steps: set[str] = set()
    dead_ends: list[str] = []

    def walk(session: Session) -> None:
        key = _state(session)
        if key in seen:
            return
        seen.add(key)
        assert len(seen) < STATE_BOUND, "the walk does not end"
        step = session.next_step()
        if step is None:
            decisions.add(_check_decided(session))
            return
        if step.key not in abandoned_steps:
            abandoned_steps.add(step.key)
            _check_abandonment(session, step)
        forward = 0
        for answer in offered(step, on):
            try:
                session.record(step.key, answer)
            except MadoguchiError:
                continue
            forward += 1
            walk(session)
            session.back()
        if not forward:
            dead_ends.append(f"{step.key} after {key}")

    walk(start)
    assert not dead_ends, f"{len(dead_ends)} dead end(s), e.g. {dead_ends[0]}"
    # Every procedure can be decided, and a procedure with the identity steps can end
    # in 受付不可 as well as go ahead.
    assert decisions
    if abandoned_steps & {"applicant_id.kind", "proxy.id.kind"}:
        assert {Decision.CONTINUE, Decision.REJECT} <= decisions, decisions


def _check_decided(session: Session) -> Decision:
    evaluation = session.evaluation
    decision = evaluation.decision
    assert decision is not None
    reasons = evaluation.reasons("ja")
    assert reasons, f"{decision} without a reason"
    for reason in reasons:
        # the guidelines' form; 「要領外-初期化-…」 only for the procedure outside them
        outside = session.info.outside_guidelines
        assert reason.citation.startswith("要領外-初期化-" if outside else "第"), reason
        assert reason.text
    record = session.complete(language="ja")
    payload = record.to_payload()  # refuses personal data
    assert "abandonment_reason" not in payload
    return decision


def _check_abandonment(session: Session, step: Step) -> None:
    for reason in AbandonmentReason:
        record = session.abandon(reason)
        payload = record.to_payload()
        assert payload["decision"] == "abandoned"
        assert payload["abandonment_reason"] == reason.value
        assert payload["extra"]["abandoned_at"] == step.key
        first, *where = payload["reasons"]
        assert first["citation"] == session.info.citation
        assert "中止" in first["text"]
        assert [r["citation"] for r in where] == [step.citation]
        # No fact's value travels with an abandonment: the checks passed are step keys.
        assert all("@第" in check or "@要領外-" in check for check in payload["checks"])
        assert not payload["certificates"]


def test_an_abandonment_round_trips_and_other_records_keep_their_payload() -> None:
    from device.records import TransactionRecord

    session = Session.start("2-1-1", "self", DAYS["改正後"], effective_date=EFFECTIVE)
    record = session.abandon(AbandonmentReason.CARD)
    assert TransactionRecord.from_payload(record.to_payload()) == record
    session.record("application.received", False)
    decided = session.complete()
    payload = decided.to_payload()
    assert "abandonment_reason" not in payload  # an older reader sees what it always saw
    assert TransactionRecord.from_payload(payload) == decided
