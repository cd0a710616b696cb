"""Section A for the person themself: which identity evidence is accepted, and the 第3 checks.

Fully shown only for 第3-1-(1); for 第2-1-(1) the document list (A) with its new
grace period and (E) the reply form are shown, for 第2-3-(1) the reply form (F).
Where the text is (略) the rule applied is the shown analogue: a document the
mayor deems appropriate whose contents and photo match the application.
"""

from __future__ import annotations

from device.procedures import card_check
from device.procedures.catalogue import Kind
from device.procedures.context import Action, Context
from device.procedures.facts import (
    Channel,
    Evidence,
    EvidenceKind,
    InquiryRequest,
    appropriate,
    need,
)
from device.procedures.findings import failed, inquiry, note, passed

#: 「(ア) 申請書の受理」 and friends, per procedure.
RECEIPT_CITATIONS: dict[str, str] = {
    "2-1-1": "第2-1-(1)-ア-(ア)",
    "2-1-2": "第2-1-(2)-ア-(ア)",
    "2-2-1": "第2-2-(1)-ア-(ア)",
    "2-2-2": "第2-2-(2)-ア",
    "2-3-1": "第2-3-(1)-ア-(ア)",
    "2-3-2": "第2-3-(2)-ア-(ア)",
    "3-1-1": "第3-1-(1)-ア-(ア)",
    "3-1-2": "第3-1-(2)-ア-(ア)",
    "3-2-1": "第3-2-(1)-ア-(ア)",
    "3-2-2": "第3-2-(2)-ア",
    "3-3-1": "第3-3-(1)",
    "3-3-2": "第3-3-(2)-ア-(ア)",
}

#: 「A 本人確認書類の提示要求」 for the person themself.
SELF_ID_CITATIONS: dict[str, str] = {
    "2-1-1": "第2-1-(1)-ア-(イ)-A",
    "2-2-1": "第2-2-(1)-ア-(イ)-A",
    "2-3-1": "第2-3-(1)-ア-(イ)-A",
    "3-1-1": "第3-1-(1)-ア-(イ)-A",
    "3-2-1": "第3-2-(1)-ア-(イ)-A",
    "3-3-1": "第3-3-(1)",
}

#: The My Number Card item with the 6-month grace (改正後): issuance and renewal, self.
GRACE_CITATIONS: dict[str, str] = {
    "2-1-1": "第2-1-(1)-ア-(イ)-A-(A)",
    "3-1-1": "第3-1-(1)-ア-(イ)-A",
}

#: The reply-form route for the person themself, where the text shows it.
REPLY_ROUTE_CITATIONS: dict[str, str] = {
    "2-1-1": "第2-1-(1)-ア-(イ)-A-(E)",
    "2-3-1": "第2-3-(1)-ア-(イ)-A-(F)",
}

#: Reply-form definitions from which the amendment deleted 「来庁し」.
IN_PERSON_DROPPED: dict[str, str] = {
    "2-3-1": "第2-3-(1)-ア-(イ)-A-(F)",
    "2-3-2": "第2-3-(1)-ア-(イ)-A-(F)",
    "3-1-2": "第3-1-(2)-ア-(ア)-C-(B)",
}


def application_received(ctx: Context, pid: str) -> None:
    """The application (申請書／届出書／開示請求書) has been received."""
    cite = RECEIPT_CITATIONS[pid]
    application = need(ctx.facts.application, "application.received")
    if not need(application.received, "application.received"):
        ctx.add(failed("application_missing", cite))
    ctx.add(passed("application_received", cite))


def overseas_preconditions(ctx: Context) -> None:
    """第3: the application is made at the 附票管理市区町村 and raises no doubt."""
    application = need(ctx.facts.application, "application.received")
    if not need(application.at_fuhyo_municipality, "application.at_fuhyo_municipality"):
        # [I] 第3 is the 附票管理市区町村's business: 「附票管理市区町村において申請があった場合」.
        ctx.add(failed("not_fuhyo_municipality", "第3-1-(1)-ア-(イ)-A"))
    doubt = application.content_doubt
    if ctx.info.kind is Kind.ISSUANCE:
        doubt = need(doubt, "application.content_doubt")
    if doubt:
        # 「氏名、国外転出届に記載した国外転出（予定）日、生年月日、男女の別その他申請書の内容に
        # 疑義が生じた場合は、受付不可とする。」
        ctx.add(failed("overseas_content_doubt", "第3-1-(1)-ア-(イ)-A"))


def self_identity(ctx: Context) -> None:
    """Section A (and B for a card) for the applicant, user or requester at the counter."""
    pid = ctx.rule_procedure
    cite = SELF_ID_CITATIONS[pid]
    evidence = need(ctx.facts.applicant_id, "applicant_id.kind")
    kind = need(evidence.kind, "applicant_id.kind")
    if kind is EvidenceKind.NONE:
        _no_document(ctx, pid, cite)
    elif evidence.channel is Channel.TRANSMITTED:
        # Transmission (送信) is admitted only for a proxy's identity (改正後 第2-1-(2)-ア-(イ)-A).
        ctx.add(failed("id_kind_not_accepted", cite, kind=f"{kind.value},transmitted"))
    elif kind is EvidenceKind.MY_NUMBER_CARD:
        _card_validity(ctx, evidence, pid, cite)
        _contents_match(ctx, evidence, cite)
    elif kind in (EvidenceKind.JUKI_CARD, EvidenceKind.PASSPORT, EvidenceKind.OTHER_DOCUMENT):
        if not appropriate(evidence, "applicant_id"):
            ctx.add(failed("id_not_appropriate", cite, kind=kind.value))
        _contents_match(ctx, evidence, cite)
    elif kind is EvidenceKind.REPLY_FORM:
        _reply_route(ctx, evidence, pid, cite)
    elif kind is EvidenceKind.APP_SCREEN and pid == "2-1-1":
        _app_screen(ctx, evidence)
    else:
        ctx.add(failed("id_kind_not_accepted", cite, kind=kind.value))
    card_check.terminal_card_check(ctx, evidence, "applicant_id", by_proxy=False)


