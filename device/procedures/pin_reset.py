"""暗証番号の初期化・再設定: a procedure of the counter that lies OUTSIDE the seed regulation.

The 公的個人認証サービス事務処理要領 (the seed) has no chapter for resetting a
forgotten or locked PIN; J-LIS and every municipality publish how their counters do
it. So this procedure's id (``"pin-reset"``) and its citations (「要領外-初期化-3」,
written out in full at each rule as the guidelines' are) have a form no citation of
the guidelines has (those start with 「第」), and one grep for ``要領外`` finds every
rule here. Each rule names the public pages it
follows in :data:`SOURCES` (``madoguchi rules explain pin-reset`` prints them).

What the published pages agree on:

* in person: the card itself and an identity check of the holder by its photo;
* by a proxy (任意代理人): two visits — the first application makes the municipality
  post a 照会書兼回答書 to the holder, who fills it in (with the new PIN concealed
  under a seal or in a sealed envelope) and the proxy brings it back with the card
  and their own photo ID; the reset is done on the second visit;
* which PINs: 利用者証明用, 署名用, 券面事項入力補助用, 住民基本台帳用.

What differs between municipalities is a policy
(:class:`~device.procedures.policies.Policies`): whether a second identity document
besides the card is asked for (``pin_reset_second_id``), and whether a proxy needs a
委任状 besides the reply form (``pin_reset_power_of_attorney``). A 法定代理人 is
not modelled here.

The card step (the new PIN written to the card) is a fact the counter's screen
records (``pin_reset.card_step``): on a counter the J-LIS terminal writes it and the
clerk confirms; on the virtual card the appliance writes it as a test terminal
(``device.card.pin_writer``).
"""

from __future__ import annotations

from dataclasses import dataclass

from device.procedures.catalogue import PIN_RESET_CITATION, PIN_RESET_ID, PIN_RESET_OUTSIDE
from device.procedures.context import Action, Context
from device.procedures.facts import (
    Actor,
    PinConcealment,
    PinResetFacts,
    PinResetReplyForm,
    PinResetTarget,
    PinWriteBy,
    need,
)
from device.procedures.findings import failed, inquiry, passed

#: The procedure's id: not of the guidelines' numbered form (「2-1-1」).
PROCEDURE_ID = PIN_RESET_ID
#: Every citation of this procedure starts so; ``grep -r 要領外`` finds them all.
OUTSIDE = PIN_RESET_OUTSIDE
#: The procedure's own citation (a guidelines' procedure reads 「第2-1-(1)」).
CITATION = PIN_RESET_CITATION


@dataclass(frozen=True)
class Source:
    """A public page a rule follows: who published it, its title, where."""

    publisher: str
    title: str
    url: str


_KIKUCHI = Source("菊池市", "マイナンバーカードの暗証番号の再設定(初期化)",
                  "https://www.city.kikuchi.lg.jp/article/view/1029/6533.html")
_KASHIMA = Source("鹿嶋市", "マイナンバーカード(個人番号カード)の暗証番号の再設定について",
                  "https://city.kashima.ibaraki.jp/soshiki/37/60454.html")
_KAWASAKI = Source("川崎市", "よくある質問 No.45889 公的個人認証サービス(電子証明書)のパスワードを"
                   "忘れた、またはロックした場合",
                   "https://www.city.kawasaki.jp/templates/faq/250/0000045889.html")
_TOYOKAWA = Source("豊川市", "暗証番号の再設定",
                   "http://www.city.toyokawa.lg.jp/smph/kurashi/tetsuzukitodokede/jukinet/"
                   "shimin_ass202003191.html")
_SUZAKA = Source("須坂市", "マイナンバーカードの暗証番号の再設定(初期化)について",
                 "https://www.city.suzaka.nagano.jp/soshiki/3010/2/6340.html")
_TAJIMI = Source("多治見市", "マイナンバーカードの暗証番号の再設定・変更",
                 "https://www.city.tajimi.lg.jp/kurashi/koseki/ansyoubangou.html")
_KAMA = Source("嘉麻市", "マイナンバーカードの暗証番号再設定・変更",
               "https://www.city.kama.lg.jp/site/mynumber/31995.html")
_FUJINOMIYA = Source("富士宮市", "マイナンバーカードの暗証番号を忘れてしまったときは",
                     "https://www.city.fujinomiya.lg.jp/1023200000/p000270.html")
