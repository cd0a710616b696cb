"""Every string the console shows, Japanese first, English on the switch.

Codes that the records and the database hold (``sign``, ``continue``, ``withdrawn``,
``2-1-1``) are never shown raw on a Japanese page: they go through the labels here,
which reuse the counter's own catalogue (``device.procedures.texts``) so the clerk
and the office read the same words.
"""

from __future__ import annotations

from device.procedures import PROCEDURES, texts
from device.records import AbandonmentReason, Decision
from sync.server.authz import Role

LANGUAGES = ("ja", "en")

_TEXT: dict[str, tuple[str, str]] = {
    "app": ("窓口 管理コンソール", "madoguchi office console"),
    "skip": ("本文へ移動", "Skip to content"),
    "nav.month": ("月次交付状況", "Monthly issuance"),
    "nav.day": ("日次交付状況", "Daily issuance"),
    "nav.transactions": ("取引一覧", "Transactions"),
    "nav.audit": ("監査ログ", "Audit log"),
    "nav.staff": ("職員アカウント", "Staff accounts"),
    "sign_out": ("サインアウト", "Sign out"),
    "language": ("English", "日本語"),
    "signed_in_as": ("サインイン中", "Signed in as"),
    "sign_in": ("サインイン", "Sign in"),
    "staff_id": ("職員ID", "Staff ID"),
    "password": ("パスワード", "Password"),
    "code": ("確認コード（6桁）", "Verification code (6 digits)"),
    "code_hint": ("認証アプリに表示される6桁の数字", "The 6 digits your authenticator app shows"),
    "sign_in_failed": (
        "サインインできませんでした。職員ID・パスワード・確認コードを確かめてください。"
        "続けて5回誤るとしばらくサインインできなくなります。",
        "Could not sign in. Check your staff ID, password and code. After 5 failures in a"
        " row, signing in is locked for a while.",
    ),
    "signed_out": ("サインアウトしました。", "You are signed out."),
    "expired": (
        "サインインの有効期限が切れました。もう一度サインインしてください。",
        "Your session has ended. Please sign in again.",
    ),
    "csrf": (
        "この操作は受け付けられませんでした（画面が古いか、別の画面からの送信です）。"
        "画面を開き直してもう一度操作してください。",
        "This request was refused (the page was out of date or the form came from elsewhere)."
        " Open the page again and retry.",
    ),
    "not_found": ("ページが見つかりません。", "Page not found."),
    "unavailable": (
        "データベースに接続できません。しばらくしてからもう一度開いてください。",
        "The database cannot be reached. Please try again shortly.",
    ),
    "internal": (
        "サーバーでエラーが起きました。情報システム担当に連絡してください。",
        "The server failed. Please tell IT.",
    ),
    "forbidden": ("このページを表示する権限がありません。", "You may not see this page."),
    "bad_request": ("入力に誤りがあります。", "The request is not valid."),
    "office": ("庁舎・窓口", "Office"),
    "all_offices": ("担当のすべて", "All of mine"),
    "month": ("対象月", "Month"),
    "date": ("日付", "Date"),
    "show": ("表示", "Show"),
    "csv": ("CSVダウンロード", "Download CSV"),
    "pdf": ("印刷用PDF", "Printable PDF"),
    "type": ("証明書の種類", "Certificate type"),
    "transactions": ("取引件数", "Transactions"),
    "issued": ("発行", "Issued"),
    "renewed": ("更新", "Renewed"),
    "revoked": ("失効", "Revoked"),
    "fee_collected": ("徴収手数料（円）", "Fees collected (yen)"),
    "fee_payable": ("機構への納付額（円）", "Payable to J-LIS (yen)"),
    "total": ("合計", "Total"),
    "month_total": ("月計", "Month total"),
    "no_rows": ("該当するデータはありません。", "Nothing to show."),
    "report_month_title": ("{month} の交付状況", "Issuance in {month}"),
    "report_day_title": ("{date} の交付状況", "Issuance on {date}"),
    "txn_title": ("取引一覧", "Transactions"),
    "from": ("開始日", "From"),
    "to": ("終了日", "To"),
    "counter": ("窓口端末", "Counter"),
    "procedure": ("手続", "Procedure"),
    "decision": ("判定", "Decision"),
    "abandonment": ("中止理由", "Reason stopped"),
    "operator": ("担当者", "Operator"),
    "any": ("指定なし", "Any"),
    "completed_at": ("完了日時", "Completed"),
    "citations": ("根拠", "Citations"),
    "certificates": ("証明書", "Certificates"),
    "fee": ("手数料（円）", "Fee (yen)"),
    "next": ("次の50件", "Next 50"),
    "previous": ("前の50件", "Previous 50"),
    "filter": ("絞り込み", "Filter"),
    "audit_title": ("監査ログ", "Audit log"),
    "nav.fleet": ("窓口端末", "Counters"),
    "nav.enrolment": ("端末の登録", "Enrol a counter"),
    "nav.payments": ("機構への納付", "Payments to J-LIS"),
    "nav.registry": ("運用状況の照会", "Card and certificate status"),
    "nav.clerks": ("窓口担当者", "Counter clerks"),
    "jst": ("日本時間", "JST"),
    "chart_title": (
        "庁舎・窓口ごとの証明書の発行・更新件数（{first}〜{last}、日ごと）",
        "Certificates issued and renewed per office and day ({first} to {last})",
    ),
    "chart_total": ("計 {n} 件", "{n} in all"),
    "registry_change": ("運用状況を変更", "Change the card's status"),
    "registry_new_status": ("新しい運用状況", "New status"),
    "registry_reason": ("理由（200文字以内）", "Reason (up to 200 characters)"),
    "registry_changed": ("運用状況を変更しました。", "The card's status is changed."),
    "registry_bad_reason": (
        "理由は200文字以内で入力してください。",
        "The reason is at most 200 characters.",
    ),
    "registry_cert_change": ("証明書の状態を変更", "Change the certificate's status"),
    "registry_cert_new_status": ("新しい状態", "New status"),
    "registry_cert_reason": (
        "理由（必須・200文字以内）",
        "Reason (required, up to 200 characters)",
    ),
    "registry_cert_confirm": (
        "失効は取り消せないことを確認しました（失効申請に基づく場合のみ）",
        "I understand that revocation is final (only on a revocation application)",
    ),
    "registry_cert_note": (
        "窓口職員が設定できるのは、一時保留（カードの紛失等）と失効（失効申請に基づくもの）です。"
        "一時保留から有効には戻せません（第4-3: 保留中の証明書は失効させます）。",
        "Staff may put a certificate on temporary hold (card lost) or revoke it (on a"
        " revocation application). A held certificate is revoked, not made valid again (4-3).",
    ),
    "registry_cert_changed": (
        "証明書の状態を変更しました。",
        "The certificate's status is changed.",
    ),
    "registry_reason_needed": ("理由を入力してください。", "Give a reason."),
    "registry_confirm_revoke": (
        "失効は取り消せません。確認の欄にチェックを入れてください。",
        "Revocation is final: tick the confirmation.",
    ),
    "registry_cert_refused": (
        "この証明書はその状態に変更できません（失効した証明書は変更できません）。",
        "The certificate cannot take that status (a revoked certificate is final).",
    ),
    "registry_cert_status_not_yours": (
        "窓口職員が設定できる状態は一時保留と失効だけです。",
        "Staff may set only temporary hold and revoked.",
    ),
    "registry_title": ("運用状況・証明書の状態の照会", "Card and certificate status"),
    "registry_what": ("照会するもの", "Look up"),
    "registry_card": ("個人番号カード（カードID）", "My Number card (card ID)"),
    "registry_certificate": ("電子証明書（シリアル番号）", "Certificate (serial number)"),
    "registry_key": ("カードID・シリアル番号", "Card ID or serial number"),
    "registry_lookup": ("照会", "Look up"),
    "registry_unknown": ("登録されていません。", "Not in the registry."),
    "registry_status": ("現在の状態", "Current status"),
    "registry_updated": ("最終更新", "Last changed"),
    "registry_history": ("変更の履歴", "Changes"),
    "registry_before": ("変更前", "Before"),
    "registry_after": ("変更後", "After"),
    "registry_why": ("理由", "Why"),
    "registry_bad_key": (
        "カードIDまたはシリアル番号は64文字以内の半角英数字・記号で入力してください。",
        "A card ID or serial number is 1-64 printable ASCII characters.",
    ),
    "registry_my_number": (
        "12桁の数字は個人番号の可能性があるため照会できません。カードIDで照会してください。",
        "Twelve digits could be an individual number (My Number) and are not looked up."
        " Use the card ID.",
    ),
    "payments_title": ("{month} の機構への納付", "Payments to J-LIS for {month}"),
    "payments_note": (
        "月次交付状況の「機構への納付額」に対して、納付した金額を記録し、未納付額を確認します。"
        "記録はすべて監査ログに残ります。",
        "Record what was paid against the month's fees payable to J-LIS and see what is"
        " outstanding. Every entry is in the audit log.",
    ),
    "payments_payable": ("納付すべき額（円）", "Payable (yen)"),
    "payments_paid": ("納付済み（円）", "Paid (yen)"),
    "payments_outstanding": ("未納付額（円）", "Outstanding (yen)"),
    "payments_list": ("納付の記録", "Payments recorded"),
    "payments_amount": ("金額（円）", "Amount (yen)"),
    "payments_paid_on": ("納付日", "Paid on"),
    "payments_note_field": ("備考（任意）", "Note (optional)"),
    "payments_by": ("記録者", "Entered by"),
    "payments_add": ("納付を記録", "Record the payment"),
    "payments_added": ("納付を記録しました。", "The payment is recorded."),
    "register_csv": ("交付記録簿（CSV・任意）", "Issuance register (CSV, optional)"),
    "payments_corrected": ("訂正を記録しました。", "The correction is recorded."),
    "payments_correct": ("納付の記録を訂正", "Correct a payment"),
    "payments_correct_note": (
        "誤って記録した納付は、元の記録を残したまま訂正の記録を追加します。正しい金額（納付して"
        "いなかった場合は0）と納付日、訂正の理由を入力してください。",
        "A payment entered wrongly is corrected by a new entry; the original stays. Give the"
        " right amount (0 if it was never paid), the date and why.",
    ),
    "payments_which": ("訂正する記録", "Payment to correct"),
    "payments_right_amount": ("正しい金額（円）", "Right amount (yen)"),
    "payments_reason": ("訂正の理由（必須・200文字以内）", "Reason (required, up to 200)"),
    "payments_counts": ("現在の金額（円）", "Counts for (yen)"),
    "payments_entry": ("記録", "Entry"),
    "payments_correction_of": ("#{id} の訂正", "Correction of #{id}"),
    "payments_correction_bad": (
        "正しい金額は0円以上10億円以下の整数で、現在の金額と異なること、納付日は日付、"
        "理由は必須（200文字以内）です。",
        "The right amount is a whole number of yen from 0 to 1,000,000,000 and differs from"
        " what the payment counts for now; the date is a date; a reason (up to 200"
        " characters) is required.",
    ),
    "payments_bad": (
        "金額は1円以上10億円以下の整数、納付日は日付、備考は200文字以内で入力してください。",
        "The amount is a whole number of yen from 1 to 1,000,000,000, the date a date and the"
        " note at most 200 characters.",
    ),
    "enrolment_title": ("窓口端末の登録トークン", "Counter enrolment tokens"),
    "enrolment_note": (
        "新しい窓口端末を登録するための使い捨てトークンを発行します。トークンはこの画面に一度だけ"
        "表示されます。端末の設定担当者に直接渡し、有効期限までに登録してください。",
        "Issue a one-time token to enrol a new counter. The token is shown on this page once:"
        " hand it to whoever sets the counter up, to be used before it expires.",
    ),
    "enrolment_device": (
        "端末名（英数字・「.」「_」「-」）",
        "Counter name (letters, digits, . _ -)",
    ),
    "enrolment_hours": ("有効期間", "Valid for"),
    "enrolment_hours_n": ("{n} 時間", "{n} hours"),
    "enrolment_issue": ("トークンを発行", "Issue a token"),
    "enrolment_issued": (
        "トークンを発行しました（この画面でのみ表示）",
        "Token issued (shown only now)",
    ),
    "enrolment_token": ("登録トークン", "Enrolment token"),
    "enrolment_command": ("端末で実行するコマンド", "Command to run on the counter"),
    "enrolment_expires": ("有効期限（日本時間）", "Expires (JST)"),
    "enrolment_state": ("状態", "State"),
    "enrolment_unused": ("未使用", "Unused"),
    "enrolment_used": ("使用済み", "Used"),
    "enrolment_expired": ("期限切れ", "Expired"),
    "enrolment_bad_device": (
        "端末名は英数字で始まる64文字以内の英数字・「.」「_」「-」で入力してください。",
        "A counter name is up to 64 letters, digits, '.', '_' or '-', starting with a letter"
        " or digit.",
    ),
    "enrolment_enrolled": (
        "この端末名の端末はすでに登録されています。別の名前にするか、先に登録を取り消してください。",
        "A counter of this name is already enrolled. Choose another name or revoke it first.",
    ),
    "fleet_title": ("窓口端末の状況", "Counters"),
    "fleet_note": (
        "サーバーが受け取った記録から見た各端末の状況です。未着・連鎖の切れ目・受付拒否のある端末は"
        "情報システム担当に連絡してください。",
        "Each counter as the records the server received show it. Tell IT about a counter"
        " with missing records, a broken chain or refused records.",
    ),
    "fleet_state": ("状態", "State"),
    "fleet_last": ("最終受信（日本時間）", "Last upload (JST)"),
    "fleet_records": ("受信記録数", "Records received"),
    "fleet_waiting": ("欠番待ちの記録", "Held behind a gap"),
    "fleet_chain": ("記録の連鎖", "Record chain"),
    "fleet_chain_ok": ("正常", "Intact"),
    "fleet_chain_bad": (
        "要確認（未着 {gaps} 件・切れ目 {breaks} 件・受付拒否 {rejected} 件）",
        "Check ({gaps} missing, {breaks} breaks, {rejected} refused)",
    ),
    "fleet_never": ("まだ受信なし", "Nothing yet"),
    "fleet_status.active": ("稼働中", "Active"),
    "fleet_status.revoked": ("失効（登録取消）", "Revoked"),
    "fleet_status.pending": ("登録手続中", "Enrolling"),
    "fleet_status.other": ("不明", "Unknown"),
    "fleet_version": ("稼働版", "Version"),
    "fleet_channel": ("配信チャネル", "Channel"),
    "fleet_contact": ("最終通信（日本時間）", "Last contact (JST)"),
    "fleet_backlog": ("未送信の記録", "Unsent records"),
    "fleet_health": ("更新の状態", "Update health"),
    "fleet_health.ok": ("正常", "OK"),
    "fleet_health.failing": ("更新失敗（元の版に復帰）", "Update failed (rolled back)"),
    "fleet_health.unknown": ("報告なし", "No report"),
    "fleet_unknown": ("—", "—"),
    "fleet_no_contact": ("まだ通信なし", "No contact yet"),
    "fleet_never_heard": ("まだ連絡なし", "Never heard from"),
    "fleet_chart_title": (
        "窓口端末ごとの未送信の記録と、最後に連絡があってからの経過時間",
        "Unsent records and hours since the counter was last heard from",
    ),
    "fleet_chart_backlog": (
        "未送信の記録（目盛り最大 {top} 件）", "Unsent records (axis to {top})",
    ),
    "fleet_chart_contact": (
        "経過時間（目盛り最大 {top} 時間）",
        "Hours since heard from (axis to {top})",
    ),
    "fleet_chart_hours": ("{h} 時間", "{h} h"),
    "fleet_chart_legend": (
        "{stale} 時間以上連絡のない窓口端末は朱色で示します。数値は下の表の最終受信・最終通信・"
        "未送信の記録の列にもあります。",
        "Counters silent for {stale} hours or more are drawn in vermilion; the numbers are"
        " also in the table's last upload, last contact and unsent columns.",
    ),
    "nav.rollouts": ("段階配信", "Staged rollouts"),
    "rollouts_title": ("更新の段階配信", "Staged rollouts of updates"),
    "rollouts_note": (
        "新しい版を一部の窓口・一部の端末から配信します。最初の端末で更新の失敗が"
        "しきい値に達すると自動で停止します。署名は情報システム担当の端末でのみ行い、"
        "ここでは配信先の変更・停止・再開・中止だけを行います。",
        "Offer a new version to some offices or some counters first. It halts by itself when"
        " failures reach the threshold. Signing happens on IT's machine only; here you change"
        " whom it is offered to, halt, resume or abort it.",
    ),
    "rollout_release": ("版", "Version"),
    "rollout_channel": ("チャネル", "Channel"),
    "rollout_platform": ("対象機種", "Platform"),
    "rollout_platform_any": ("すべて", "All"),
    "rollout_targets": ("配信先", "Offered to"),
    "rollout_targets_none": ("まだ配信先なし", "Nobody yet"),
    "rollout_percent": ("端末の {n}%", "{n} % of counters"),
    "rollout_state": ("状態", "State"),
    "rollout_state.active": ("配信中", "Active"),
    "rollout_state.halted": ("停止中", "Halted"),
    "rollout_state.aborted": ("中止", "Aborted"),
    "rollout_state.complete": ("全体へ配信済み", "Complete"),
    "rollout_state.superseded": ("新しい版で置換", "Superseded"),
    "rollout_failures": ("失敗／しきい値", "Failures / threshold"),
    "rollout_why": ("理由", "Reason"),
    "rollout_offices": ("追加する窓口", "Office to add"),
    "rollout_percent_label": ("端末の割合（%）", "Share of counters (%)"),
    "rollout_reason": ("理由（記録に残ります）", "Reason (kept in the audit)"),
    "rollout_start": ("配信を開始", "Start"),
    "rollout_widen": ("配信先を広げる", "Widen"),
    "rollout_halt": ("停止", "Halt"),
    "rollout_resume": ("再開", "Resume"),
    "rollout_abort": ("中止", "Abort"),
    "rollout_done": ("変更しました：{what}", "Changed: {what}"),
    "rollout_refused": ("変更できません：{why}", "Not changed: {why}"),
    "rollout_audit": ("段階配信の記録", "Rollout audit"),
    "rollout_actor.it": ("情報システム担当（配信用トークン）", "IT (publish token)"),
    "rollout_actor.server": ("サーバー（自動停止）", "Server (halted by itself)"),
    "rollout_actor.console": ("コンソール：{name}", "Console: {name}"),
    "rollout_action.rollout-start": ("開始準備", "Prepared"),
    "rollout_action.rollout-widen": ("配信先の変更", "Widened"),
    "rollout_action.rollout-halt": ("停止", "Halted"),
    "rollout_action.rollout-halted": ("自動停止", "Halted by itself"),
    "rollout_action.rollout-resume": ("再開", "Resumed"),
    "rollout_action.rollout-abort": ("中止", "Aborted"),
    "rollout_action.rollout-complete": ("全体へ配信", "Completed"),
    "rollout_action.rollout-superseded": ("新しい版で置換", "Superseded"),
    "rollout_action.other": ("配信の変更", "Delivery change"),
    "rollout_refused.narrower": (
        "配信先を狭めることはできません。止めるには停止か中止を使ってください。",
        "A rollout cannot be narrowed; halt or abort it to stop it.",
    ),
    "rollout_refused.bad-state": (
        "この状態の段階配信にはその操作はできません。", "Not possible in this state."),
    "rollout_refused.bad-percent": ("割合は 0〜100 で入力してください。", "Enter 0 to 100 %."),
    "rollout_refused.bad-office": ("窓口の指定が正しくありません。", "Unknown office."),
    "rollout_refused.other": ("この変更はできません。", "This change is not possible."),
    "rollout_actor.other_staff": ("担当者", "a staff member"),
    "at": ("日時", "When"),
    "actor": ("操作者", "Who"),
    "action": ("操作", "What"),
    "detail": ("内容", "Detail"),
    "staff_title": ("職員アカウント", "Staff accounts"),
    "display_name": ("氏名（表示名）", "Display name"),
    "role": ("役割", "Role"),
    "offices": ("担当庁舎", "Offices"),
    "locked": ("ロック中", "Locked"),
    "unlock": ("ロック解除", "Unlock"),
    "add_staff": ("職員を追加", "Add staff"),
    "initial_password": ("初期パスワード（12文字以上）", "Initial password (12+ characters)"),
    "added": (
        "職員アカウントを作成しました。次の内容は今回だけ表示されます。本人の認証アプリに登録してください。",
        "The account was made. What follows is shown only now: enrol it in the person's"
        " authenticator app.",
    ),
    "totp_secret": ("認証アプリ用の秘密鍵", "Authenticator secret"),
    "unlocked": ("ロックを解除しました。", "The lock was lifted."),
    "staff_exists": ("その職員IDは既に使われています。", "That staff ID is already taken."),
    "password_short": (
        "パスワードは12文字以上の、表示できる文字で入力してください。",
        "The password needs at least 12 printable characters.",
    ),
    "need_office": ("担当庁舎を1つ以上選んでください。", "Choose at least one office."),
    "bad_staff_id": (
        "職員IDは64文字以内の半角英数字と記号で、空白とコロンは使えません。",
        "A staff ID is up to 64 ASCII characters, no space or colon.",
    ),
    "bad_name": ("氏名は64文字以内で入力してください。", "A name is 1-64 characters."),
    "yes": ("はい", "yes"),
    "print_note": ("印刷日時", "Printed"),
}

