# ruff: noqa: E501  (a table of full-width Japanese text: ruff counts each character as 2)
"""Every text the clerk sees from the procedure engine, in Japanese and English.

The clerks are Japanese: ``ja`` is the default, ``en`` is there for training and
audit. Rules name messages by key (see :mod:`device.procedures.findings`); the
TUI renders checklist steps and procedure titles from here too. Placeholders
use :meth:`str.format` names.
"""

from __future__ import annotations

from typing import Any

from device.procedures import pin_reset_texts as _pin_reset_texts
from device.procedures import retention as _retention
from device.procedures.versions import RuleVersion as _RuleVersion

LANGUAGES = ("ja", "en")

#: Finding messages: key → (ja, en).
MESSAGES: dict[str, tuple[str, str]] = {
    # receipt of the application
    "application_received": ("申請書等を受理した。", "The application form was received."),
    "application_missing": ("申請書等の提出がないため受付不可。",
                            "No application form was handed in: cannot be accepted."),
    # 第3
    "not_fuhyo_municipality": ("附票管理市区町村での申請ではないため受付不可。",
                               "Not applied for at the municipality keeping the 戸籍の附票: "
                               "cannot be accepted."),
    "overseas_content_doubt": ("氏名、国外転出（予定）日、生年月日、男女の別その他申請書の内容に"
                               "疑義が生じたため受付不可。",
                               "Doubt about the name, emigration date, date of birth, sex or other "
                               "content of the application: cannot be accepted."),
    # section A, the person themself
    "id_confirmed": ("本人確認書類の記載内容・写真と申請書等を照合し、本人に相違ないことを確認した。",
                     "The identity document's contents and photo match the application."),
    "id_contents_mismatch": ("本人確認書類と申請書等の記載内容・写真が一致しないため受付不可。",
                             "The identity document does not match the application: "
                             "cannot be accepted."),
    "id_missing": ("適切な書類による確実な本人確認が行えないため受付不可。",
                   "Identity cannot be reliably confirmed with appropriate documents: "
                   "cannot be accepted."),
    "id_not_appropriate": ("提示された書類（{kind}）は市区町村長が適当と認めるものではないため受付不可。",
                           "The document ({kind}) is not one the mayor deems appropriate: "
                           "cannot be accepted."),
    "id_kind_not_accepted": ("この手続では本人確認書類として{kind}は認められないため受付不可。",
                             "{kind} is not accepted as identity evidence in this procedure: "
                             "cannot be accepted."),
    "card_valid": ("個人番号カードは有効期間内（満了日 {expiry}）。",
                   "The My Number Card is valid (expires {expiry})."),
    "card_expired": ("個人番号カードの有効期間（満了日 {expiry}）が過ぎているため本人確認書類として"
                     "認められず受付不可。",
                     "The My Number Card expired on {expiry} and is not accepted: "
                     "cannot be accepted."),
    "card_grace_over": ("有効期間満了の日（{expiry}）から6月以内（{end}まで）を過ぎているため受付不可。",
                        "More than 6 months (until {end}) have passed since the card expired on "
                        "{expiry}: cannot be accepted."),
    "card_grace_needs_photo": ("有効期間満了後6月以内（{end}まで）の個人番号カードは、写真と本人の同一性"
                               "の確認等ができた場合に限り認められる。確認できないため受付不可。",
                               "An expired card within the grace period (until {end}) needs the "
                               "clerk's photo confirmation; without it: cannot be accepted."),
    "card_in_grace": ("有効期間満了（{expiry}）後6月以内（{end}まで）であり、写真等により本人で"
                      "あることを確認した。",
                      "Card expired on {expiry}, within the grace period until {end}; identity "
                      "confirmed by the photo."),
    "inquiry_route": ("本人確認書類がないため、照会書を送付し回答書により本人確認を行う。",
                      "No identity document: send the inquiry letter and confirm identity with "
                      "the reply form."),
    "reply_form_identity": ("照会書に対する回答書及び市区町村長が適当と認める書類により本人確認した。",
                            "Identity confirmed with the reply form and the documents the mayor "
                            "deems appropriate."),
    "reply_documents_not_appropriate": ("回答書と併せて提示された書類が市区町村長が適当と認める"
                                        "ものではないため受付不可。",
                                        "The documents brought with the reply form are not "
                                        "appropriate: cannot be accepted."),
    "inquiry_request_not_in_person": ("現行では回答書は来庁して送付を依頼したものに限られ、"
                                      "来庁せずに依頼された照会の回答書は認められないため受付不可。",
                                      "Under the current rules the inquiry must be requested at the "
                                      "office; this one was not: cannot be accepted."),
    "inquiry_request_checks_missing": ("照会書の送付依頼時の確認（可能な限りの本人確認、存在確認、"
                                       "申請書等の提示）がされていないため受付不可。",
                                       "The checks at the time of the inquiry request (identity as "
                                       "far as possible, existence, form presented) were not made: "
                                       "cannot be accepted."),
    "inquiry_request_ok": ("照会書の送付依頼とその際の確認を確認した（来庁: {in_person}）。",
                           "The inquiry request and its checks are in order (in person: "
                           "{in_person})."),
    "app_screen_conditions": ("アプリの映像面は、書類の提示が困難で、かつ画面の操作を求める措置を"
                              "講じた場合に限り認められるため受付不可。",
                              "An app screen is accepted only when documents are difficult to "
                              "present and the person operates the screen: cannot be accepted."),
    "app_screen_accepted": ("書類の提示が困難なため、画面操作を求めた上でアプリの映像面を確認した。",
                            "The app screen was checked with the person operating it."),
    # section B
    "b_status_in_operation": ("カードの運用状況は運用中。", "The card's operation status is 運用中."),
    "b_status_not_in_operation": ("カードの運用状況が運用中ではない（{status}）ため受付不可。",
                                  "The card is not in operation ({status}): cannot be accepted."),
    "b_status_suspended_found_card": ("発見された紛失カードのため一時停止（{status}）は想定どおり。",
                                      "The found card is suspended ({status}) as expected."),
    "b_status_tolerated_in_grace": ("有効期間満了後6月以内のため運用状況（{status}）では受付不可と"
                                    "しない。",
                                    "Within the grace period the status ({status}) does not stop "
                                    "the case."),
    "b_operator_not_authenticated": ("統合端末の操作者の認証が行われていないため暗証番号の照合が"
                                     "できず受付不可。",
                                     "The terminal operator was not authenticated before the PIN "
                                     "verification: cannot be accepted."),
    "b_pin_verified": ("統合端末で暗証番号の照合に成功し、より確実な本人性の確認を行った。",
                       "PIN verified on the integrated terminal."),
    "b_pin_failed": ("暗証番号の照合に失敗した（{result}）。",
                     "PIN verification failed ({result})."),
    "b_face_auth_card": ("顔認証カードが提示された。", "A face-authentication card was presented."),
    "b_fallback_chip_match": ("半導体集積回路の券面事項確認情報と券面記載事項の一致を確認した。",
                              "The chip's card-face data matches the printed card face."),
    "b_fallback_chip_match_or": ("券面事項確認情報と券面記載事項の一致を確認した（いずれかで足りる"
                                 "設定）。",
                                 "Chip and card face match (policy: either check suffices)."),
    "b_fallback_chip_mismatch": ("券面事項確認情報と券面記載事項の一致が確認できないため受付不可。",
                                 "The chip's card-face data could not be matched to the card face: "
                                 "cannot be accepted."),
    "b_fallback_chip_and_declaration": ("券面事項確認情報と券面記載事項の一致を確認し、かつ記載事項の"
                                        "申告を受けた（{items}、{subject}に係る）。",
                                        "Chip and card face match and the declaration was "
                                        "received ({items}, of the {subject})."),
    "b_fallback_declaration_or": ("記載事項の申告を受けた（{items}、{subject}に係る。いずれかで足りる設定）。",
                                  "The declaration was received ({items}, of the {subject}; policy: "
                                  "either check suffices)."),
    "b_declaration_wrong_items": ("申告された事項が住民票（国外転出者は戸籍の附票）の記載事項その他"
                                  "市町村長が適当と認める事項ではないため受付不可。",
                                  "The declared items are not the resident-record (abroad: "
                                  "戸籍の附票) items or items the mayor approves: cannot be "
                                  "accepted."),
    "b_declaration_wrong_subject": ("申告された事項が設定で求める者に係るものではないため受付不可。",
                                    "The declared items concern the wrong person for the "
                                    "configured policy: cannot be accepted."),
    "b_declaration_none": ("記載事項の申告がないため受付不可。",
                           "No declaration of the record items was made: cannot be accepted."),
    "b_declaration_refused": ("記載事項の申告を拒否されたため受付不可。",
                              "The declaration of the record items was refused: cannot be "
                              "accepted."),
    "b_counterfeit_suspected": ("カードの半導体集積回路の署名を検証できず、偽造カードの疑いがあるため"
                                "受付不可。",
                                "The chip's signatures did not verify: suspected counterfeit "
                                "card, cannot be accepted."),
    "b_declaration_mismatch": ("申告された事項が記録と一致しないため受付不可。",
                               "The declared items do not match the record: cannot be accepted."),
    # proxies
    "birth_registration_case": ("特定年齢未満の申請者で出生の届出と併せた申請のため、第2-1-(1)-ア-(イ)-A-(F)"
                                "の書類により確認した（代理人の本人性確認は不要）。",
                                "Under-age applicant filed with the birth registration: checked "
                                "with the (F) document; no proxy identity check needed."),
    "birth_registration_document_missing": ("出生の届出と併せた申請に必要な書類（第2-1-(1)-ア-(イ)-A-(F)）"
                                            "がないため受付不可。",
                                            "The (F) document for a birth-registration case is "
                                            "missing: cannot be accepted."),
    "legal_rep_by_agency_list": ("代理行為目録等により代理権を有すると認められる{kind}を法定代理人として"
                                 "扱う。",
                                 "The {kind} has agency power shown in the registry lists and "
                                 "counts as a legal representative."),
    "legal_rep_kind_not_included": ("{kind}は法定代理人として扱われないため、任意代理人として確認する。",
                                    "The {kind} does not count as a legal representative here; "
                                    "checked as an ordinary proxy."),
    "poa_missing": ("委任状がないため受付不可。", "No power of attorney: cannot be accepted."),
    "poa_unsigned": ("委任状に申請者／利用者本人の署名又は記名押印がないため受付不可。",
                     "The power of attorney is not signed or name-sealed by the applicant: "
                     "cannot be accepted."),
    "poa_ok": ("申請者／利用者本人の署名又は記名押印がある委任状を確認した。",
               "Signed power of attorney checked."),
    "legal_rep_proof_ok": ("戸籍謄本等（{proofs}）により法定代理人であることを確認した。",
                           "Legal representation shown by 戸籍謄本等 ({proofs})."),
    "legal_rep_proof_ok_current": ("戸籍謄本その他の法定代理人であることを示す書類（{proofs}）により"
                                   "確認した。",
                                   "Legal representation shown by a family-register copy or other "
                                   "proof ({proofs})."),
    "legal_rep_proof_omitted": ("本籍地が管内で市町村が法定代理人であることを確認でき、市町村長の"
                                "判断により戸籍謄本等を省略した。",
                                "Proof omitted: domicile in jurisdiction, confirmed by the "
                                "municipality, mayor's decision."),
    "legal_rep_proof_missing": ("法定代理人であることを示す書類（戸籍謄本等）がないため受付不可。",
                                "No proof of legal representation: cannot be accepted."),
    "omission_not_used_here": ("この団体では戸籍謄本等の省略を行わない設定のため受付不可。",
                               "This office does not omit the proof (policy): cannot be "
                               "accepted."),
    "omission_conditions": ("戸籍謄本等の省略の要件（本籍地が管内、市町村による確認、市町村長の判断）を"
                            "満たさないため受付不可。",
                            "The conditions for omitting the proof are not met: cannot be "
                            "accepted."),
    "proxy_reply_form_needed": ("回答書が必要なため、申請者／利用者に照会書を送付する。",
                                "A reply form is needed: send the inquiry letter to the "
                                "applicant."),
    "proxy_reply_form_ok": ("照会書に対する回答書を確認した。", "The reply form was checked."),
    "reply_form_not_required": ("回答書は不要（法定代理人: {legal}）。",
                                "No reply form needed (legal representative: {legal})."),
    "pin_not_concealed_reply": ("回答書の暗証番号に隠蔽シールの貼付又は封入・封緘がされていないため"
                                "受付不可。",
                                "The PIN on the reply form is not concealed: cannot be accepted."),
    "pin_document_missing": ("暗証番号を記載した書類の提出がないため受付不可。",
                             "The PIN document was not handed in: cannot be accepted."),
    "pin_not_concealed_document": ("暗証番号を記載した書類に隠蔽シールの貼付又は封入・封緘がされて"
                                   "いないため受付不可。",
                                   "The PIN document is not concealed: cannot be accepted."),
    "pin_document_ok": ("暗証番号を記載した書類を確認した。", "The PIN document was checked."),
    "proxy_card_expired": ("代理人の個人番号カードの有効期間（{expiry}）が過ぎているため受付不可。",
                           "The proxy's My Number Card expired on {expiry}: cannot be accepted."),
    "proxy_id_missing": ("代理人の本人確認書類がないため受付不可。",
                         "No identity evidence for the proxy: cannot be accepted."),
    "proxy_id_mismatch": ("代理人と委任状又は戸籍謄本等に記載された人物の同一性が確認できないため"
                          "受付不可。",
                          "The proxy does not match the person named in the power of attorney "
                          "or proof: cannot be accepted."),
    "proxy_identified": ("代理人が当該代理人本人であることを確認した。",
                         "The proxy's identity was confirmed."),
    "e_record_not_accepted": ("この手続・規則では代理人の電磁的記録の送信による本人確認は"
                              "認められないため受付不可。",
                              "A transmitted electronic record is not accepted as the proxy's "
                              "identity here: cannot be accepted."),
    "e_record_source": ("電磁的記録の送信元: {source}。", "Electronic record source: {source}."),
    "e_record_fields": ("送信された電磁的記録に氏名、住所又は生年月日及び写真がそろっていない"
                        "（{fields}）ため受付不可。",
                        "The transmitted record lacks name, address or date of birth, and photo "
                        "({fields}): cannot be accepted."),
    "e_record_not_certified_program": ("番号利用法第18条の3第1項の認定プログラムと同等の機能を有する"
                                       "ものによる送信ではないため受付不可。",
                                       "Not sent with a program equivalent to a certified one "
                                       "(Art. 18-3(1)): cannot be accepted."),
    "e_record_sender_not_verified": ("番号利用法第18条の4第1項のプログラムと同等の機能による送信者の"
                                     "確認が行われていないため受付不可。",
                                     "The sender binding was not verified (Art. 18-4(1) "
                                     "equivalent): cannot be accepted."),
    "e_record_ok": ("送信された電磁的記録の要件を確認した。",
                    "The transmitted electronic record meets the conditions."),
    # record keeping, 第4
    "record_issuance_status": ("交付状況を記録する（機構への手数料の支払い等）。",
                               "Record the issuance status (e.g. fees paid to J-LIS)."),
    "record_issuance_register": ("交付記録簿に記録する。", "Record in the issuance register."),
    "abandoned": ("手続を中止した（{reason}）。", "The procedure was stopped ({reason})."),
    "lost_card_not_found": ("紛失カードの発見が確認できないため受付不可。",
                            "The lost card has not been found: cannot be accepted."),
    "lost_card_not_explained": ("一時保留の電子証明書を失効させる必要がある旨の説明がされていないため"
                                "受付不可。",
                                "The need to revoke the held certificates was not explained: "
                                "cannot be accepted."),
    "lost_card_no_revocation_application": ("失効申請がないため一時保留の電子証明書を失効できず受付不可。",
                                            "No revocation application: cannot be accepted."),
    "lost_card_revocation_basis": ("発見されたカードの一時保留の電子証明書を失効申請に基づき失効させる。",
                                   "The held certificates are revoked on the revocation "
                                   "application."),
    "lost_card_revoke": ("一時保留の電子証明書（シリアル {serials}）を失効させる。",
                         "Revoke the held certificates (serials {serials})."),
    "lost_card_revoke_card": ("発見されたカードに格納された一時保留の電子証明書（署名用・利用者証明用）を"
                              "失効させる。",
                              "Revoke the held certificates on the found card (signature and "
                              "user authentication)."),
    "lost_card_status_in_operation": ("個人番号カード運用状況を運用中とする（個人番号カードの交付等に"
                                      "関する事務処理要領第7-6）。",
                                      "Set the card's operation status back to 運用中 (card "
                                      "guidelines 第7-6)."),
    "lost_card_new_issuance": ("新規発行の申請を求め、電子証明書を発行する。",
                               "Take a new issuance application and issue new certificates."),
    "retention_required": ("{document}は保存対象文書である。", "{document} must be retained."),
    "retention_not_required": ("{document}は保存対象文書ではない（交付記録簿は削除）。",
                               "{document} is not a retained document (the register was "
                               "deleted)."),
    "retention_unknown_document": ("{document}は保存対象文書として定められていない。",
                                   "{document} is not in the retention schedule."),
    # 第3-3-(2)-イ form items
    "form_phone_ok": ("代理人の電話番号は上述{ref}開示請求者の電話番号に準じて適正。",
                      "The proxy's phone follows item {ref}."),
    "form_phone_invalid": ("代理人の電話番号が上述{ref}の要件を満たさないため受付不可。",
                           "The proxy's phone does not meet item {ref}: cannot be accepted."),
    "form_email_ok": ("代理人のメールアドレスは上述{ref}に準じて適正。",
                      "The proxy's e-mail follows item {ref}."),
    "form_email_invalid": ("代理人のメールアドレスが上述{ref}の要件を満たさないため受付不可。",
                           "The proxy's e-mail does not meet item {ref}: cannot be accepted."),
    "form_email_phone_rule": ("現行では代理人のメールアドレスは上述{ref}開示請求者の電話番号に準ずる"
                              "とされ、電話番号の形式でないため受付不可。",
                              "Under the current text the proxy's e-mail follows the phone item "
                              "{ref} and fails it: cannot be accepted."),
}

