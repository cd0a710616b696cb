"""The two rule sets and how a transaction date picks one.

The guidelines were amended (新旧対照表): the 現行 (current) text applies to
transactions before the configured effective date, the 改正後 (amended) text
from that date on. The source does not state the date, so it is configuration
(``[rules] amended_effective_date``).
"""

from __future__ import annotations

import enum
from datetime import date


class RuleVersion(enum.Enum):
    """A rule set of the 事務処理要領; the value is what records carry."""

    CURRENT = "現行"
    AMENDED = "改正後"

    @property
    def amended(self) -> bool:
        """True for the 改正後 rule set."""
        return self is RuleVersion.AMENDED


def select_version(transaction_date: date, amended_effective_date: date) -> RuleVersion:
    """The rule set that decides a transaction made on ``transaction_date``.

    The effective date itself already belongs to the amended rules.
    """
    if transaction_date >= amended_effective_date:
        return RuleVersion.AMENDED
    return RuleVersion.CURRENT
