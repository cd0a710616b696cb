"""The certificates a decided procedure issues or revokes, as the record's actions.

The engine decides *what* happens (its ``issue`` actions name the kinds applied
for; a 失効 procedure's ``revoke`` action names the card's certificates). This
module turns that into the :class:`~device.records.CertificateAction` rows of the
transaction record once the certificates exist:

* issuance (第2-1 / 第3-1): one certificate per kind applied for, from the issuing
  authority; ``renewed`` when the card already holds a certificate of that kind
  (更新), else ``issued`` (新規発行);
* revocation (第2-2 / 第3-2): ``revoked`` for each certificate the card holds, with
  the serial read from the card. The 利用者証明用 certificate is free to read; the
  署名用 one only after the signature password, which a 失効申請 does not ask for,
  so its serial stays empty (the issuing authority knows it by the card).

Anything else (disclosure, 受付不可, the inquiry route) issues and revokes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass

from device.procedures.engine import Evaluation
from device.records import CertificateAction, Decision


@dataclass(frozen=True, slots=True)
class CardCertificates:
    """The JPKI certificates on the card at the counter, as read without any PIN."""

    sign: bool  # flagged as loaded (JPKI EF 0008)
    auth: bool
    auth_serial: str = ""  # the 利用者証明用 certificate's serial (EF 000A)


def kinds_to_issue(evaluation: Evaluation) -> tuple[str, ...]:
    """The certificate kinds the decided procedure issues, in the engine's order."""
    if evaluation.decision is not Decision.CONTINUE:
        return ()
    return tuple(a.target for a in evaluation.actions if a.kind == "issue")


def revokes_card_certificates(evaluation: Evaluation) -> bool:
    """Whether the decided procedure revokes the certificates on the applicant's card."""
    return evaluation.decision is Decision.CONTINUE and any(
        a.kind == "revoke" and a.target == "certificates" for a in evaluation.actions
    )


def operation_status_to_set(evaluation: Evaluation) -> str | None:
    """The 運用状況 the decided procedure sets on the central server (第4-3 改正後: 運用中)."""
    if evaluation.decision is not Decision.CONTINUE:
        return None
    for action in evaluation.actions:
        if action.kind == "set_operation_status":
            return action.target
    return None


def card_registry_id(certificates: Iterable[CertificateAction]) -> str:
    """The card's key in the central registry: its 利用者証明用 certificate's serial
    (readable without a PIN; never the individual number). ``""`` when unknown."""
    for action in certificates:
        if action.kind == "auth" and action.serial:
            return action.serial
    return ""


def certificate_actions(
    evaluation: Evaluation,
    card: CardCertificates | None,
    issue: Callable[[str], str] | None,
    issued: MutableMapping[str, str],
) -> tuple[CertificateAction, ...]:
    """The record's certificate actions for ``evaluation``.

    Args:
        evaluation: the decided procedure.
        card: what the card holds (needed for a revocation, and for an issuance
            that ``issue`` drives).
        issue: blocking: issues one certificate of a kind and returns its serial;
            ``None`` where this appliance does not drive issuance (the certificates
            are then issued elsewhere and the record names none).
        issued: kind -> serial already issued for this transaction. Filled as each
            certificate is issued, so that a retry after a failure (the authority
            went away after the first kind, the store refused) never issues twice.
    """
    kinds = kinds_to_issue(evaluation)
    if kinds:
        if issue is None:
            return ()
        if card is None:
            raise ValueError("issuance needs the card's certificates")
        actions = []
        for kind in kinds:
            if kind not in issued:
                issued[kind] = issue(kind)
            held = card.sign if kind == "sign" else card.auth
            actions.append(CertificateAction(kind, "renewed" if held else "issued", issued[kind]))
        return tuple(actions)
    if revokes_card_certificates(evaluation):
        if card is None:
            raise ValueError("revocation needs the card's certificates")
        revoked = []
        if card.sign:
            revoked.append(CertificateAction("sign", "revoked", ""))
        if card.auth:
            revoked.append(CertificateAction("auth", "revoked", card.auth_serial))
        return tuple(revoked)
    return ()