#: Procedure titles: id → (ja, en).
PROCEDURE_TITLES: dict[str, tuple[str, str]] = {
    "2-1-1": ("電子証明書の新規発行／更新（本人）", "Certificate issuance/renewal (in person)"),
    "2-1-2": ("電子証明書の新規発行／更新（代理人）", "Certificate issuance/renewal (by proxy)"),
    "2-2-1": ("電子証明書の失効（本人）", "Certificate revocation (in person)"),
    "2-2-2": ("電子証明書の失効（代理人）", "Certificate revocation (by proxy)"),
    "2-3-1": ("認証業務情報の開示請求の受付（本人）", "Disclosure request (in person)"),
    "2-3-2": ("認証業務情報の開示請求の受付（代理人）", "Disclosure request (by proxy)"),
    "3-1-1": ("国外転出者の電子証明書の新規発行／更新（本人）",
              "Issuance/renewal for a person abroad (in person)"),
    "3-1-2": ("国外転出者の電子証明書の新規発行／更新（代理人）",
              "Issuance/renewal for a person abroad (by proxy)"),
    "3-2-1": ("国外転出者の電子証明書の失効（本人）", "Revocation for a person abroad (in person)"),
    "3-2-2": ("国外転出者の電子証明書の失効（代理人）", "Revocation for a person abroad (by proxy)"),
    "3-3-1": ("国外転出者の開示請求の受付（本人）", "Disclosure for a person abroad (in person)"),
    "3-3-2": ("国外転出者の開示請求の受付（代理人）", "Disclosure for a person abroad (by proxy)"),
    "4-3": ("電子証明書の一時的保留解除等（紛失カードの発見）",
            "Temporary hold lifted (lost card found): held certificates revoked"),
    "4-4": ("申請書等の保存", "Retention of applications and other documents"),
}

