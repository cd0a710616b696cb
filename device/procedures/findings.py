"""What a rule finds: an outcome, its citation in the guidelines, and a text key.

Rules never build free text: they name a message in :mod:`device.procedures.texts`
so the clerk sees it in Japanese (or English) and tests can check every key
exists. Every finding carries the citation of the rule that produced it, written
the way the guidelines number themselves, e.g. 「第2-1-(1)-ア-(イ)-B」.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from device.procedures import texts


class Outcome(enum.Enum):
    """The result of one check."""

    PASS = "pass"  # noqa: S105 - the check is satisfied, not a password
    FAIL = "fail"  # 受付不可
    INQUIRY = "inquiry"  # 照会書を送付し回答書を待つ
    NOTE = "note"  # recorded for the file, does not decide


@dataclass(frozen=True)
class Finding:
    """One check's result.

    ``identity`` marks checks that establish who the person at the counter is
    (本人確認 / 本人性確認); the engine refuses to continue without one.
    """

    key: str
    citation: str
    outcome: Outcome
    identity: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, language: str = "ja") -> str:
        """The message in ``language`` (``ja`` or ``en``)."""
        return texts.message(self.key, language, **self.params)


def passed(key: str, citation: str, *, identity: bool = False, **params: Any) -> Finding:
    """A satisfied check."""
    return Finding(key, citation, Outcome.PASS, identity, params)


def failed(key: str, citation: str, **params: Any) -> Finding:
    """A check that makes the application 受付不可."""
    return Finding(key, citation, Outcome.FAIL, False, params)


def inquiry(key: str, citation: str, **params: Any) -> Finding:
    """A check that sends the case down the 照会書／回答書 route."""
    return Finding(key, citation, Outcome.INQUIRY, False, params)


def note(key: str, citation: str, **params: Any) -> Finding:
    """A fact recorded for the file."""
    return Finding(key, citation, Outcome.NOTE, False, params)


class Pending(Exception):
    """A rule needs a fact nobody has recorded yet; ``step`` names it.

    Internal control flow: the engine turns it into the next checklist step for
    a session, or into a :class:`~madoguchi.errors.RuleError` for a case file.
    """

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step