def _no_document(ctx: Context, pid: str, cite: str) -> None:
    route = REPLY_ROUTE_CITATIONS.get(pid)
    if route is not None:
        # 「郵便その他…適当と認める方法により…文書で照会したその回答書」: send the inquiry letter.
        ctx.actions.append(Action("send_inquiry", "applicant", route))
        ctx.add(inquiry("inquiry_route", route))
    else:
        # 「第3-1-(1)-ア-(イ)-A」: 「適切な書類による確実な確認が行えない場合は、受付不可とする。」
        ctx.add(failed("id_missing", cite))


def _card_validity(ctx: Context, evidence: Evidence, pid: str, cite: str) -> None:
    card = need(evidence.card, "applicant_id.card.expiry")
    expiry = need(card.expiry, "applicant_id.card.expiry")
    if ctx.on <= expiry:
        ctx.add(passed("card_valid", GRACE_CITATIONS.get(pid, cite), expiry=expiry.isoformat()))
        return
    grace_cite = GRACE_CITATIONS.get(pid)
    if grace_cite is None or not ctx.amended:
        # 現行, or a procedure whose text shows no grace: an expired card is not accepted.
        ctx.add(failed("card_expired", grace_cite or cite, expiry=expiry.isoformat()))
        return
    end = ctx.grace_end(expiry)
    if ctx.on > end:
        # 改正後 「第2-1-(1)-ア-(イ)-A-(A)」: 「有効期間満了の日から6月以内に限る。」
        ctx.add(
            failed("card_grace_over", grace_cite, expiry=expiry.isoformat(), end=end.isoformat())
        )
    if not need(card.photo_confirmed, "applicant_id.card.photo_confirmed"):
        # 「個人番号カードに添付された写真と申請者／利用者の同一性を確認すること等により」
        ctx.add(failed("card_grace_needs_photo", grace_cite, end=end.isoformat()))
    ctx.add(passed("card_in_grace", grace_cite, expiry=expiry.isoformat(), end=end.isoformat()))


def _contents_match(ctx: Context, evidence: Evidence, cite: str) -> None:
    if not need(evidence.contents_match, "applicant_id.contents_match"):
        ctx.add(failed("id_contents_mismatch", cite))
    ctx.add(passed("id_confirmed", cite, identity=True))


def _reply_route(ctx: Context, evidence: Evidence, pid: str, cite: str) -> None:
    route = REPLY_ROUTE_CITATIONS.get(pid)
    if route is None:
        kind = evidence.kind.value if evidence.kind else ""
        ctx.add(failed("id_kind_not_accepted", cite, kind=kind))
        return
    if pid in IN_PERSON_DROPPED:
        inquiry_request_checks(ctx, pid)
    if not appropriate(evidence, "applicant_id"):
        ctx.add(failed("reply_documents_not_appropriate", route))
    ctx.add(passed("reply_form_identity", route, identity=True))


def inquiry_request_checks(ctx: Context, pid: str) -> None:
    """The request to send the 照会書: 来庁 (現行 only) and the three checks made then."""
    cite = IN_PERSON_DROPPED[pid]
    request: InquiryRequest = need(ctx.facts.inquiry_request, "inquiry_request.in_person")
    in_person = need(request.in_person, "inquiry_request.in_person")
    if not ctx.amended and not in_person:
        # 現行: 「回答書とは、…本人又は代理人が、来庁し、送付を依頼した…」
        ctx.add(failed("inquiry_request_not_in_person", cite))
    checks = (
        (request.identity_checked, "inquiry_request.identity_checked"),
        (request.requester_exists, "inquiry_request.requester_exists"),
        (request.form_presented, "inquiry_request.form_presented"),
    )
    for value, step in checks:
        if not need(value, step):
            # 「可能な限り本人確認を行うとともに、…存在確認を行い、…請求書／申請書の提示を受ける」
            ctx.add(failed("inquiry_request_checks_missing", cite))
    ctx.add(passed("inquiry_request_ok", cite, in_person=in_person))


def _app_screen(ctx: Context, evidence: Evidence) -> None:
    # 「第2-1-(1)-ア-(イ)-A-(E)」 なお書き: 映像面 only when the listed documents are difficult to
    # present and the person is asked to operate the screen (令和6年6月3日 総行マ第68号 別紙).
    cite = "第2-1-(1)-ア-(イ)-A-(E)"
    first = "applicant_id.app_screen.listed_documents_difficult"
    screen = need(evidence.app_screen, first)
    if not (need(screen.listed_documents_difficult, first)
            and need(screen.screen_operation, "applicant_id.app_screen.screen_operation")):
        ctx.add(failed("app_screen_conditions", cite))
    ctx.add(note("app_screen_accepted", cite))
    _contents_match(ctx, evidence, cite)

