"""The procedure engine: facts in, a decision with cited reasons out.

Two ways in, one set of rules:

* :func:`evaluate` — one-shot, for the case runner and for tests.
* :class:`Session` — the clerk drives it step by step from the TUI:
  ``Session.start(procedure, actor, date)`` → :meth:`Session.next_step` →
  :meth:`Session.record` → ... → :attr:`Session.evaluation` →
  :meth:`Session.complete` returns the :class:`~device.records.TransactionRecord`.

The rule set (現行 or 改正後) is chosen from the transaction date and the
configured effective date, and every evaluation says which one decided it.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from device.procedures import ancillary, pin_reset, texts
from device.procedures.casefile import Case, FactValueError, check_forbidden, facts_from
from device.procedures.catalogue import Kind, Population, ProcedureInfo, procedure
from device.procedures.checklist import Step, step, steps_for
from device.procedures.context import Action, Context, Stop
from device.procedures.facts import Actor, Facts, FeeStatus
from device.procedures.fees import CERTIFICATE_KINDS, Fee, fee_for
from device.procedures.findings import Finding, Outcome, Pending
from device.procedures.identity_rules import (
    application_received,
    overseas_preconditions,
    self_identity,
)
from device.procedures.policies import Policies
from device.procedures.proxy_rules import proxy_procedure
from device.procedures.versions import RuleVersion, select_version
from device.records import (
    AbandonmentReason,
    CertificateAction,
    Decision,
    Reason,
    TransactionRecord,
)
from madoguchi.errors import RuleError

#: Used when no effective date is configured (mirrors the ``[rules]`` default).
DEFAULT_EFFECTIVE_DATE = date(2026, 4, 1)


@dataclass(frozen=True)
class Evaluation:
    """The result of running the rules on the facts recorded so far."""

    info: ProcedureInfo
    actor: Actor
    on: date
    rule_version: RuleVersion
    #: ``None`` while a needed fact is still missing; :attr:`pending` names it.
    decision: Decision | None
    pending: str | None
    findings: tuple[Finding, ...]
    actions: tuple[Action, ...]
    identity_verified: bool
    record_keeping: str | None
    fee: Fee
    retain: bool | None = None

    @property
    def complete(self) -> bool:
        """True once the rules reached a decision."""
        return self.decision is not None

    def reasons(self, language: str = "ja") -> tuple[Reason, ...]:
        """The reasons for the decision, each with its citation.

        For 受付不可 and the inquiry route: the notes that led there and the deciding
        finding. For continue: every check passed and every note.
        """
        if self.decision is Decision.CONTINUE:
            chosen: Iterable[Finding] = self.findings
        else:
            chosen = [f for f in self.findings if f.outcome is not Outcome.PASS]
        return tuple(Reason(f.citation, f.text(language)) for f in chosen)

    def to_dict(self, language: str = "ja") -> dict[str, Any]:
        """The JSON form the case runner prints (keys: decision, reasons, rule_version, ...)."""
        return {
            "procedure": self.info.id,
            "procedure_citation": self.info.citation,
            "actor": self.actor.value,
            "date": self.on.isoformat(),
            "decision": self.decision.value if self.decision else "pending",
            "pending": self.pending,
            "reasons": [{"citation": r.citation, "text": r.text} for r in self.reasons(language)],
            "rule_version": self.rule_version.value,
            "findings": [
                {"key": f.key, "outcome": f.outcome.value, "citation": f.citation,
                 "text": f.text(language), "identity": f.identity}
                for f in self.findings
            ],
            "actions": [
                {"kind": a.kind, "target": a.target, "citation": a.citation} for a in self.actions
            ],
            "identity_verified": self.identity_verified,
            "record_keeping": self.record_keeping,
            "fee_collected_yen": self.fee.collected_yen,
            "fee_payable_jlis_yen": self.fee.payable_jlis_yen,
            "retain": self.retain,
        }


def evaluate(
    pid: str | ProcedureInfo,
    actor: Actor,
    on: date,
    facts: Facts,
    *,
    policies: Policies | None = None,
    effective_date: date = DEFAULT_EFFECTIVE_DATE,
) -> Evaluation:
    """Run the rules for one transaction and return the (possibly pending) evaluation."""
    info = pid if isinstance(pid, ProcedureInfo) else procedure(pid)
    if info.actors and actor not in info.actors:
        allowed = ", ".join(a.value for a in info.actors)
        raise RuleError(f"procedure {info.id} is for actor(s) {allowed}, not {actor.value}")
    version = select_version(on, effective_date)
    ctx = Context(info, actor, on, version, policies or Policies(), facts)
    decision: Decision | None = None
    pending: str | None = None
    record_keeping: str | None = None
    retain: bool | None = None
    try:
        record_keeping, retain = _run(ctx)
        decision = Decision.CONTINUE
    except Stop:
        decision = Decision.REJECT if ctx.trail[-1].outcome is Outcome.FAIL else Decision.INQUIRY
    except Pending as missing:
        pending = missing.step
    identity = any(f.identity and f.outcome is Outcome.PASS for f in ctx.trail)
    if decision is Decision.CONTINUE and info.needs_identity and not identity:
        # A rule path that continues without identifying anyone is a bug in the rules.
        raise RuleError(f"internal: {info.id} would continue without an identity check")
    certificates = facts.application.certificates if facts.application else frozenset()
    exempt = facts.application is not None and facts.application.fee is FeeStatus.EXEMPT
    fee = (fee_for(info, certificates, ctx.policies)
           if decision is Decision.CONTINUE and not exempt else Fee(0, 0))
    return Evaluation(
        info, actor, on, version, decision, pending, tuple(ctx.trail), tuple(ctx.actions),
        identity, record_keeping, fee, retain,
    )


def evaluate_case(
    case: Case, *, policies: Policies | None = None, effective_date: date = DEFAULT_EFFECTIVE_DATE
) -> Evaluation:
    """Evaluate a parsed case file; its own ``policies`` override the given ones."""
    base = policies or Policies()
    merged = base.with_overrides(case.policies) if case.policies else base
    return evaluate(
        case.info, case.actor, case.on, case.facts, policies=merged, effective_date=effective_date
    )


def _run(ctx: Context) -> tuple[str | None, bool | None]:
    info = ctx.info
    if info.kind is Kind.RETENTION:
        return None, ancillary.retention_query(ctx)
    if info.kind is Kind.PIN_RESET:
        pin_reset.run(ctx)  # outside the guidelines: its own published rules
        return None, None
    if info.kind is Kind.LOST_CARD_FOUND:
        ancillary.lost_card_found(ctx)
        # The held certificates are revoked 「失効申請に基づき」: 第2-2's rules identify the person.
        ctx.rule_procedure = "2-2-1" if ctx.actor is Actor.SELF else "2-2-2"
        ctx.lost_card_flow = True
        _identify(ctx)
        ancillary.lost_card_actions(ctx)
        return None, None
    _identify(ctx)
    ancillary.disclosure_form_items(ctx)
    if info.kind is Kind.ISSUANCE:
        application = ctx.facts.application
        requested = application.certificates if application else frozenset()
        unknown = sorted(requested - set(CERTIFICATE_KINDS))
        if unknown or not requested:
            raise RuleError(f"application.certificates must name sign and/or auth, got {unknown}")
        for kind in sorted(requested):
            ctx.actions.append(Action("issue", kind, info.citation))
        return ancillary.record_keeping(ctx), None
    if info.kind is Kind.REVOCATION:
        ctx.actions.append(Action("revoke", "certificates", info.citation))
    return None, None


def _identify(ctx: Context) -> None:
    application_received(ctx, ctx.rule_procedure)
    if ctx.info.population is Population.OVERSEAS:
        overseas_preconditions(ctx)
    if ctx.actor is Actor.SELF:
        self_identity(ctx)
    else:
        proxy_procedure(ctx)


# -- The clerk's session ------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Session:
    """One procedure at the counter, driven step by step by the clerk.

    Facts are recorded by dotted step keys (``"applicant_id.card.pin_result"``)
    with JSON-like values; every record is validated at once, and a bad value
    raises :class:`~madoguchi.errors.RuleError` without losing what was recorded.
    """

    def __init__(
        self,
        info: ProcedureInfo,
        actor: Actor,
        on: date,
        *,
        policies: Policies | None = None,
        effective_date: date = DEFAULT_EFFECTIVE_DATE,
        operator_id: str = "",
        office_code: str = "",
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.info = info
        self.actor = actor
        self.on = on
        self.policies = policies or Policies()
        self.effective_date = effective_date
        self.operator_id = operator_id
        self.office_code = office_code
        self._clock = clock
        self.started_at = clock().isoformat()
        self._raw: dict[str, Any] = {}
        self._facts = Facts()
        # What was recorded before each answer, newest last: :meth:`back` steps through it.
        self._history: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.evaluation = self._evaluate()

    @classmethod
    def start(
        cls, pid: str, actor: Actor | str, on: date, **options: Any
    ) -> Session:
        """Begin procedure ``pid`` for ``actor`` on transaction date ``on``."""
        who = actor if isinstance(actor, Actor) else Actor(actor)
        return cls(procedure(pid), who, on, **options)

    @property
    def rule_version(self) -> RuleVersion:
        """The rule set deciding this session."""
        return self.evaluation.rule_version

    @property
    def facts(self) -> Facts:
        """The facts recorded so far."""
        return self._facts

    def checklist(self) -> tuple[Step, ...]:
        """The procedure's full checklist (the static view, as ``rules explain`` prints it)."""
        return steps_for(self.info, self.actor)

    def next_step(self) -> Step | None:
        """The step the clerk must do next, or ``None`` once the decision stands."""
        if self.evaluation.pending is None:
            return None
        return step(self.evaluation.pending, self.info, self.actor)

    def record(self, step_key: str, value: Any) -> Evaluation:
        """Record the fact for ``step_key`` and re-evaluate."""
        return self.record_many({step_key: value})

    def record_many(self, values: dict[str, Any]) -> Evaluation:
        """Record several facts at once (all or nothing) and re-evaluate.

        A value of the wrong form raises :class:`StepValueError`, which names the
        question as the clerk reads it (:meth:`StepValueError.text`).
        """
        raw, facts = self._with(values)
        self._history.append((tuple(values), self._raw))
        self._raw, self._facts = raw, facts
        self.evaluation = self._evaluate()
        return self.evaluation

    def _with(self, values: dict[str, Any]) -> tuple[dict[str, Any], Facts]:
        """What is recorded plus ``values``, validated; nothing of the session changes."""
        raw = copy.deepcopy(self._raw)
        for key, value in values.items():
            check_forbidden({key.rsplit(".", 1)[-1]: value}, f"$.facts.{key}")
            _set_path(raw, key, value)
        try:
            return raw, facts_from(raw)
        except FactValueError as exc:
            raise StepValueError(exc) from None

    def note(self, values: dict[str, Any]) -> Evaluation:
        """Record facts the card established, not answers (the new PINs an issuance set).

        All or nothing, validated as :meth:`record_many`; :meth:`back` never takes them
        back (they are written into every earlier state too): what was written on a card
        stays written, and F3 must not lead to writing it again.
        """
        raw, facts = self._with(values)
        for _, before in self._history:
            for key, value in values.items():
                _set_path(before, key, copy.deepcopy(value))
        self._raw, self._facts = raw, facts
        self.evaluation = self._evaluate()
        return self.evaluation

    def forget(self, step_key: str) -> Evaluation:
        """Take back what was recorded for ``step_key`` (and below it), and re-evaluate.

        It is gone from :meth:`back`'s history too: stepping back never brings back a
        fact that was withdrawn (the first card's, when another card is put down).
        """
        raw = copy.deepcopy(self._raw)
        if not _delete_path(raw, step_key):
            raise RuleError(f"nothing is recorded for {step_key!r}")
        for _, before in self._history:
            _delete_path(before, step_key)
        self._raw, self._facts = raw, facts_from(raw)
        self.evaluation = self._evaluate()
        return self.evaluation

    def recorded_under(self, prefix: str) -> bool:
        """Whether anything is recorded at ``prefix`` (a dotted step key or a part of one)."""
        node: Any = self._raw
        for part in prefix.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    @property
    def can_go_back(self) -> bool:
        """Whether an answer is recorded that :meth:`back` can take back."""
        return bool(self._history)

    def back(self) -> tuple[str, ...]:
        """Take back the last answer (one :meth:`record` or :meth:`record_many`), re-evaluate.

        Returns the step keys taken back; raises :class:`RuleError` when nothing is recorded.
        """
        if not self._history:
            raise RuleError("nothing is recorded yet")
        keys, before = self._history.pop()
        self._raw, self._facts = before, facts_from(before)
        self.evaluation = self._evaluate()
        return keys

    @property
    def recorded(self) -> dict[str, Any]:
        """A copy of everything recorded so far, in case-file form (the ``facts`` object)."""
        return copy.deepcopy(self._raw)

    def _evaluate(self) -> Evaluation:
        return evaluate(
            self.info, self.actor, self.on, self._facts,
            policies=self.policies, effective_date=self.effective_date,
        )

    def complete(
        self,
        *,
        certificates: Iterable[CertificateAction] = (),
        transaction_id: str | None = None,
        language: str = "ja",
        operation_status_set: bool = False,
    ) -> TransactionRecord:
        """The transaction record of the decided procedure (never holds a PIN or My Number).

        ``operation_status_set``: the card's 運用状況 was set back to 運用中 on the central
        server (第4-3 under 改正後); the record says so. A proxy's 暗証番号の初期化・再設定
        whose new PIN was entered from the concealed reply form says only that
        (``concealed_form_used``), never anything of the PIN.
        """
        ev = self.evaluation
        if ev.decision is None:
            raise RuleError(f"procedure {self.info.id} is not decided yet: next step {ev.pending}")
        extra = self._extra(language)
        extra.update(
            record_keeping=ev.record_keeping,
            actions=[[a.kind, a.target, a.citation] for a in ev.actions],
        )
        application = self._facts.application
        if application is not None and application.fee is not None:
            extra["fee_status"] = application.fee.value
        if operation_status_set:
            extra["operation_status_set"] = "in_operation"
        extra.update(self._pin_writes())
        if any(a.kind == "new_issuance" for a in ev.actions):
            extra["next_procedure"] = self.new_issuance_procedure()
        return TransactionRecord(
            transaction_id=transaction_id or str(uuid.uuid4()),
            procedure=self.info.id,
            actor=self.actor.value,
            decision=ev.decision,
            reasons=ev.reasons(language),
            rule_version=ev.rule_version.value,
            operator_id=self.operator_id,
            started_at=self.started_at,
            completed_at=self._clock().isoformat(),
            office_code=self.office_code,
            checks=self._checks(),
            certificates=tuple(certificates),
            fee_collected_yen=ev.fee.collected_yen,
            fee_payable_jlis_yen=ev.fee.payable_jlis_yen,
            extra=extra,
            suspected_counterfeit=self.suspected_counterfeit,
        )

    def abandon(
        self,
        reason: AbandonmentReason | str,
        *,
        transaction_id: str | None = None,
        language: str = "ja",
    ) -> TransactionRecord:
        """The record of a procedure abandoned (中止) at the counter, decided or not.

        It says which procedure, who stood at the counter, the rule version, why, and
        the step the clerk was on (its key and citation, never the facts recorded);
        the checks passed so far are kept, no certificate is issued or revoked,
        nothing is collected. A decision the clerk discards is named in ``extra``.
        ``reason`` is an :class:`~device.records.AbandonmentReason` (or its value;
        another is a :class:`~madoguchi.errors.RuleError`). It is stored and synced
        like any transaction.
        """
        try:
            why = reason if isinstance(reason, AbandonmentReason) else AbandonmentReason(reason)
        except ValueError:
            allowed = ", ".join(r.value for r in AbandonmentReason)
            raise RuleError(f"the reason for stopping must be one of {allowed}") from None
        ev = self.evaluation
        pending = self.next_step()
        label = texts.abandonment_label(why.value, language)
        reasons = [Reason(self.info.citation, texts.message("abandoned", language, reason=label))]
        if pending is not None:
            reasons.append(Reason(pending.citation, pending.text(language)))
        extra = self._extra(language)
        extra.update(
            abandoned_at=pending.key if pending is not None else None,
            decision_discarded=ev.decision.value if ev.decision else None,
        )
        return TransactionRecord(
            transaction_id=transaction_id or str(uuid.uuid4()),
            procedure=self.info.id,
            actor=self.actor.value,
            decision=Decision.ABANDONED,
            reasons=tuple(reasons),
            rule_version=ev.rule_version.value,
            operator_id=self.operator_id,
            started_at=self.started_at,
            completed_at=self._clock().isoformat(),
            office_code=self.office_code,
            checks=self._checks(),
            extra=extra,
            abandonment_reason=why,
            suspected_counterfeit=self.suspected_counterfeit,
        )

    def _pin_writes(self) -> dict[str, Any]:
        """What the record says of PINs written: an issuance's new PINs (who set which),
        and only *that* the concealed reply form was used — never anything of a PIN."""
        out: dict[str, Any] = {}
        reset, new_pins = self._facts.pin_reset, self._facts.new_pins
        steps = [new_pins, reset.card_step if reset is not None else None]
        if any(step is not None and step.from_concealed_form for step in steps):
            out["concealed_form_used"] = True
        if new_pins is not None and new_pins.by is not None:
            written = new_pins.written or frozenset()
            out["new_pins"] = {"by": new_pins.by.value,
                               "pins": sorted(pin.value for pin in written)}
        return out

    @property
    def suspected_counterfeit(self) -> bool:
        """Whether a card in this procedure was recorded as a suspected counterfeit."""
        evidence = [self._facts.applicant_id, self._facts.proxy.id if self._facts.proxy else None]
        return any(
            e is not None and e.card is not None and e.card.counterfeit_suspected is True
            for e in evidence
        )

    def new_issuance_procedure(self) -> str:
        """The issuance procedure that follows a found card's revocation (第4-3)."""
        return "2-1-1" if self.actor is Actor.SELF else "2-1-2"

    def _checks(self) -> tuple[str, ...]:
        return tuple(
            f"{f.key}@{f.citation}" for f in self.evaluation.findings
            if f.outcome is Outcome.PASS
        )

    def _extra(self, language: str) -> dict[str, Any]:
        return {
            "transaction_date": self.on.isoformat(),
            "policies": self.policies.to_dict(),
            "procedure_title": texts.procedure_title(self.info.id, language),
        }