#: Checklist steps: the part of a step key after the person prefix → (ja, en).
STEPS: dict[str, tuple[str, str]] = {
    "application.received": ("申請書等を受理したか", "Was the application form received?"),
    "application.at_fuhyo_municipality": ("附票管理市区町村での申請か",
                                          "Is this the municipality keeping the 戸籍の附票?"),
    "kind": ("{who}の本人確認書類の種類", "Kind of the {who}'s identity evidence"),
    "contents_match": ("{who}の本人確認書類の記載内容・写真が申請書等と一致するか",
                       "Do the {who}'s document contents and photo match?"),
    "card.expiry": ("{who}のカードの有効期間満了日", "Expiry date of the {who}'s card"),
    "card.photo_confirmed": ("有効期間満了後のカード: 写真と本人の同一性を確認できたか",
                             "Expired card: was identity confirmed by the photo etc.?"),
    "card.operation_status": ("{who}のカードの運用状況（統合端末）",
                              "Operation status of the {who}'s card"),
    "card.face_auth": ("{who}のカードは顔認証カードか", "Is the {who}'s card a face-auth card?"),
    "card.operator_authenticated": ("統合端末の操作者の認証を行ったか",
                                    "Was the terminal operator authenticated?"),
    "card.pin_result": ("{who}が入力した暗証番号の照合結果（暗証番号そのものは記録しない）",
                        "Result of the {who}'s PIN verification (never the PIN)"),
    "card.issued_on": ("{who}の住基カードの交付日", "Issue date of the {who}'s 住基カード"),
    "card.basic4": ("{who}の住基カードに基本4情報が記載されているか",
                    "Does the {who}'s 住基カード show the four basic items?"),
    "mayor_deems_appropriate": ("{who}の書類は市区町村長が適当と認めるものか",
                                "Is the {who}'s document one the mayor deems appropriate?"),
    "card.chip_face_match": ("券面事項確認情報と券面記載事項が一致するか",
                             "Does the chip's card-face data match the card face?"),
    "card.declaration.items": ("申告を受けた事項（住民票／戸籍の附票の記載事項等）",
                               "Which items were declared?"),
    "card.declaration.subject": ("申告された事項は誰に係るものか", "Whose items were declared?"),
    "e_record.source": ("送信された電磁的記録の種類", "Source of the transmitted record"),
    "application.with_birth_registration": ("出生の届出と併せた申請か",
                                            "Filed together with the birth registration?"),
    "application.under_specified_age": ("申請者は特定年齢未満か",
                                        "Is the applicant under the specified age?"),
    "application.content_doubt": ("氏名・国外転出（予定）日・生年月日・男女の別等に疑義があるか",
                                  "Any doubt about name, emigration date, birth date, sex etc.?"),
    "proxy.legal_rep_proof": ("法定代理人であることを示す書類（戸籍謄本等）",
                              "Proof of legal representation (戸籍謄本等)"),
    "proxy.with_move_notice": ("転入届又は転居届と併せた申請か",
                               "Filed together with a move-in / address-change notice?"),
    "proxy.same_household": ("代理人は申請者／利用者と同一世帯人か",
                             "Is the proxy in the applicant's household?"),
    "proxy.legal_rep_kind": ("法定代理人の種別（保佐人・補助人・任意後見人を含む）",
                             "Kind of legal representative"),
    "proxy.power_of_attorney.present": ("委任状の提出があるか",
                                        "Was a power of attorney handed in?"),
    "proxy.power_of_attorney.signed_or_sealed": ("委任状に申請者／利用者本人の署名又は記名押印があるか",
                                                 "Is it signed or name-sealed by the applicant?"),
    "proxy.agency_list_shows_power": ("登記事項証明書の代理行為目録等により代理権が認められるか",
                                      "Does the registry certificate's agency list show the power?"),
    "proxy.reply_form.present": ("回答書の有無（照会書に対する回答書を持参したか）",
                                 "Did the proxy bring the reply form to the inquiry letter?"),
    "proxy.reply_form.pin_concealment": ("回答書の暗証番号の隠蔽",
                                         "How is the PIN on the reply form concealed?"),
    "proxy.pin_document.present": ("暗証番号を記載した書類の提出があるか",
                                   "Was the document with the PIN handed in?"),
    "proxy.pin_document.concealed": ("その書類の暗証番号は目隠しシール又は封入封かんで隠蔽されているか",
                                     "Is its PIN concealed (sticker or sealed envelope)?"),
    "proxy.proof_omission.honseki_in_jurisdiction": ("本人の本籍地が管内か",
                                                     "Is the registered domicile in this municipality?"),
    "proxy.proof_omission.municipality_confirmed": ("市町村で法定代理人であることを確認できるか",
                                                    "Can the municipality confirm the legal "
                                                    "representation?"),
    "proxy.proof_omission.mayor_decided": ("市町村長の判断により戸籍謄本等を省略するか",
                                           "Did the mayor decide to omit the proof?"),
    "inquiry_request.identity_checked": ("照会書の送付依頼の際に可能な限り本人確認を行ったか",
                                         "Was identity checked as far as possible at the request?"),
    "inquiry_request.requester_exists": ("送付依頼の際に存在確認を行ったか",
                                         "Was the requester's existence checked?"),
    "inquiry_request.form_presented": ("送付依頼の際に申請書等の提示を受けたか",
                                       "Was the application form presented at the request?"),
    "app_screen.listed_documents_difficult": ("本人確認書類の提示が困難か",
                                              "Is presenting the listed documents difficult?"),
    "app_screen.screen_operation": ("アプリの映像面について本人に画面の操作を求めたか",
                                    "Was the person asked to operate the app screen?"),
    "e_record.fields": ("送信された電磁的記録に含まれる項目",
                        "Items in the transmitted record"),
    "e_record.certified_program": ("認定プログラムと同等の機能を有するものにより送信されたか",
                                   "Sent with a program equivalent to a certified one?"),
    "e_record.sender_verified": ("送信者の確認（番号利用法第18条の4第1項相当）を行ったか",
                                 "Was the sender verified (Art. 18-4(1) equivalent)?"),
    "inquiry_request.in_person": ("照会書の送付依頼は来庁して行われたか",
                                  "Was the inquiry requested at the office?"),
    "lost_card.found": ("紛失カードが発見されたか", "Has the lost card been found?"),
    "lost_card.explained": ("一時保留の電子証明書の失効が必要な旨を説明したか",
                            "Was the need to revoke the held certificates explained?"),
    "lost_card.revocation_application": ("失効申請を受けたか",
                                         "Was a revocation application received?"),
    "lost_card.new_issuance": ("続けて電子証明書の新規発行の申請を受けるか",
                               "Will a new issuance be applied for next?"),
    "retention.document": ("保存の要否を確認する文書", "The document to check for retention"),
}

