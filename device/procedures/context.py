"""The state one evaluation threads through the rules: facts, rule set, policies, trail."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

from device.procedures.catalogue import Population, ProcedureInfo
from device.procedures.facts import Actor, Facts
from device.procedures.findings import Finding, Outcome
from device.procedures.policies import GraceCounting, Policies
from device.procedures.versions import RuleVersion


class Stop(Exception):
    """A finding decided the case (受付不可 or the inquiry route): no later rule runs."""


@dataclass(frozen=True)
class Action:
    """Something the clerk or the terminal must do once the case continues."""

    kind: str  # "revoke", "set_operation_status", "new_issuance", "issue", "send_inquiry"
    target: str
    citation: str


@dataclass
class Context:
    """One evaluation in progress.

    Rules append findings with :meth:`add`; a failing or inquiry finding stops
    the evaluation there, the way the counter stops at the first 受付不可.
    """

    info: ProcedureInfo
    actor: Actor
    on: date
    version: RuleVersion
    policies: Policies
    facts: Facts
    trail: list[Finding] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    #: Card-check citations follow the procedure the check belongs to (第4-3 borrows 第2-2's).
    rule_procedure: str = ""
    lost_card_flow: bool = False

    def __post_init__(self) -> None:
        if not self.rule_procedure:
            self.rule_procedure = self.info.id

    @property
    def amended(self) -> bool:
        """True when the 改正後 rules decide this case."""
        return self.version.amended

    @property
    def overseas(self) -> bool:
        """True for 第3 (国外転出者) procedures."""
        return self.info.population is Population.OVERSEAS

    def add(self, finding: Finding) -> None:
        """Record ``finding``; stop the evaluation when it decides the case."""
        self.trail.append(finding)
        if finding.outcome in (Outcome.FAIL, Outcome.INQUIRY):
            raise Stop

    def grace_end(self, expiry: date) -> date:
        """The last day of the grace period after a card's 有効期間満了の日 (U20)."""
        months = self.policies.grace_months
        index = expiry.month - 1 + months
        year, month = expiry.year + index // 12, index % 12 + 1
        if year > date.max.year:
            # A card expiring in 9999: its grace runs past the last representable day.
            return date.max
        end = date(year, month, min(expiry.day, calendar.monthrange(year, month)[1]))
        if self.policies.grace_counting is GraceCounting.EXCLUSIVE:
            end -= timedelta(days=1)
        return end

    def in_grace(self, expiry: date | None) -> bool:
        """True when the card has expired but today is within the grace period."""
        return expiry is not None and expiry < self.on <= self.grace_end(expiry)
