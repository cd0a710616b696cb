"""Proxies (代理人) and legal representatives (法定代理人): documents, reply form, PIN, identity.

Shown in full for 第2-1-(2) (ア-(ア)-C and ア-(イ)) and largely for 第3-1-(2); for the
revocation and disclosure proxy procedures only the documents C-(A) of the
disclosure procedures are shown, and the rest applies by analogy ([I], see
docs/rules.md).
"""

from __future__ import annotations

from device.procedures import card_check
from device.procedures.catalogue import Kind
from device.procedures.context import Action, Context
from device.procedures.facts import (
    Actor,
    ERecordField,
    ERecordSource,
    Evidence,
    EvidenceKind,
    LegalRepKind,
    PinConcealment,
    ProxyFacts,
    appropriate,
    need,
)
from device.procedures.findings import failed, inquiry, note, passed
from device.procedures.identity_rules import IN_PERSON_DROPPED, inquiry_request_checks

#: 「C-(A)」: 委任状, or 戸籍謄本等 for a legal representative.
DOCUMENT_CITATIONS: dict[str, str] = {
    "2-1-2": "第2-1-(2)-ア-(ア)-C-(A)",
    "2-2-2": "第2-2-(2)-ア",  # (略)
    "2-3-2": "第2-3-(2)-ア-(ア)-C-(A)",
    "3-1-2": "第3-1-(2)-ア-(ア)-C-(A)",
    "3-2-2": "第3-2-(2)-ア",  # (略)
    "3-3-2": "第3-3-(2)-ア-(ア)-C-(A)",
}

#: 「C-(B)」: the reply form, its exemption (なお書き) and the PIN concealment.
REPLY_FORM_CITATIONS: dict[str, str] = {
    "2-1-2": "第2-1-(2)-ア-(ア)-C-(B)",
    "2-2-2": "第2-2-(2)-ア",  # (略)
    "2-3-2": "第2-3-(2)-ア-(ア)-C-(B)",  # (B) (略): 第2-1-(2) applied by analogy
    "3-1-2": "第3-1-(2)-ア-(ア)-C-(B)",
    "3-2-2": "第3-2-(2)-ア",  # (略)
    "3-3-2": "第3-3-(2)-ア-(ア)-C-(B)",  # (B) (略): as above
}

#: Where the amendment added 「ただし、本籍地が管内であり…戸籍謄本等を省略することができる。」
OMISSION_CITATIONS: dict[str, str] = {
    "2-1-2": "第2-1-(2)-ア-(ア)-C-(A)",
    "2-3-2": "第2-3-(2)-ア-(ア)-C-(A)",
    "3-1-2": "第3-1-(2)-ア-(ア)-C-(A)",
    "3-3-2": "第3-3-(2)-ア-(ア)-C-(A)",
}

#: 「(イ) 代理人の本人性確認 A」 per proxy procedure.
PROXY_ID_CITATIONS: dict[str, str] = {
    "2-1-2": "第2-1-(2)-ア-(イ)-A",
    "2-2-2": "第2-2-(2)-ア",  # (略)
    "2-3-2": "第2-3-(2)-ア-(イ)",  # (略)
    "3-1-2": "第3-1-(2)-ア-(イ)-A",
    "3-2-2": "第3-2-(2)-ア",  # (略)
    "3-3-2": "第3-3-(2)-ア-(イ)",  # (略)
}

#: 改正後 (A): the card's or the カード代替電磁的記録's e-records, transmitted under two conditions.
E_RECORD_CITATIONS: dict[str, str] = {
    "2-1-2": "第2-1-(2)-ア-(イ)-A-(A)",
    "3-1-2": "第3-1-(2)-ア-(イ)-A-(A)",
}

#: The legal-representative definition 「（…保佐人、補助人及び任意後見人を含む。以下同じ。）」.
LEGAL_REP_DEFINITION = "第2-1-(2)-ア-(ア)-C-(A)"


def is_legal_representative(ctx: Context, proxy: ProxyFacts) -> bool:
    """Whether the proxy counts as a 法定代理人 under the rule set in force."""
    if ctx.actor is not Actor.LEGAL_REPRESENTATIVE:
        return False
    kind = need(proxy.legal_rep_kind, "proxy.legal_rep_kind")
    if kind is LegalRepKind.STATUTORY:
        return True
    if ctx.amended and need(proxy.agency_list_shows_power, "proxy.agency_list_shows_power"):
        # 改正後 「第2-1-(2)-ア-(ア)-C-(A)」: 保佐人・補助人・任意後見人 with 代理行為目録等.
        ctx.add(note("legal_rep_by_agency_list", LEGAL_REP_DEFINITION, kind=kind.value))
        return True
    ctx.add(note("legal_rep_kind_not_included", LEGAL_REP_DEFINITION, kind=kind.value))
    return False