#: The amendment table (domain-spec §3): number → (ja, en) summary of what changed.
AMENDMENTS: dict[int, tuple[str, str]] = {
    1: ("「カード代替電磁的記録」を定義（新設）。代理人の本人確認に用いる。", "New term: the card-substitute electronic record, used for proxy ID."),
    2: ("定義(32)～(44)を(33)～(45)に繰下げ。", "Definitions (32)–(44) renumbered (33)–(45)."),
    3: ("個人番号カードは有効期間満了後6月以内も、写真等で本人確認できれば本人確認書類として可。", "An expired My Number Card is accepted for 6 months if identity is confirmed by the photo."),
    4: ("顔認証カード・暗証番号照合失敗時は、券面一致に加え住民票記載事項等の申告が必要。", "Face-auth card or failed PIN: chip match plus a declaration of resident-record items."),
    5: ("交付記録簿に代え、交付状況（手数料の機構への支払い等）を適宜記録。", "Issuance status recorded as appropriate (e.g. fees paid to J-LIS) instead of the register."),
    6: ("交付記録簿の記載事項を削除。", "Contents of the issuance register deleted."),
    7: ("交付記録簿の様式例を削除。", "Sample register form deleted."),
    8: ("法定代理人に代理行為目録等で代理権のある保佐人・補助人・任意後見人を含む。", "Legal representatives include 保佐人/補助人/任意後見人 with agency shown in the registry lists."),
    9: ("法定代理人の証明書類を「戸籍謄本等」（代理行為目録等を含む）とする。", "Proof of legal representation named 戸籍謄本等, including the agency lists."),
    10: ("本籍地が管内で市町村が確認できる場合、市町村長の判断で戸籍謄本等を省略可。", "Proof may be omitted at the mayor's discretion when the domicile is in jurisdiction."),
    11: ("法定代理人は常に回答書不要。同一世帯人は転入届等と併せた場合のみ不要。", "Legal representatives never need a reply form; same-household proxies only with a move-in notice."),
    12: ("暗証番号の隠蔽は法定代理人以外の代理人に対して行う。", "The PIN is concealed only from proxies other than legal representatives."),
    13: ("代理人の本人確認に電磁的記録の送信を認める。", "Proxy ID may be a transmitted electronic record."),
    14: ("電磁的記録は認定プログラム同等による送信と送信者の確認が条件。", "E-records need a certified-equivalent program and a verified sender."),
    15: ("代理人のカードの暗証番号照合失敗時も申告が必要。", "The declaration applies to the proxy's card fallback too."),
    16: ("代理人の交付記録簿を削除。", "Proxy register deleted."),
    17: ("失効（本人）でも申告が必要。", "The declaration applies to revocation."),
    18: ("失効届出書（代理人）の項目(ト)を(テ)に繰上げ。", "Revocation form item (ト) renumbered (テ)."),
    19: ("開示請求の照会書の送付依頼に来庁を要しない。", "No office visit needed to request the disclosure inquiry letter."),
    20: ("開示請求（代理人）でも戸籍謄本等の省略可。", "Proof omission also for disclosure by proxy."),
    21: ("国外転出者にも6月の猶予を適用。", "The 6-month grace also for people abroad."),
    22: ("国外転出者の申告は戸籍の附票の記載事項。", "People abroad declare 戸籍の附票 items."),
    23: ("国外転出者の交付状況の記録。", "Issuance status record for people abroad."),
    24: ("国外転出者の交付記録簿を削除。", "Register deleted for people abroad."),
    25: ("国外転出者の代理人にも戸籍謄本等の省略可。", "Proof omission for overseas proxies."),
    26: ("国外転出者の照会書の送付依頼に来庁を要しない。", "No office visit for the overseas inquiry request."),
    27: ("国外転出者の代理人にも電磁的記録の送信を認める。", "Transmitted e-records for overseas proxies."),
    28: ("国外転出者の代理人のカードの申告は戸籍の附票の記載事項。", "Overseas proxy fallback declares 戸籍の附票 items."),
    29: ("国外転出者（代理人）の交付記録簿を削除。", "Overseas proxy register deleted."),
    30: ("国外転出者の失効でも戸籍の附票の記載事項の申告が必要。", "Overseas revocation fallback declares 戸籍の附票 items."),
    31: ("国外転出者の失効届出書（代理人）の項目(ソ)～(チ)を(テ)～(ナ)に繰上げ。", "Overseas revocation form items (ソ)–(チ) renumbered (テ)–(ナ)."),
    32: ("表示上の変更なし（略）。", "No visible change (omitted text)."),
    33: ("国外転出者の開示請求（代理人）でも戸籍謄本等の省略可。", "Proof omission for overseas disclosure by proxy."),
    34: ("代理人の電話番号は上述(コ)に準ずる（参照の修正）。", "Proxy phone follows item (コ) (reference fixed)."),
    35: ("代理人のメールアドレスは上述(シ)メールアドレスに準ずる（参照の修正）。", "Proxy e-mail follows the e-mail item (シ), not the phone rule."),
    36: ("紛失カード発見時、一時保留の証明書を失効させ、カードの運用状況を運用中とする。", "Found card: revoke held certificates and set the card back to 運用中."),
    37: ("保存対象文書から交付記録簿を削除。", "Issuance register removed from the retention schedule."),
}

