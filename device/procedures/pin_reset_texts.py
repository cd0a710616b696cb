# ruff: noqa: E501  (a table of full-width Japanese text: ruff counts each character as 2)
"""The clerk-facing words of 暗証番号の初期化・再設定 (``device.procedures.pin_reset``), ja/en.

Kept apart from :mod:`device.procedures.texts` (which merges them) because the
procedure lies outside the guidelines: every rule here follows a published page.
"""

from __future__ import annotations

TITLE = ("暗証番号の初期化・再設定", "PIN reset (initialise and set again)")

MESSAGES: dict[str, tuple[str, str]] = {
    "pin_reset_no_pins": ("初期化・再設定する暗証番号が選ばれていないため受付不可。",
                          "No PIN was chosen to reset: cannot be accepted."),
    "pin_reset_pins": ("初期化・再設定する暗証番号: {pins}。", "PINs to reset: {pins}."),
    "pin_reset_no_card": ("暗証番号を初期化するカードの持参がないため受付不可。",
                          "The card whose PINs are reset was not brought: cannot be accepted."),
    "pin_reset_card_brought": ("暗証番号を初期化するカードの持参を確認した。",
                               "The card whose PINs are reset was brought."),
    "pin_reset_photo_mismatch": ("カードの写真と来庁者の同一性が確認できないため受付不可。",
                                 "The card's photo does not show the person at the counter: "
                                 "cannot be accepted."),
    "pin_reset_photo_match": ("カードの写真により来庁者が本人であることを確認した。",
                              "The card's photo showed the person at the counter is the holder."),
    "pin_reset_second_id_missing": ("カード以外の本人確認書類がないため受付不可（この団体の設定）。",
                                    "No identity document besides the card (this office's "
                                    "policy): cannot be accepted."),
    "pin_reset_second_id": ("カード以外の本人確認書類を確認した。",
                            "An identity document besides the card was checked."),
    "pin_reset_send_inquiry": ("照会書兼回答書を本人の住所へ送付する（転送不要郵便）。代理人は回答書を"
                               "持って再度来庁する。",
                               "Post the inquiry-and-reply form to the holder's address; the "
                               "proxy comes back with the reply."),
    "pin_reset_pin_not_concealed": ("回答書の新しい暗証番号が目隠しシール又は封入封かんで隠されて"
                                    "いないため受付不可。",
                                    "The new PIN on the reply form is not concealed: cannot be "
                                    "accepted."),
    "pin_reset_reply_form": ("本人が記入した照会書兼回答書を確認した（暗証番号の隠し方: "
                             "{concealment}）。",
                             "The holder's reply form was checked (PIN concealed by "
                             "{concealment})."),
    "pin_reset_proxy_id_missing": ("代理人の本人確認ができないため受付不可。",
                                   "The proxy could not be identified: cannot be accepted."),
    "pin_reset_proxy_identified": ("代理人の顔写真付き本人確認書類により代理人本人であることを確認"
                                   "した。",
                                   "The proxy was identified by their photo identity document."),
    "pin_reset_holder_id_missing": ("本人（カードの名義人）の本人確認書類がないため受付不可（この"
                                    "団体の設定）。",
                                    "No identity document of the holder (this office's policy): "
                                    "cannot be accepted."),
    "pin_reset_holder_id": ("本人（カードの名義人）の本人確認書類を確認した。",
                            "The holder's identity document was checked."),
    "pin_reset_poa_missing": ("委任状がないため受付不可（この団体の設定）。",
                              "No power of attorney (this office's policy): cannot be "
                              "accepted."),
    "pin_reset_poa": ("本人の委任状を確認した。", "The holder's power of attorney was checked."),
    "pin_reset_not_done": ("カードへの暗証番号の書込みが完了しなかった（完了したもの: {pins}）。",
                           "The new PINs were not all written to the card (written: {pins})."),
    "pin_reset_written": ("模擬カードに新しい暗証番号を書き込んだ: {pins}。",
                          "The new PINs were written to the virtual card: {pins}."),
    "pin_reset_by_jlis": ("統合端末で暗証番号を初期化・再設定したことを確認した: {pins}。",
                          "The J-LIS terminal reset the PINs (confirmed by the clerk): {pins}."),
}

STEPS: dict[str, tuple[str, str]] = {
    "pin_reset.pins": ("初期化・再設定する暗証番号（当てはまるものすべて）",
                       "Which PINs are reset (tick all that apply)"),
    "pin_reset.card_brought": ("暗証番号を初期化するマイナンバーカードを持参しているか",
                               "Was the card whose PINs are reset brought?"),
    "pin_reset.card_photo_match": ("カードの写真と来庁者が同一人物か",
                                   "Does the card's photo show the person at the counter?"),
    "pin_reset.second_id": ("カード以外の本人確認書類（運転免許証、パスポート等）を確認したか",
                            "Was an identity document besides the card checked?"),
    "pin_reset.reply_form.present": ("本人が記入した照会書兼回答書を代理人が持参したか",
                                     "Did the proxy bring the reply form the holder filled in?"),
    "pin_reset.reply_form.pin_concealment": ("回答書の新しい暗証番号の隠し方",
                                             "How the new PIN on the reply form is concealed"),
    "pin_reset.proxy_id": ("代理人の顔写真付き本人確認書類で代理人本人であることを確認したか",
                           "Was the proxy identified by a photo identity document?"),
    "pin_reset.holder_id": ("本人（カードの名義人）の本人確認書類（カード以外）を確認したか",
                            "Was the holder's identity document (besides the card) checked?"),
    "pin_reset.power_of_attorney": ("本人の委任状があるか",
                                    "Is there a power of attorney from the holder?"),
    "pin_reset.card_step.by": ("カードへの暗証番号の書込み（初期化・再設定）",
                               "Writing the new PINs to the card"),
    "pin_reset.card_step.written": ("書き込んだ暗証番号", "PINs written"),
}

VALUES: dict[str, tuple[str, str]] = {
    "jpki_auth": ("利用者証明用電子証明書の暗証番号", "user-authentication PIN"),
    "jpki_sign": ("署名用電子証明書の暗証番号", "signature password"),
    "support": ("券面事項入力補助用暗証番号", "card-input-assist PIN"),
    "juki": ("住民基本台帳用暗証番号", "resident-registry PIN"),
    "written": ("この端末で書込み（模擬カード）", "written by this appliance (virtual card)"),
    "handed_to_jlis": ("統合端末で実施済み", "done on the J-LIS terminal"),
    "not_done": ("未完了", "not done"),
}