def proxy_procedure(ctx: Context) -> None:
    """C (documents), C-(B) (reply form, PIN) and (イ) (the proxy's identity, then B)."""
    pid = ctx.rule_procedure
    legal_actor = ctx.actor is Actor.LEGAL_REPRESENTATIVE
    first = "proxy.legal_rep_kind" if legal_actor else "proxy.power_of_attorney.present"
    proxy = need(ctx.facts.proxy, first)
    if pid == "2-1-2" and _birth_registration_case(ctx):
        return
    legal = is_legal_representative(ctx, proxy)
    _documents(ctx, proxy, legal, pid)
    # [I] C-(B) is shown for 第2-1-(2) and 第3-1-(2); the other proxy procedures follow it.
    _reply_form_and_pin(ctx, proxy, legal, pid)
    _proxy_identity(ctx, proxy, pid)


def _birth_registration_case(ctx: Context) -> bool:
    """特定年齢未満申請者 + 出生の届出: the document of 1-(1)-ア-(イ)-A-(F) instead; no proxy ID."""
    application = need(ctx.facts.application, "application.received")
    if not need(application.with_birth_registration, "application.with_birth_registration"):
        return False
    if not need(application.under_specified_age, "application.under_specified_age"):
        return False
    cite = "第2-1-(1)-ア-(イ)-A-(F)"
    evidence = need(ctx.facts.applicant_id, "applicant_id.kind")
    if need(evidence.kind, "applicant_id.kind") is not EvidenceKind.BIRTH_REGISTRATION_DOCUMENT:
        ctx.add(failed("birth_registration_document_missing", cite))
    if not need(evidence.contents_match, "applicant_id.contents_match"):
        ctx.add(failed("id_contents_mismatch", cite))
    # 「第2-1-(2)-ア-(イ)-A」: the proxy's identity check is not required in this case.
    ctx.add(passed("birth_registration_case", cite, identity=True))
    return True


def _documents(ctx: Context, proxy: ProxyFacts, legal: bool, pid: str) -> None:
    cite = DOCUMENT_CITATIONS[pid]
    if not legal:
        power = need(proxy.power_of_attorney, "proxy.power_of_attorney.present")
        if not need(power.present, "proxy.power_of_attorney.present"):
            ctx.add(failed("poa_missing", cite))
        if not need(power.signed_or_sealed, "proxy.power_of_attorney.signed_or_sealed"):
            # 「申請者／利用者本人の署名又は記名押印がある委任状」
            ctx.add(failed("poa_unsigned", cite))
        ctx.add(passed("poa_ok", cite))
        return
    proofs = need(proxy.legal_rep_proof, "proxy.legal_rep_proof")
    if proofs:
        # 改正後 names the set 戸籍謄本等 (戸籍謄本、代理行為目録等その他…); 現行 戸籍謄本その他….
        key = "legal_rep_proof_ok" if ctx.amended else "legal_rep_proof_ok_current"
        ctx.add(passed(key, cite, proofs=",".join(sorted(p.value for p in proofs))))
        return
    omission_cite = OMISSION_CITATIONS.get(pid)
    if ctx.amended and omission_cite:
        if not ctx.policies.honseki_omission_allowed:
            ctx.add(failed("omission_not_used_here", omission_cite))
        first = "proxy.proof_omission.honseki_in_jurisdiction"
        omission = need(proxy.proof_omission, first)
        conditions = (
            (omission.honseki_in_jurisdiction, first),
            (omission.municipality_confirmed, "proxy.proof_omission.municipality_confirmed"),
            (omission.mayor_decided, "proxy.proof_omission.mayor_decided"),
        )
        for value, step in conditions:
            if not need(value, step):
                ctx.add(failed("omission_conditions", omission_cite))
        ctx.add(passed("legal_rep_proof_omitted", omission_cite))
        return
    ctx.add(failed("legal_rep_proof_missing", cite))


def reply_form_required(ctx: Context, proxy: ProxyFacts, legal: bool) -> bool:
    """「回答書は不要とする」: 現行 and 改正後 differ on the legal representative."""
    if ctx.amended and legal:
        # 改正後: 「当該代理人が法定代理人であるとき及び転入届又は転居届と併せて、
        # …同一世帯人であるとき」
        return False
    if not need(proxy.with_move_notice, "proxy.with_move_notice"):
        return True
    if not ctx.amended and legal:
        # 現行: 「転入届又は転居届と併せて、…同一世帯人又は法定代理人であるとき」
        return False
    return not need(proxy.same_household, "proxy.same_household")


