"""Section B: PIN verification on the integrated terminal, operation status, and the fallback.

「B 住基カード又は個人番号カードの住民基本台帳ネットワークシステムに係るアプリケーションに
関する暗証番号の照合及び…運用状況の確認」. The text is shown for 第2-1-(1), 第2-1-(2),
第2-2-(1), 第3-1-(1), 第3-1-(2) and 第3-2-(1); elsewhere it is (略) and no B check runs.
"""

from __future__ import annotations

from datetime import date

from device.procedures.context import Context
from device.procedures.facts import (
    CardFacts,
    DeclarationItems,
    DeclarationSubject,
    Evidence,
    EvidenceKind,
    OperationStatus,
    PinResult,
    need,
)
from device.procedures.findings import failed, note, passed
from device.procedures.policies import DeclarationSubjectPolicy

#: Where section B stands for each procedure whose text shows it.
B_CITATIONS: dict[str, str] = {
    "2-1-1": "第2-1-(1)-ア-(イ)-B",
    "2-1-2": "第2-1-(2)-ア-(イ)-B",
    "2-2-1": "第2-2-(1)-ア-(イ)-B",
    "3-1-1": "第3-1-(1)-ア-(イ)-B",
    "3-1-2": "第3-1-(2)-ア-(イ)-B",
    "3-2-1": "第3-2-(1)-ア-(イ)-B",
}

#: 住基カード issued from this day on carry 券面事項確認情報 on the chip.
JUKI_CHIP_FROM = date(2009, 4, 20)


def applies(ctx: Context, evidence: Evidence, prefix: str) -> bool:
    """Whether B runs: a 住基カード (基本4情報) or 個人番号カード presented, text shown."""
    if ctx.rule_procedure not in B_CITATIONS:
        return False
    if evidence.kind is EvidenceKind.MY_NUMBER_CARD:
        return True
    if evidence.kind is not EvidenceKind.JUKI_CARD:
        return False
    card = need(evidence.card, f"{prefix}.card.basic4")
    return need(card.basic4, f"{prefix}.card.basic4")


def terminal_card_check(ctx: Context, evidence: Evidence, prefix: str, *, by_proxy: bool) -> None:
    """Run section B for the card in ``evidence`` (the applicant's, or the proxy's own)."""
    if not applies(ctx, evidence, prefix):
        return
    cite = B_CITATIONS[ctx.rule_procedure]
    card = need(evidence.card, f"{prefix}.card.operation_status")
    if card.counterfeit_suspected:
        # The chip's signatures did not verify: nothing the card says can be relied on
        # (「券面事項確認情報」 included), so B cannot be passed with this card.
        ctx.add(failed("b_counterfeit_suspected", cite))
    _operation_status(ctx, card, prefix, cite)
    face_auth = evidence.kind is EvidenceKind.MY_NUMBER_CARD and need(
        card.face_auth, f"{prefix}.card.face_auth"
    )
    if face_auth:
        ctx.add(note("b_face_auth_card", cite))
    else:
        # 「統合端末の操作者の認証を行った上で」: operator first, then the person's PIN.
        if not need(card.operator_authenticated, f"{prefix}.card.operator_authenticated"):
            ctx.add(failed("b_operator_not_authenticated", cite))
        result = need(card.pin_result, f"{prefix}.card.pin_result")
        if result is PinResult.VERIFIED:
            ctx.add(passed("b_pin_verified", cite, identity=True))
            return
        ctx.add(note("b_pin_failed", cite, result=result.value))
    _fallback(ctx, evidence, card, prefix, cite, by_proxy=by_proxy)


