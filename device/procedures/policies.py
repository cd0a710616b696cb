"""Policies where the guidelines are silent or ambiguous: explicit, with documented defaults.

Each field mirrors a key of the ``[rules]`` configuration section, so the
composition root builds :class:`Policies` with :func:`policies_from_config`.
``docs/rules.md`` explains every policy and why its default was chosen.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from madoguchi.errors import RuleError


class GraceCounting(enum.Enum):
    """How 「有効期間満了の日から6月以内」 is counted (U20)."""

    #: 民法140条・143条: not counting the expiry day, the period ends on the day of the
    #: sixth month that has the expiry day's number (month end when it has none).
    CIVIL_CODE = "civil_code"
    #: One day shorter: the period ends the day before that day.
    EXCLUSIVE = "exclusive"


class DeclarationSubjectPolicy(enum.Enum):
    """Whose 住民票／戸籍の附票 items a proxy's fallback declaration must concern (U11)."""

    APPLICANT = "applicant"  # literal text: 「申請者／利用者に係る」
    PROXY = "proxy"
    EITHER = "either"


@dataclass(frozen=True)
class Policies:
    """Every open point of the guidelines, as an explicit switch."""

    #: U10: after a face-auth card or a failed PIN, require chip match AND declaration
    #: (True) or accept either one (False).
    fallback_requires_both: bool = True
    #: U11: whose items a proxy declares.
    proxy_declaration_subject: DeclarationSubjectPolicy = DeclarationSubjectPolicy.APPLICANT
    #: U20: how the 6-month grace after card expiry is counted.
    grace_counting: GraceCounting = GraceCounting.CIVIL_CODE
    grace_months: int = 6
    #: Whether this office's mayor uses the discretion to omit 戸籍謄本等 at all.
    honseki_omission_allowed: bool = True
    #: U19: whether a legal representative must still hand in the PIN document.
    legal_rep_pin_document_required: bool = False
    #: Fees per certificate (yen) collected at the counter for issuance/renewal.
    fee_sign_cert_yen: int = 0
    fee_auth_cert_yen: int = 0
    #: Share of the collected fee payable to the 機構 (J-LIS), in percent.
    fee_payable_jlis_percent: int = 100
    #: 暗証番号の初期化・再設定 (outside the guidelines; docs/rules.md): whether a second
    #: identity document besides the card is asked for (菊池市, 川崎市: yes; 鹿嶋市: the
    #: card alone in person). By proxy it is the holder's document the proxy brings.
    pin_reset_second_id: bool = True
    #: Whether a proxy needs a 委任状 besides the 照会書兼回答書 (富士宮市: yes).
    pin_reset_power_of_attorney: bool = False

    def with_overrides(self, overrides: dict[str, Any]) -> Policies:
        """A copy with some policies replaced (case files and tests use this)."""
        return _from_mapping(overrides, base=self)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as recorded in a transaction record."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, enum.Enum) else value
        return out


def _from_mapping(values: dict[str, Any], *, base: Policies) -> Policies:
    names = {f.name: f for f in dataclasses.fields(Policies)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in names:
            raise RuleError(f"unknown policy {key!r}")
        current = getattr(base, key)
        if isinstance(current, enum.Enum):
            try:
                changes[key] = type(current)(value)
            except ValueError:
                allowed = ", ".join(str(m.value) for m in type(current))
                raise RuleError(f"policy {key}: {value!r} is not one of {allowed}") from None
        elif type(value) is not type(current):
            raise RuleError(f"policy {key} must be {type(current).__name__}")
        else:
            changes[key] = value
    policies = dataclasses.replace(base, **changes)
    if policies.grace_months < 0 or not 0 <= policies.fee_payable_jlis_percent <= 100:
        raise RuleError("grace_months must be >= 0 and fee_payable_jlis_percent 0..100")
    if policies.fee_sign_cert_yen < 0 or policies.fee_auth_cert_yen < 0:
        raise RuleError("fees must not be negative")
    return policies


def policies_from_config(rules_config: Any) -> Policies:
    """Build :class:`Policies` from the ``[rules]`` section (any object with the same names)."""
    values = {
        f.name: getattr(rules_config, f.name)
        for f in dataclasses.fields(Policies)
        if hasattr(rules_config, f.name)
    }
    return _from_mapping(values, base=Policies())