_HIDAKA = Source("日高市", "マイナンバーカードや電子証明書の暗証番号の変更・再設定",
                 "https://www.city.hidaka.lg.jp/life_procedure/51/54/21562.html")
_AKASHI = Source("明石市", "電子証明書のパスワード変更・初期化・ロック解除",
                 "https://www.city.akashi.lg.jp/shimin_kenkou/shimin_ka/kurashi/jumin/"
                 "ninsho_006.html")
_KOKUBUNJI = Source("国分寺市", "個人番号カードの暗証番号の変更・再設定(初期化)について",
                    "http://www.city.kokubunji.tokyo.jp/kurashi/1010836/1008536/1023336.html")

#: Each rule's public sources, by citation.
SOURCES: dict[str, tuple[Source, ...]] = {
    # 1 the application (暗証番号再設定申請) at the counter of the municipality of residence
    "要領外-初期化-1": (_HIDAKA, _KAWASAKI),
    # 2 which PINs: the four, and how many wrong tries lock each
    "要領外-初期化-2": (_TOYOKAWA, _KIKUCHI),
    # 3 the card whose PINs are reset is brought
    "要領外-初期化-3": (_KIKUCHI, _KASHIMA),
    # 4 in person: the holder identified by the card's photo
    "要領外-初期化-4": (_KASHIMA, _KOKUBUNJI),
    # 5 a second identity document besides the card (policy pin_reset_second_id)
    "要領外-初期化-5": (_KIKUCHI, _KAWASAKI, _SUZAKA),
    # 6 by proxy: the 照会書兼回答書 posted to the holder, brought back, the PIN concealed
    "要領外-初期化-6": (_KIKUCHI, _KAMA, _TAJIMI),
    # 7 by proxy: the proxy's own photo identity document
    "要領外-初期化-7": (_KASHIMA, _TAJIMI),
    # 8 by proxy: a 委任状 (policy pin_reset_power_of_attorney)
    "要領外-初期化-8": (_FUJINOMIYA,),
    # 9 the card step: done on the counter's terminal, not by the holder's own software
    "要領外-初期化-9": (_AKASHI, _KOKUBUNJI),
}

#: Each step's citation (the checklist's static list and ``rules explain``).
STEP_CITATIONS: dict[str, str] = {
    "application.received": "要領外-初期化-1",
    "pin_reset.pins": "要領外-初期化-2",
    "pin_reset.card_brought": "要領外-初期化-3",
    "pin_reset.card_photo_match": "要領外-初期化-4",
    "pin_reset.second_id": "要領外-初期化-5",
    "pin_reset.reply_form.present": "要領外-初期化-6",
    "pin_reset.reply_form.pin_concealment": "要領外-初期化-6",
    "pin_reset.proxy_id": "要領外-初期化-7",
    "pin_reset.holder_id": "要領外-初期化-5",
    "pin_reset.power_of_attorney": "要領外-初期化-8",
    "pin_reset.card_step.by": "要領外-初期化-9",
}

#: The step the counter's screen answers from the card step itself (never a question).
CARD_STEP = "pin_reset.card_step.by"

#: PINs in the order the counter resets them.
ORDER = (PinResetTarget.AUTH, PinResetTarget.SIGN, PinResetTarget.SUPPORT, PinResetTarget.JUKI)


def steps(actor: Actor | None) -> list[tuple[str, str]]:
    """``(step key, citation)`` of every step the procedure may ask ``actor``, in order."""
    keys = ["application.received", "pin_reset.pins", "pin_reset.card_brought"]
    if actor in (None, Actor.SELF):
        keys += ["pin_reset.card_photo_match", "pin_reset.second_id"]
    if actor in (None, Actor.PROXY):
        keys += ["pin_reset.reply_form.present", "pin_reset.reply_form.pin_concealment",
                 "pin_reset.proxy_id", "pin_reset.holder_id", "pin_reset.power_of_attorney"]
    keys.append(CARD_STEP)
    return [(key, STEP_CITATIONS[key]) for key in keys]