class StepValueError(RuleError):
    """The clerk's answer to a step has the wrong form. Never holds the value.

    ``str()`` keeps the engine's technical form (with the fact's path) for logs and
    the case runner; :meth:`text` is what the clerk reads, in the UI language.
    """

    def __init__(self, cause: FactValueError) -> None:
        super().__init__(str(cause))
        self.step_key = re.sub(r"\[\d+\]", "", cause.path.removeprefix("$.facts."))
        self.problem = cause.problem
        self.allowed = cause.allowed

    def text(self, language: str = "ja") -> str:
        """「question」: what is expected, naming the field as the checklist asks it."""
        question = texts.field_name(self.step_key, language)
        labels = tuple(texts.value_label(v, language) for v in self.allowed)
        return texts.value_problem(question, self.problem, labels, language)


def _delete_path(raw: dict[str, Any], key: str) -> bool:
    """Delete ``key`` (dotted) from ``raw``; ``False`` when nothing is there."""
    parts = key.split(".")
    node: Any = raw
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or parts[-1] not in node:
        return False
    del node[parts[-1]]
    return True


def _set_path(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    if not all(parts):
        raise RuleError(f"bad step key {key!r}")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise RuleError(f"step key {key!r}: {part!r} already holds a value")
        node = child
    node[parts[-1]] = value