_ROLES = {
    Role.COUNTER: ("窓口端末", "counter"),
    Role.ISSUING_AUTHORITY: ("発行機関", "issuing authority"),
    Role.STAFF: ("窓口職員", "office staff"),
    Role.ADMINISTRATOR: ("市区町村管理者", "municipality administrator"),
    Role.IT: ("情報システム担当", "IT"),
}

_ACTIONS = {
    "signed_in": ("サインイン", "signed in"),
    "signed_out": ("サインアウト", "signed out"),
    "sign_in_failed": ("サインイン失敗", "sign-in failed"),
    "sign_in_refused": ("サインイン拒否（ロック中）", "sign-in refused (locked)"),
    "locked_out": ("アカウントをロック", "account locked"),
    "unlocked": ("ロック解除", "lock lifted"),
    "staff_added": ("職員アカウント作成", "staff account added"),
    "office_named": ("庁舎名の設定", "office named"),
    "enrolment_token_issued": ("端末登録トークンの発行", "enrolment token issued"),
    "payment_recorded": ("機構への納付の記録", "payment to J-LIS recorded"),
    "card_status_changed": ("運用状況の変更", "card status changed"),
    "certificate_status_changed": ("電子証明書の状態の変更", "certificate status changed"),
    "payment_corrected": ("機構への納付の訂正", "payment to J-LIS corrected"),
    "clerk_added": ("窓口担当者の追加", "counter clerk added"),
    "clerk_password_reset": ("窓口担当者のパスワード再設定", "counter clerk's password reset"),
    "clerk_revoked": ("窓口担当者の失効", "counter clerk revoked"),
}