_WHO = {"applicant_id": ("申請者／利用者", "applicant"), "proxy.id": ("代理人", "proxy")}

#: Decisions as shown to the clerk.
DECISIONS: dict[str, tuple[str, str]] = {
    "continue": ("手続を継続", "Continue"),
    "reject": ("受付不可", "Cannot be accepted"),
    "inquiry": ("照会書送付（回答書待ち）", "Inquiry route (await the reply form)"),
    "pending": ("確認中", "In progress"),
    "abandoned": ("中止", "Stopped"),
}


#: Labels of the values a step can take (enum values of device.procedures.facts): value → (ja, en).
VALUES: dict[str, tuple[str, str]] = {
    # actors
    "self": ("本人", "the person themself"),
    "proxy": ("代理人", "proxy"),
    "legal_representative": ("法定代理人", "legal representative"),
    # evidence kinds
    "none": ("なし", "none"),
    "my_number_card": ("個人番号カード", "My Number Card"),
    "juki_card": ("住基カード", "Basic Resident Register card"),
    "passport": ("旅券", "passport"),
    "other_document": ("その他市区町村長が適当と認める書類", "other document the mayor deems appropriate"),
    "reply_form": ("照会書に対する回答書", "reply form to the inquiry letter"),
    "app_screen": ("アプリの映像面", "app screen"),
    "birth_registration_document": ("出生の届出に係る書類（第2-1-(1)-ア-(イ)-A-(F)）", "birth-registration document ((F))"),
    "e_record": ("電磁的記録（送信）", "transmitted electronic record"),
    "card_substitute_record": ("カード代替電磁的記録", "card-substitute record"),
    # channels
    "presented": ("提示", "presented"),
    "submitted": ("提出", "submitted"),
    "transmitted": ("送信", "transmitted"),
    # PIN results
    "verified": ("照合成功", "verified"),
    "failed": ("照合失敗", "failed"),
    "blocked": ("照合失敗（閉塞）", "failed (blocked)"),
    # operation status
    "in_operation": ("運用中", "in operation"),
    "suspended": ("一時停止", "suspended"),
    "abolished": ("廃止", "abolished"),
    "unknown": ("確認できない", "unknown"),
    # declarations
    "resident_record": ("住民票の記載事項", "resident-record items"),
    "koseki_fuhyo": ("戸籍の附票の記載事項", "戸籍の附票 items"),
    "mayor_approved": ("市町村長が適当と認める事項", "items the mayor approves"),
    "applicant": ("申請者／利用者", "the applicant"),
    # e-record fields
    "name": ("氏名", "name"),
    "address": ("住所", "address"),
    "dob": ("生年月日", "date of birth"),
    "photo": ("本人の写真", "photo"),
    # legal representatives and their proof
    "statutory": ("法定代理人（親権者・成年後見人等）", "statutory (parent, guardian)"),
    "curator": ("保佐人", "curator (保佐人)"),
    "assistant": ("補助人", "assistant (補助人)"),
    "voluntary_guardian": ("任意後見人", "voluntary guardian (任意後見人)"),
    "family_register_copy": ("戸籍謄本", "family-register copy"),
    "agency_list": ("代理行為目録等（登記事項証明書）", "agency lists of the registry certificate"),
    "other_proof": ("その他の法定代理人であることを示す書類", "other proof of legal representation"),
    # PIN concealment
    "sticker": ("目隠しシール", "concealment sticker"),
    "sealed": ("封入封かん", "sealed envelope"),
    # declarations not made
    "refused": ("申告拒否", "declaration refused"),
    # fees
    "paid": ("納付", "paid"),
    "exempt": ("免除", "exempt"),
    # documents
    "issuance_register": ("交付記録簿", "issuance register"),
    # certificates
    "sign": ("署名用電子証明書", "signature certificate"),
    "auth": ("利用者証明用電子証明書", "user-authentication certificate"),
}
# 第4-4-(1)'s documents by their item: the source shows only コ (交付記録簿) by name.
VALUES.update({
    d.document: (
        d.citation + d.title_ja.removeprefix(d.item) if d.title_ja.startswith(d.item)
        else f"{d.citation} {d.title_ja}",  # 「第4-4-(1)-ア（略）」, 「第4-4-(1)-コ 交付記録簿」
        f"{d.citation} {d.title_en}",
    )
    for d in _retention.SCHEDULE[_RuleVersion.CURRENT]
})

