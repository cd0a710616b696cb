"""The clerk's checklist: the steps of each procedure, with citations and what each step records.

A step key is the dotted path of the fact it records (``"proxy.id.card.pin_result"``);
:class:`~device.procedures.engine.Session` asks for the next one. The static list
(``madoguchi rules explain``) shows every step a procedure may need; a session
only asks for those its case actually reaches.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from device.procedures import pin_reset, retention, texts
from device.procedures.card_check import B_CITATIONS
from device.procedures.catalogue import Kind, Population, ProcedureInfo
from device.procedures.facts import (
    Actor,
    DeclarationItems,
    DeclarationSubject,
    ERecordField,
    ERecordSource,
    EvidenceKind,
    InquiryRequest,
    LegalRepKind,
    LegalRepProof,
    OperationStatus,
    PinConcealment,
    PinResetTarget,
    PinResult,
    PinWriteBy,
    ProofOmission,
)
from device.procedures.identity_rules import (
    IN_PERSON_DROPPED,
    RECEIPT_CITATIONS,
    SELF_ID_CITATIONS,
)
from device.procedures.proxy_rules import (
    DOCUMENT_CITATIONS,
    E_RECORD_CITATIONS,
    OMISSION_CITATIONS,
    PROXY_ID_CITATIONS,
    REPLY_FORM_CITATIONS,
)
from device.procedures.versions import RuleVersion


def _enum(cls: type[enum.Enum]) -> str:
    return "enum:" + "|".join(str(m.value) for m in cls)


def _list(cls: type[enum.Enum]) -> str:
    return "list:" + "|".join(str(m.value) for m in cls)


#: What a step records, by the part of the key after the person prefix.
VALUE_TYPES: dict[str, str] = {
    "kind": _enum(EvidenceKind),
    "contents_match": "bool",
    "card.expiry": "date",
    "card.issued_on": "date",
    "card.basic4": "bool",
    "mayor_deems_appropriate": "bool",
    "card.operation_status": _enum(OperationStatus),
    "card.face_auth": "bool",
    "card.operator_authenticated": "bool",
    "card.pin_result": _enum(PinResult),
    "card.chip_face_match": "bool",
    "card.declaration.items": _enum(DeclarationItems),
    "card.declaration.subject": _enum(DeclarationSubject),
    "e_record.source": _enum(ERecordSource),
    "e_record.fields": _list(ERecordField),
    "application.with_birth_registration": "bool",
    "application.under_specified_age": "bool",
    "application.content_doubt": "bool",
    "proxy.legal_rep_proof": _list(LegalRepProof),
    "proxy.with_move_notice": "bool",
    "proxy.same_household": "bool",
    "proxy.legal_rep_kind": _enum(LegalRepKind),
    "proxy.reply_form.pin_concealment": _enum(PinConcealment),
    # 暗証番号の初期化・再設定 (outside the guidelines)
    "pin_reset.pins": _list(PinResetTarget),
    "pin_reset.reply_form.pin_concealment": _enum(PinConcealment),
    "pin_reset.card_step.by": _enum(PinWriteBy),
    # A choice among the documents either schedule names (never typed: the clerk would
    # have to know the identifiers); 第4-4-(1)-コ is offered under 改正後 too, to be told no.
    "retention.document": "enum:" + "|".join(
        d.document for d in retention.SCHEDULE[RuleVersion.CURRENT]
    ),
}


#: The highlighted answer of each question: the common, safe one. Never an answer that
#: decides 受付不可 or the inquiry route, or opens an unusual branch, by itself: a clerk
#: pressing Enter out of habit must land on the ordinary path (docs/rules.md, "Defaults").
#: Keys are step-key endings after the person prefix; bools not listed default to はい.
DEFAULTS: dict[str, Any] = {
    "kind": "my_number_card",
    "card.operation_status": "in_operation",
    "card.face_auth": False,
    "card.pin_result": "verified",
    "card.declaration.subject": "applicant",
    "e_record.source": "my_number_card",
    "e_record.fields": ["name", "address", "dob", "photo"],
    "application.with_birth_registration": False,
    "application.content_doubt": False,
    "proxy.legal_rep_kind": "statutory",
    "proxy.legal_rep_proof": ["family_register_copy"],
    "proxy.with_move_notice": False,
    "proxy.same_household": False,
    "proxy.reply_form.pin_concealment": "sticker",
    "lost_card.new_issuance": False,
    "retention.document": "item_a",  # the schedule's first item: no branch, no refusal
    "pin_reset.pins": ["jpki_auth"],  # the PIN people most often lock (コンビニ交付, ログイン)
    "pin_reset.reply_form.pin_concealment": "sealed",
    "pin_reset.card_step.by": "handed_to_jlis",
}


def _default(key: str, value_type: str, info: ProcedureInfo) -> Any:
    """The safe default answer for ``key`` in procedure ``info`` (``None`` for typed text)."""
    rest = key
    for prefix in ("applicant_id.", "proxy.id."):
        rest = rest.removeprefix(prefix)
    if rest == "card.declaration.items":
        # 第3 declares the 戸籍の附票 items; the others the 住民票 items.
        overseas = info.population is Population.OVERSEAS
        items = DeclarationItems.KOSEKI_FUHYO if overseas else DeclarationItems.RESIDENT_RECORD
        return items.value
    if key == "applicant_id.kind" and info.id == "2-1-2":
        # Asked by proxy only for 出生の届出と併せた申請: the 1-(1)-ア-(イ)-A-(F) document.
        return EvidenceKind.BIRTH_REGISTRATION_DOCUMENT.value
    if rest in DEFAULTS:
        return DEFAULTS[rest]
    return True if value_type == "bool" else None


@dataclass(frozen=True)
class Step:
    """One thing the clerk checks and records."""

    key: str
    citation: str
    value_type: str
    #: The answer highlighted when the question appears (see :data:`DEFAULTS`);
    #: ``None`` for typed answers (dates, text).
    default: Any = None

    @property
    def default_option(self) -> str:
        """:attr:`default` as an option id: ``"true"``/``"false"`` for a bool, else the value."""
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return self.default if isinstance(self.default, str) else ""

    def text(self, language: str = "ja") -> str:
        """The question shown to the clerk."""
        return texts.step_text(self.key, language)

    def options(self, language: str = "ja") -> tuple[tuple[str, str], ...]:
        """For ``enum:``/``list:`` steps, the allowed values with their labels; else ``()``."""
        kind, _, spec = self.value_type.partition(":")
        if kind not in ("enum", "list"):
            return ()
        return tuple((v, texts.value_label(v, language)) for v in spec.split("|"))


#: The questions of the 照会書 request (来庁 and the three checks made then), in order.
INQUIRY_FIELDS = tuple(f.name for f in dataclasses.fields(InquiryRequest))
#: The conditions for omitting 戸籍謄本等, in order.
OMISSION_FIELDS = tuple(f.name for f in dataclasses.fields(ProofOmission))


def _value_type(key: str) -> str:
    for prefix in ("applicant_id.", "proxy.id."):
        if key.startswith(prefix):
            return VALUE_TYPES.get(key[len(prefix):], "bool")
    return VALUE_TYPES.get(key, "bool")


def _card_steps(prefix: str, b_cite: str, a_cite: str) -> list[tuple[str, str]]:
    return [
        (f"{prefix}.mayor_deems_appropriate", a_cite),
        (f"{prefix}.card.basic4", b_cite),
        (f"{prefix}.card.expiry", a_cite),
        (f"{prefix}.card.photo_confirmed", a_cite),
        (f"{prefix}.card.operation_status", b_cite),
        (f"{prefix}.card.face_auth", b_cite),
        (f"{prefix}.card.operator_authenticated", b_cite),
        (f"{prefix}.card.pin_result", b_cite),
        (f"{prefix}.card.chip_face_match", b_cite),
        (f"{prefix}.card.declaration.items", b_cite),
        (f"{prefix}.card.declaration.subject", b_cite),
    ]


def _pairs(info: ProcedureInfo, actor: Actor | None) -> list[tuple[str, str]]:
    if info.kind is Kind.RETENTION:
        return [("retention.document", "第4-4-(1)")]
    return _guideline_pairs(info, actor) if not info.outside_guidelines \
        else pin_reset.steps(actor)


def _guideline_pairs(info: ProcedureInfo, actor: Actor | None) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    rule_pid = info.id
    by_proxy = info.by_proxy
    if info.kind is Kind.LOST_CARD_FOUND:
        pairs += [
            ("lost_card.found", "第4-3"),
            ("lost_card.explained", "第4-3"),
            ("lost_card.revocation_application", "第4-3"),
        ]
        # the held certificates are revoked by 第2-2's procedure for the actor at the counter
        by_proxy = actor not in (None, Actor.SELF)
        rule_pid = "2-2-2" if by_proxy else "2-2-1"
    pairs.append(("application.received", RECEIPT_CITATIONS[rule_pid]))
    if info.population is Population.OVERSEAS:
        pairs.append(("application.at_fuhyo_municipality", "第3-1-(1)-ア-(イ)-A"))
        if info.kind is Kind.ISSUANCE:
            pairs.append(("application.content_doubt", "第3-1-(1)-ア-(イ)-A"))
    if info.id == "2-1-2":
        pairs += [
            ("application.with_birth_registration", "第2-1-(2)-ア-(ア)-C"),
            ("application.under_specified_age", "第2-1-(2)-ア-(ア)-C"),
        ]
    inquiry_cite = IN_PERSON_DROPPED.get(info.id)
    b_cite = B_CITATIONS.get(rule_pid, "")
    if not by_proxy:
        a_cite = SELF_ID_CITATIONS[rule_pid]
        pairs += [("applicant_id.kind", a_cite), ("applicant_id.contents_match", a_cite)]
        if info.id == "2-1-1":
            pairs += [(f"applicant_id.app_screen.{name}", "第2-1-(1)-ア-(イ)-A-(E)")
                      for name in ("listed_documents_difficult", "screen_operation")]
        if inquiry_cite:
            pairs += [(f"inquiry_request.{name}", inquiry_cite) for name in INQUIRY_FIELDS]
        if b_cite:
            pairs += _card_steps("applicant_id", b_cite, a_cite)
        return pairs
    c_cite = DOCUMENT_CITATIONS[rule_pid]
    b_form = REPLY_FORM_CITATIONS[rule_pid]
    id_cite = PROXY_ID_CITATIONS[rule_pid]
    pairs += [
        ("proxy.legal_rep_kind", "第2-1-(2)-ア-(ア)-C-(A)"),
        ("proxy.agency_list_shows_power", "第2-1-(2)-ア-(ア)-C-(A)"),
        ("proxy.power_of_attorney.present", c_cite),
        ("proxy.power_of_attorney.signed_or_sealed", c_cite),
        ("proxy.legal_rep_proof", c_cite),
        *((f"proxy.proof_omission.{name}", OMISSION_CITATIONS.get(rule_pid, c_cite))
          for name in OMISSION_FIELDS),
        ("proxy.with_move_notice", b_form),
        ("proxy.same_household", b_form),
        ("proxy.reply_form.present", b_form),
        ("proxy.reply_form.pin_concealment", b_form),
    ]
    if inquiry_cite:
        pairs += [(f"inquiry_request.{name}", inquiry_cite) for name in INQUIRY_FIELDS]
    pairs += [
        ("proxy.pin_document.present", b_form),
        ("proxy.pin_document.concealed", b_form),
        ("proxy.id.kind", id_cite),
        ("proxy.id.contents_match", id_cite),
    ]
    if info.id in E_RECORD_CITATIONS:
        pairs += [(f"proxy.id.e_record.{name}", E_RECORD_CITATIONS[info.id])
                  for name in ("source", "fields", "certified_program", "sender_verified")]
    if b_cite:
        pairs += _card_steps("proxy.id", b_cite, id_cite)
    return pairs


def steps_for(info: ProcedureInfo, actor: Actor | None = None) -> tuple[Step, ...]:
    """Every step procedure ``info`` may need for ``actor``, in the order the counter works.

    ``actor`` matters only for 第4-3, whose revocation follows 第2-2-(1) or 第2-2-(2).
    """
    pairs = _pairs(info, actor)
    if info.kind is Kind.LOST_CARD_FOUND:
        pairs.append(("lost_card.new_issuance", "第4-3"))  # asked once the revocation stands
    return tuple(_make(key, cite, info) for key, cite in pairs)


def _make(key: str, citation: str, info: ProcedureInfo) -> Step:
    value_type = _value_type(key)
    return Step(key, citation, value_type, _default(key, value_type, info))


def step(key: str, info: ProcedureInfo, actor: Actor | None = None) -> Step:
    """The :class:`Step` for ``key`` in procedure ``info`` (citation from the static list)."""
    for candidate in steps_for(info, actor):
        if candidate.key == key:
            return candidate
    return _make(key, info.citation, info)