#: The reasons the audit gives in its detail column (anything else is shown as stored).
_DETAILS = {
    "unknown_account": ("存在しない職員ID", "unknown staff ID"),
    "wrong_password": ("パスワード誤り", "wrong password"),
    "wrong_code": ("確認コード誤り", "wrong code"),
    "locked": ("ロック中", "locked"),
    "too_many_failures": ("連続失敗", "too many failures"),
}

_CERT_KINDS = {"none": ("証明書なし", "no certificate")}
_CERT_ACTIONS = {
    "issued": ("発行", "issued"),
    "renewed": ("更新", "renewed"),
    "revoked": ("失効", "revoked"),
}


def pick(pair: tuple[str, str], lang: str) -> str:
    """The ``lang`` half of a (ja, en) pair."""
    return pair[1] if lang == "en" else pair[0]


def has(key: str) -> bool:
    """Whether ``key`` is a console string."""
    return key in _TEXT


def t(key: str, lang: str, **params: object) -> str:
    """A console string."""
    return pick(_TEXT[key], lang).format(**params)


def role_label(role: Role, lang: str) -> str:
    """A role as the pages name it."""
    return pick(_ROLES.get(role, (role.value, role.value)), lang)


def action_label(action: str, lang: str) -> str:
    """An audit action as the pages name it."""
    return pick(_ACTIONS.get(action, ("その他", action)), lang)