def run(ctx: Context) -> None:
    """The rules of 暗証番号の初期化・再設定 for the person at the counter."""
    application = need(ctx.facts.application, "application.received")
    if not need(application.received, "application.received"):
        ctx.add(failed("application_missing", "要領外-初期化-1"))
    ctx.add(passed("application_received", "要領外-初期化-1"))
    facts = ctx.facts.pin_reset or PinResetFacts()
    pins = need(facts.pins, "pin_reset.pins")
    if not pins:
        ctx.add(failed("pin_reset_no_pins", "要領外-初期化-2"))
    chosen = [pin for pin in ORDER if pin in pins]
    ctx.add(passed("pin_reset_pins", "要領外-初期化-2", pins=",".join(p.value for p in chosen)))
    if not need(facts.card_brought, "pin_reset.card_brought"):
        # Nothing to write on: the card itself is needed (a lost card is 一時保留／失効).
        ctx.add(failed("pin_reset_no_card", "要領外-初期化-3"))
    ctx.add(passed("pin_reset_card_brought", "要領外-初期化-3"))
    if ctx.actor is Actor.SELF:
        _in_person(ctx, facts)
    else:
        _by_proxy(ctx, facts)
    _card_step(ctx, facts, chosen)


def _in_person(ctx: Context, facts: PinResetFacts) -> None:
    if not need(facts.card_photo_match, "pin_reset.card_photo_match"):
        ctx.add(failed("pin_reset_photo_mismatch", "要領外-初期化-4"))
    ctx.add(passed("pin_reset_photo_match", "要領外-初期化-4", identity=True))
    if ctx.policies.pin_reset_second_id:
        if not need(facts.second_id, "pin_reset.second_id"):
            ctx.add(failed("pin_reset_second_id_missing", "要領外-初期化-5"))
        ctx.add(passed("pin_reset_second_id", "要領外-初期化-5"))


def _by_proxy(ctx: Context, facts: PinResetFacts) -> None:
    form = facts.reply_form
    if not need(form.present if form else None, "pin_reset.reply_form.present"):
        # The first visit: the 照会書兼回答書 goes to the holder (転送不要郵便); the
        # proxy comes back with it. Nothing is written on the card today.
        ctx.actions.append(Action("send_inquiry", "holder", "要領外-初期化-6"))
        ctx.add(inquiry("pin_reset_send_inquiry", "要領外-初期化-6"))
    form = form or PinResetReplyForm()  # present was recorded: ``form`` exists
    concealment = need(form.pin_concealment, "pin_reset.reply_form.pin_concealment")
    if concealment is PinConcealment.NONE:
        # The proxy must not be able to learn the new PIN (the seed's own rule for the
        # PIN in a proxy's papers, 第2-1-(2), applied here by analogy).
        ctx.add(failed("pin_reset_pin_not_concealed", "要領外-初期化-6"))
    ctx.add(passed("pin_reset_reply_form", "要領外-初期化-6", concealment=concealment.value))
    if not need(facts.proxy_id, "pin_reset.proxy_id"):
        ctx.add(failed("pin_reset_proxy_id_missing", "要領外-初期化-7"))
    ctx.add(passed("pin_reset_proxy_identified", "要領外-初期化-7", identity=True))
    if ctx.policies.pin_reset_second_id:
        if not need(facts.holder_id, "pin_reset.holder_id"):
            ctx.add(failed("pin_reset_holder_id_missing", "要領外-初期化-5"))
        ctx.add(passed("pin_reset_holder_id", "要領外-初期化-5"))
    if ctx.policies.pin_reset_power_of_attorney:
        if not need(facts.power_of_attorney, "pin_reset.power_of_attorney"):
            ctx.add(failed("pin_reset_poa_missing", "要領外-初期化-8"))
        ctx.add(passed("pin_reset_poa", "要領外-初期化-8"))


def _card_step(ctx: Context, facts: PinResetFacts, chosen: list[PinResetTarget]) -> None:
    step = facts.card_step
    by = need(step.by if step else None, CARD_STEP)
    done = step.written if step is not None and step.written is not None else None
    written = [pin for pin in chosen if done is None or pin in done]
    if by is PinWriteBy.NOT_DONE and done is None:
        written = []
    names = ",".join(p.value for p in written) or "none"
    if by is PinWriteBy.NOT_DONE or len(written) != len(chosen):
        ctx.add(failed("pin_reset_not_done", "要領外-初期化-9", pins=names))
    for pin in written:
        ctx.actions.append(Action("reset_pin", pin.value, "要領外-初期化-9"))
    key = "pin_reset_written" if by is PinWriteBy.WRITTEN else "pin_reset_by_jlis"
    ctx.add(passed(key, "要領外-初期化-9", pins=names))