def _operation_status(ctx: Context, card: CardFacts, prefix: str, cite: str) -> None:
    status = need(card.operation_status, f"{prefix}.card.operation_status")
    if status is OperationStatus.IN_OPERATION:
        ctx.add(passed("b_status_in_operation", cite))
    elif ctx.lost_card_flow and status is OperationStatus.SUSPENDED:
        # 「第4-3」: a found card is still 一時停止 until it is set back to 運用中.
        ctx.add(note("b_status_suspended_found_card", "第4-3", status=status.value))
    elif ctx.amended and ctx.in_grace(card.expiry):
        # U21: an expired card inside the grace window may not show 運用中.
        ctx.add(note("b_status_tolerated_in_grace", cite, status=status.value))
    else:
        # [I] the steps of 運用状況の確認 are (略); a card not 運用中 is not accepted.
        ctx.add(failed("b_status_not_in_operation", cite, status=status.value))


def _fallback(
    ctx: Context, evidence: Evidence, card: CardFacts, prefix: str, cite: str, *, by_proxy: bool
) -> None:
    """「顔認証カードが提示された場合又は暗証番号の照合に失敗した場合は…受付不可とする。」"""
    if evidence.kind is EvidenceKind.JUKI_CARD:
        issued = need(card.issued_on, f"{prefix}.card.issued_on")
        chip_capable = issued >= JUKI_CHIP_FROM  # B applies to 基本4情報 cards only
    else:
        chip_capable = True
    chip = chip_capable and need(card.chip_face_match, f"{prefix}.card.chip_face_match")
    if not ctx.amended:
        # 現行 「第2-1-(1)-ア-(イ)-B」: only the chip-vs-face match saves the case.
        if chip:
            ctx.add(passed("b_fallback_chip_match", cite, identity=True))
        else:
            ctx.add(failed("b_fallback_chip_mismatch", cite))
        return
    both = ctx.policies.fallback_requires_both
    if both and not chip:
        ctx.add(failed("b_fallback_chip_mismatch", cite))
    if not both and chip:
        ctx.add(passed("b_fallback_chip_match_or", cite, identity=True))
        return
    why, items, subject = _declaration_ok(ctx, card, prefix, by_proxy=by_proxy)
    if why or subject is None:
        # 改正後 「第2-1-(1)-ア-(イ)-B」 (and its 第2-2, 第3 analogues): without the
        # declaration (none made, or refused) the fallback fails: 受付不可.
        ctx.add(failed(why, cite))
        return  # not reached: a failed finding stops the evaluation
    key = "b_fallback_chip_and_declaration" if both else "b_fallback_declaration_or"
    ctx.add(passed(key, cite, identity=True, items=items.value, subject=subject.value))


def _declaration_ok(
    ctx: Context, card: CardFacts, prefix: str, *, by_proxy: bool
) -> tuple[str, DeclarationItems, DeclarationSubject | None]:
    """改正後: 「申請者／利用者に係る住民票（第3: 戸籍の附票）の記載事項その他の市町村長が
    適当と認める事項の申告を受ける場合」. Returns (failure key or "", items, subject);
    no subject is asked when no declaration was made."""
    declaration = need(card.declaration, f"{prefix}.card.declaration.items")
    items = need(declaration.items, f"{prefix}.card.declaration.items")
    if items is DeclarationItems.NONE:
        return "b_declaration_none", items, None
    if items is DeclarationItems.REFUSED:
        return "b_declaration_refused", items, None
    subject = need(declaration.subject, f"{prefix}.card.declaration.subject")
    record_items = (
        DeclarationItems.KOSEKI_FUHYO if ctx.overseas else DeclarationItems.RESIDENT_RECORD
    )
    if items not in (record_items, DeclarationItems.MAYOR_APPROVED):
        return "b_declaration_wrong_items", items, subject
    if not by_proxy:
        subject_ok = subject is DeclarationSubject.APPLICANT
    else:
        policy = ctx.policies.proxy_declaration_subject
        subject_ok = policy is DeclarationSubjectPolicy.EITHER or subject.value == policy.value
    if not subject_ok:
        return "b_declaration_wrong_subject", items, subject
    if declaration.matches_record is False:
        return "b_declaration_mismatch", items, subject
    return "", items, subject