_ACTORS = {
    "anonymous": ("（不明な職員ID）", "(unknown staff ID)"),
    "server-cli": ("サーバーのコマンド", "server command"),
}


#: Registry statuses (運用状況 and certificate status) in both languages.
_REGISTRY_STATUS = {
    "in_operation": ("運用中", "in operation"),
    "suspended": ("一時停止", "suspended"),
    "abolished": ("廃止", "abolished"),
    "valid": ("有効", "valid"),
    "temporary_hold": ("一時保留", "temporarily held"),
    "revoked": ("失効", "revoked"),
}


def registry_status_label(status: str | None, lang: str) -> str:
    """A registry status as the pages name it (empty: none before)."""
    if not status:
        return ""
    return pick(_REGISTRY_STATUS.get(status, ("不明", status)), lang)


def registry_actor_label(actor: str, lang: str) -> str:
    """Who changed a registry entry (``role:name`` as the registry audit names it)."""
    role, _, name = actor.partition(":")
    try:
        label = role_label(Role(role), lang)
    except ValueError:
        return actor
    return f"{label} {name}".strip()


def actor_label(actor: str, lang: str) -> str:
    """Who did it: a staff id, or the server's command line."""
    if actor.startswith("staff:"):
        return actor.removeprefix("staff:")
    return pick(_ACTORS.get(actor, (actor, actor)), lang)


