"""Fees for certificate issuance: collected at the counter, payable to the 機構 (J-LIS).

The amounts are a policy (the guidelines leave them to 手数料 rules outside this
text); :class:`~device.procedures.policies.Policies` carries them, default 0 yen.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.procedures.catalogue import Kind, ProcedureInfo
from device.procedures.policies import Policies

#: Certificate kinds: 署名用電子証明書 and 利用者証明用電子証明書.
CERTIFICATE_KINDS = ("sign", "auth")


@dataclass(frozen=True)
class Fee:
    """What one transaction collects and owes the 機構."""

    collected_yen: int
    payable_jlis_yen: int


def fee_for(info: ProcedureInfo, certificates: frozenset[str], policies: Policies) -> Fee:
    """The fee for issuing ``certificates`` in procedure ``info`` (0 for anything but issuance)."""
    if info.kind is not Kind.ISSUANCE:
        return Fee(0, 0)
    per_kind = {"sign": policies.fee_sign_cert_yen, "auth": policies.fee_auth_cert_yen}
    collected = sum(per_kind[k] for k in certificates if k in per_kind)
    return Fee(collected, collected * policies.fee_payable_jlis_percent // 100)
