"""Rules outside sections A–C: record keeping, 第4-3 found cards, 第4-4 retention, form items."""

from __future__ import annotations

import re

from device.procedures import retention
from device.procedures.context import Action, Context
from device.procedures.facts import need
from device.procedures.findings import failed, note, passed

#: How issuance is recorded. 現行: the fixed 交付記録簿 (ケ/コ); 改正後: 交付状況の記録 (ア-(ケ)).
RECORD_KEEPING: dict[tuple[str, bool], str] = {
    ("2-1-1", False): "第2-1-(1)-ケ",
    ("2-1-1", True): "第2-1-(1)-ア-(ケ)",
    ("2-1-2", False): "第2-1-(2)-ケ",
    ("2-1-2", True): "第2-1-(1)-ア-(ケ)",  # [I] 第2-1-(2) ケ/コ deleted; (ケ) of 1-(1) applies
    ("3-1-1", False): "第3-1-(1)-ケ",
    ("3-1-1", True): "第3-1-(1)-ア-(ケ)",
    ("3-1-2", False): "第3-1-(2)-ケ",
    ("3-1-2", True): "第3-1-(1)-ア-(ケ)",  # [I] as above
}


def record_keeping(ctx: Context) -> str | None:
    """Note how issuance is recorded: ``"issuance_register"`` or ``"issuance_status_log"``."""
    cite = RECORD_KEEPING.get((ctx.info.id, ctx.amended))
    if cite is None:
        return None
    if ctx.amended:
        # 「…手数料の機構への支払いなど…住所地市区町村長において交付状況を適宜記録することが適当」
        ctx.add(note("record_issuance_status", cite))
        return "issuance_status_log"
    ctx.add(note("record_issuance_register", cite))
    return "issuance_register"


def lost_card_found(ctx: Context) -> None:
    """「第4-3」: the found card's held certificates are revoked on a revocation application."""
    lost = need(ctx.facts.lost_card, "lost_card.found")
    if not need(lost.found, "lost_card.found"):
        ctx.add(failed("lost_card_not_found", "第4-3"))
    if not need(lost.explained, "lost_card.explained"):
        # 「一時保留…電子証明書は失効させる必要がある旨を利用者又は代理人に説明し」
        ctx.add(failed("lost_card_not_explained", "第4-3"))
    if not need(lost.revocation_application, "lost_card.revocation_application"):
        # 「失効申請に基づき失効させる」
        ctx.add(failed("lost_card_no_revocation_application", "第4-3"))
    ctx.add(passed("lost_card_revocation_basis", "第4-3"))


def lost_card_actions(ctx: Context) -> None:
    """After identity: revoke, (改正後) set the card back to 運用中, optionally issue anew."""
    lost = need(ctx.facts.lost_card, "lost_card.found")
    if lost.held_certificates:
        # The serials were stated (a case file, or the registry's list of held ones).
        for serial in lost.held_certificates:
            ctx.actions.append(Action("revoke", serial, "第4-3"))
        ctx.add(note("lost_card_revoke", "第4-3", serials="、".join(lost.held_certificates)))
    else:
        # At the counter: the certificates on the found card are the held ones; the
        # record names each by kind (and serial where it can be read without a PIN).
        ctx.actions.append(Action("revoke", "certificates", "第4-3"))
        ctx.add(note("lost_card_revoke_card", "第4-3"))
    if ctx.amended:
        # 改正後 「第4-3」: 「個人番号カード運用状況を運用中とする（個人番号カードの交付等に関する
        # 事務処理要領第7-6）」. U13: the order against the revocation is not given.
        ctx.actions.append(Action("set_operation_status", "in_operation", "第4-3"))
        ctx.add(note("lost_card_status_in_operation", "第4-3"))
    if need(lost.new_issuance, "lost_card.new_issuance"):
        ctx.actions.append(Action("new_issuance", "applicant", "第4-3"))
        ctx.add(note("lost_card_new_issuance", "第4-3"))


def retention_query(ctx: Context) -> bool:
    """「第4-4-(1)」: whether the queried document must be retained under this rule set."""
    query = need(ctx.facts.retention, "retention.document")
    document = need(query.document, "retention.document")
    if document not in retention.known_documents():
        ctx.add(note("retention_unknown_document", "第4-4-(1)", document=document))
        return False
    entry = retention.find(document, ctx.version)
    if entry is None:
        # 改正後 「第4-4-(1)-コ」 交付記録簿: (削除).
        ctx.add(note("retention_not_required", "第4-4-(1)-コ", document=document))
        return False
    ctx.add(note("retention_required", entry.citation, document=entry.document))
    return True


_PHONE = re.compile(r"^\+?[0-9][0-9\-]{8,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def disclosure_form_items(ctx: Context) -> None:
    """「第3-3-(2)-イ」: the proxy's phone (サ) and e-mail (ス) follow the requester's items."""
    form = ctx.facts.disclosure_form
    if form is None or ctx.info.id != "3-3-2":
        return
    if form.proxy_phone is not None:
        # 現行 「上述(ケ)…に準ずる」 / 改正後 「上述(コ) 開示請求者の電話番号に準ずる」
        cite = "第3-3-(2)-イ-(サ)"
        ref = "(コ)" if ctx.amended else "(ケ)"
        if not _PHONE.match(form.proxy_phone):
            ctx.add(failed("form_phone_invalid", cite, ref=ref))
        ctx.add(passed("form_phone_ok", cite, ref=ref))
    if form.proxy_email is not None:
        cite = "第3-3-(2)-イ-(ス)"
        if ctx.amended:
            # 改正後 「上述(シ) 開示請求者のメールアドレスに準ずる」
            ok, ref, key = bool(_EMAIL.match(form.proxy_email)), "(シ)", "form_email_invalid"
        else:
            # 現行 「上述(ケ) 開示請求者の電話番号に準ずる」: the e-mail followed the phone rule.
            ok, ref, key = bool(_PHONE.match(form.proxy_email)), "(ケ)", "form_email_phone_rule"
        if not ok:
            ctx.add(failed(key, cite, ref=ref))
        ctx.add(passed("form_email_ok", cite, ref=ref))