def detail_label(detail: str, lang: str) -> str:
    """An audit detail: a reason code in words, or the stored text (an account id)."""
    pair = _DETAILS.get(detail)
    return pick(pair, lang) if pair else detail


def cert_kind_label(kind: str, lang: str) -> str:
    """署名用電子証明書, 利用者証明用電子証明書 or 証明書なし."""
    if kind in _CERT_KINDS:
        return pick(_CERT_KINDS[kind], lang)
    if kind in ("sign", "auth"):
        return texts.value_label(kind, lang)
    return "その他" if lang == "ja" else kind


def cert_action_label(action: str, lang: str) -> str:
    """発行, 更新 or 失効."""
    return pick(_CERT_ACTIONS.get(action, ("その他", action)), lang)


def procedure_label(pid: str, lang: str) -> str:
    """「第2-1-(1) 新規発行…」: the citation and the counter's own title."""
    info = PROCEDURES.get(pid)
    if info is None:
        return "不明な手続" if lang == "ja" else f"unknown procedure {pid}"
    return f"{info.citation} {info.title(lang)}"


def decision_label(decision: str, lang: str) -> str:
    """受付不可, 手続を継続 …"""
    try:
        return texts.decision_label(decision, lang)
    except KeyError:
        return "不明" if lang == "ja" else decision


def abandonment_label(reason: str, lang: str) -> str:
    """申請取下げ, 書類不備 … (empty for a record that was not stopped)."""
    if not reason:
        return ""
    if reason not in texts.ABANDONMENT_REASONS:
        return "不明" if lang == "ja" else reason
    return texts.abandonment_label(reason, lang)


def procedure_choices(lang: str) -> list[tuple[str, str]]:
    """``(id, label)`` of every procedure, for the filter."""
    return [(pid, procedure_label(pid, lang)) for pid in PROCEDURES]


def decision_choices(lang: str) -> list[tuple[str, str]]:
    """``(value, label)`` of every decision, for the filter."""
    return [(d.value, decision_label(d.value, lang)) for d in Decision]


def abandonment_choices(lang: str) -> list[tuple[str, str]]:
    """``(value, label)`` of every abandonment reason, for the filter."""
    return [(r.value, abandonment_label(r.value, lang)) for r in AbandonmentReason]