def _reply_form_and_pin(ctx: Context, proxy: ProxyFacts, legal: bool, pid: str) -> None:
    cite = REPLY_FORM_CITATIONS[pid]
    issuance = ctx.info.kind is Kind.ISSUANCE
    # 現行: no proxy may learn the PIN. 改正後: 「法定代理人以外の代理人」 may not.
    concealment_needed = issuance and (not ctx.amended or not legal)
    if reply_form_required(ctx, proxy, legal):
        form = need(proxy.reply_form, "proxy.reply_form.present")
        if not need(form.present, "proxy.reply_form.present"):
            ctx.actions.append(Action("send_inquiry", "applicant", cite))
            ctx.add(inquiry("proxy_reply_form_needed", cite))
        if pid in IN_PERSON_DROPPED:
            inquiry_request_checks(ctx, pid)
        ctx.add(passed("proxy_reply_form_ok", cite))
        if concealment_needed and need(
            form.pin_concealment, "proxy.reply_form.pin_concealment"
        ) is PinConcealment.NONE:
            ctx.add(failed("pin_not_concealed_reply", cite))
        return
    ctx.add(note("reply_form_not_required", cite, legal=legal))
    if not issuance:
        return
    # 「回答書が不要な場合においても、暗証番号については、…隠蔽シールを貼付し又は封筒に封入・
    # 封緘する措置を講じた書類を代理人に提出させなければならない。」
    if concealment_needed or (legal and ctx.policies.legal_rep_pin_document_required):
        document = need(proxy.pin_document, "proxy.pin_document.present")
        if not need(document.present, "proxy.pin_document.present"):
            ctx.add(failed("pin_document_missing", cite))
        if concealment_needed and not need(document.concealed, "proxy.pin_document.concealed"):
            ctx.add(failed("pin_not_concealed_document", cite))
        ctx.add(passed("pin_document_ok", cite))


def _proxy_identity(ctx: Context, proxy: ProxyFacts, pid: str) -> None:
    cite = PROXY_ID_CITATIONS[pid]
    evidence = need(proxy.id, "proxy.id.kind")
    kind = need(evidence.kind, "proxy.id.kind")
    if kind is EvidenceKind.E_RECORD or evidence.channel.value == "transmitted":
        _e_record(ctx, evidence, pid, cite)
    elif kind is EvidenceKind.MY_NUMBER_CARD:
        card = need(evidence.card, "proxy.id.card.expiry")
        expiry = need(card.expiry, "proxy.id.card.expiry")
        if ctx.on > expiry:
            # [O] the grace period is shown only for the person's own card in issuance.
            ctx.add(failed("proxy_card_expired", cite, expiry=expiry.isoformat()))
    elif kind in (EvidenceKind.JUKI_CARD, EvidenceKind.PASSPORT, EvidenceKind.OTHER_DOCUMENT):
        if not appropriate(evidence, "proxy.id"):
            ctx.add(failed("id_not_appropriate", cite, kind=kind.value))
    elif kind is EvidenceKind.NONE:
        ctx.add(failed("proxy_id_missing", cite))
    else:
        ctx.add(failed("id_kind_not_accepted", cite, kind=kind.value))
    # 「代理人と委任状又は戸籍謄本等に記載された人物が同一であることを確認するため」
    if not need(evidence.contents_match, "proxy.id.contents_match"):
        ctx.add(failed("proxy_id_mismatch", cite))
    ctx.add(passed("proxy_identified", cite, identity=True))
    card_check.terminal_card_check(ctx, evidence, "proxy.id", by_proxy=True)


def _e_record(ctx: Context, evidence: Evidence, pid: str, cite: str) -> None:
    e_cite = E_RECORD_CITATIONS.get(pid)
    if not ctx.amended or e_cite is None:
        # 現行: 「いずれかの書類であって…提示を受け」 — documents presented only.
        ctx.add(failed("e_record_not_accepted", e_cite or cite))
        return
    record = need(evidence.e_record, "proxy.id.e_record.source")
    source = need(record.source, "proxy.id.e_record.source")
    ctx.add(note("e_record_source", e_cite, source=source.value))
    if source not in (ERecordSource.MY_NUMBER_CARD, ERecordSource.CARD_SUBSTITUTE_RECORD):
        ctx.add(failed("e_record_not_accepted", e_cite))
    # U15: 「氏名、住所又は生年月日及び本人の写真」 = name + (address or date of birth) + photo.
    have = need(record.fields, "proxy.id.e_record.fields")
    if not ({ERecordField.NAME, ERecordField.PHOTO} <= have
            and have & {ERecordField.ADDRESS, ERecordField.DOB}):
        listed = ",".join(sorted(f.value for f in have)) or "-"
        ctx.add(failed("e_record_fields", e_cite, fields=listed))
    if not need(record.certified_program, "proxy.id.e_record.certified_program"):
        # 「番号利用法第18条の3第1項の規定による認定を受けたプログラム…と同等の機能を有するもの」
        ctx.add(failed("e_record_not_certified_program", e_cite))
    if not need(record.sender_verified, "proxy.id.e_record.sender_verified"):
        # 「番号利用法第18条の4第1項の規定により内閣総理大臣が提供するプログラムと同等の機能」
        ctx.add(failed("e_record_sender_not_verified", e_cite))
    ctx.add(passed("e_record_ok", e_cite))
