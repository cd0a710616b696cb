"""The procedure engine: the 公的個人認証サービス事務処理要領 as executable, versioned rules.

Public API (for the TUI and the case runner):

* :class:`Session` — ``Session.start(procedure, actor, date)``, ``next_step()``,
  ``record(step, value)``, ``evaluation``, ``complete()`` → ``TransactionRecord``.
* :func:`evaluate` / :func:`evaluate_case` — one-shot evaluation of facts or a case file.
* :func:`load_case` / :func:`parse_case` — the documented case-file format.
* :class:`Policies` — the switches for what the guidelines leave open.
* :data:`PROCEDURES`, :func:`procedure`, :func:`steps_for` — the catalogue and its checklists.
* :mod:`device.procedures.texts` — every clerk-facing string, ja/en.
"""

from __future__ import annotations

from device.procedures import pin_reset
from device.procedures.casefile import Case, ForbiddenKeyError, load_case, parse_case
from device.procedures.catalogue import PROCEDURES, Kind, Population, ProcedureInfo, procedure
from device.procedures.checklist import Step, steps_for
from device.procedures.engine import Evaluation, Session, evaluate, evaluate_case
from device.procedures.facts import Actor, Facts
from device.procedures.findings import Finding, Outcome
from device.procedures.policies import Policies, policies_from_config
from device.procedures.versions import RuleVersion, select_version

__all__ = [
    "PROCEDURES",
    "Actor",
    "Case",
    "Evaluation",
    "Facts",
    "Finding",
    "ForbiddenKeyError",
    "Kind",
    "Outcome",
    "Policies",
    "Population",
    "ProcedureInfo",
    "RuleVersion",
    "Session",
    "Step",
    "evaluate",
    "evaluate_case",
    "load_case",
    "parse_case",
    "pin_reset",
    "policies_from_config",
    "procedure",
    "select_version",
    "steps_for",
]