#: Headings and labels around the engine's output.
LABELS: dict[str, tuple[str, str]] = {
    "decision": ("判定", "decision"),
    "rule_version": ("適用規則", "rule version"),
    "amendments": ("改正点", "Amendments"),
    "actors": ("手続者", "actors"),
    "outside_guidelines": ("要領外: 公的個人認証サービス事務処理要領にない手続。各規則は J-LIS・市区町村の"
                           "公開情報による（出典を併記）。",
                           "Outside the guidelines: each rule follows a page J-LIS or a "
                           "municipality publishes (sources listed)."),
    "source": ("出典", "source"),
}


# 暗証番号の初期化・再設定 lies outside the guidelines; its words live beside its rules.
MESSAGES.update(_pin_reset_texts.MESSAGES)
STEPS.update(_pin_reset_texts.STEPS)
VALUES.update(_pin_reset_texts.VALUES)
PROCEDURE_TITLES["pin-reset"] = _pin_reset_texts.TITLE


def value_label(value: str, language: str = "ja") -> str:
    """How a step value (``"my_number_card"``, ``"verified"`` …) reads for the clerk."""
    pair = VALUES.get(value)
    return _pick(pair, language) if pair else value


#: Why a procedure was stopped (``device.records.AbandonmentReason``): value → (ja, en).
ABANDONMENT_REASONS: dict[str, tuple[str, str]] = {
    "withdrawn": ("申請取下げ", "application withdrawn"),
    "documents": ("書類不備", "documents incomplete"),
    "card": ("カード不備", "card unusable"),
    "timed_out": ("時間切れ", "timed out"),
    "operator_error": ("操作誤り", "operator error"),
    "other": ("その他", "other"),
}


def abandonment_label(reason: str, language: str = "ja") -> str:
    """How an abandonment reason (``"withdrawn"`` …) reads for the clerk."""
    return _pick(ABANDONMENT_REASONS[reason], language)


def label(key: str, language: str = "ja") -> str:
    """A heading or label."""
    return _pick(LABELS[key], language)


def _pick(pair: tuple[str, str], language: str) -> str:
    return pair[1] if language == "en" else pair[0]


def _render(value: Any, language: str) -> str:
    """A parameter as the clerk reads it: value labels for enum values, はい／いいえ for bools."""
    if isinstance(value, bool):
        return _pick(("はい", "yes") if value else ("いいえ", "no"), language)
    if isinstance(value, str) and value:
        joiner = "、" if language != "en" else ", "
        return joiner.join(value_label(part, language) for part in value.split(","))
    return str(value)


def message(key: str, language: str = "ja", **params: Any) -> str:
    """The finding message ``key`` in ``language``, with ``params`` filled in and labelled."""
    rendered = {name: _render(value, language) for name, value in params.items()}
    return _pick(MESSAGES[key], language).format(**rendered)


def procedure_title(pid: str, language: str = "ja") -> str:
    """A procedure's title."""
    return _pick(PROCEDURE_TITLES[pid], language)


def decision_label(decision: str, language: str = "ja") -> str:
    """How a decision value (``continue``, ``reject``, ...) reads for the clerk."""
    return _pick(DECISIONS[decision], language)


def amendment_summary(number: int, language: str = "ja") -> str:
    """The summary of amendment ``number`` of the amendment table."""
    return _pick(AMENDMENTS[number], language)


#: What a step expects when the clerk's answer has the wrong form: problem → (ja, en).
VALUE_PROBLEMS: dict[str, tuple[str, str]] = {
    "enum": ("次のいずれかを選んでください: {choices}", "choose one of: {choices}"),
    "list": ("当てはまるものを選んでください: {choices}", "tick what applies: {choices}"),
    "date": ("日付として読めません。2034-04-01、2034/4/1、2034年4月1日、令和16年4月1日の形で"
             "入力してください。",
             "not a date: type it as 2034-04-01, 2034/4/1 or 2034年4月1日."),
    "bool": ("はい又はいいえで答えてください。", "answer yes or no."),
    "other": ("この形の回答は記録できません。", "this answer cannot be recorded in this form."),
}


def field_name(step_key: str, language: str = "ja") -> str:
    """The question a fact belongs to, as the checklist asks it (never a raw key).

    A key below a question (``proxy.reply_form.pin_concealment.x``) names the
    nearest question above it; a key no question asks names 「この項目」.
    """
    parts = step_key.split(".")
    while parts:
        key = ".".join(parts)
        try:
            return step_text(key, language)
        except KeyError:
            parts.pop()
    return _pick(("この項目", "this item"), language)


def value_problem(question: str, problem: str, choices: tuple[str, ...],
                  language: str = "ja") -> str:
    """「question」: what it expects — the message for an answer of the wrong form."""
    known = problem in VALUE_PROBLEMS and (choices or problem not in ("enum", "list"))
    template = VALUE_PROBLEMS[problem if known else "other"]
    joiner = "／" if language != "en" else " / "
    expected = _pick(template, language).format(choices=joiner.join(choices))
    if language == "en":
        return f"\u201c{question}\u201d: {expected}"
    return f"「{question}」: {expected}"


def step_text(step_key: str, language: str = "ja") -> str:
    """The clerk's question for the checklist step ``step_key``."""
    for prefix, who in _WHO.items():
        if step_key.startswith(prefix + "."):
            rest = step_key[len(prefix) + 1 :]
            return _pick(STEPS[rest], language).format(who=_pick(who, language))
    return _pick(STEPS[step_key], language)
