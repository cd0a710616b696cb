"""窓口担当者 (``/clerks``): an office's clerk accounts, which its counters receive at their
next sync (docs/sync.md, "Clerk accounts and sign-ins"), and their recent sign-ins.

Office staff and administrators manage their own offices' clerks, IT any office's (the
matrix's "add, reset and revoke clerk accounts"): add a clerk with an initial password,
reset the password, revoke. Another office, by ``?office=`` or a tampered form, is 404
like an office that does not exist. Every change is in the console's audit
(:class:`sync.server.clerks.ClerkStore`). The passwords typed here go to scrypt and
nowhere else: never back into a page, a log or the audit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from madoguchi.errors import ConfigError
from sync.server.authz import Operation
from sync.server.clerks import ClerkStore
from sync.server.console import i18n
from sync.server.console.shared import (
    JST,
    Console,
    MenuItem,
    Page,
    Refused,
    lang_of,
    office_post,
    offices_for,
    received_label,
    render,
    route,
    signed_in,
)
from sync.server.console.store import Session

#: This page's words, Japanese first (the menu's label is ``nav.clerks`` in i18n).
_TEXT: dict[str, tuple[str, str]] = {
    "title": ("窓口担当者のアカウント", "Counter clerk accounts"),
    "lead": (
        "窓口端末でサインインする担当者のアカウントです。追加・パスワード再設定・失効は、"
        "その庁舎・窓口の端末が次にサーバーと同期したとき（1分以内）に反映されます。"
        "端末はサーバーに接続できない間も、同期済みのアカウントでサインインできます。",
        "The accounts clerks sign in with at the counters. Adding, a password reset and"
        " revoking reach the office's counters at their next sync (within a minute). A"
        " counter signs in its synchronised accounts while it cannot reach the server.",
    ),
    "clerk_id": ("担当者ID", "Clerk ID"),
    "name": ("氏名", "Name"),
    "status": ("状態", "Status"),
    "active": ("有効", "active"),
    "revoked": ("失効", "revoked"),
    "updated": ("最終変更", "Last changed"),
    "actions": ("操作", "Actions"),
    "new_password": ("新しいパスワード（8文字以上）", "New password (8 or more characters)"),
    "initial_password": ("初期パスワード（8文字以上）", "Initial password (8 or more characters)"),
    "reset": ("パスワードを再設定", "Reset the password"),
    "revoke": ("失効させる", "Revoke"),
    "add": ("担当者を追加", "Add a clerk"),
    "none": ("担当者はまだいません。", "No clerks yet."),
    "added": ("担当者を追加しました。", "The clerk is added."),
    "was_reset": ("パスワードを再設定しました。", "The password is reset."),
    "was_revoked": ("担当者を失効させました。", "The clerk is revoked."),
    "bad_input": (
        "入力に誤りがあります。担当者IDは半角英数字と「.」「_」「-」で32文字以内（先頭は英数字）、"
        "氏名は64文字以内、パスワードは8文字以上で入力してください。",
        "Please check the input: a clerk ID is up to 32 letters, digits, '.', '_' or '-'"
        " (starting with a letter or digit), a name up to 64 characters, a password 8 or"
        " more characters.",
    ),
    "taken": (
        "この担当者IDはこの庁舎・窓口で既に使われています（失効したIDも使えません）。",
        "This office already has a clerk with this ID (a revoked ID cannot be reused).",
    ),
    "short_password": (
        "パスワードは8文字以上で入力してください。",
        "A password is 8 or more characters.",
    ),
    "sign_ins": (
        "最近のサインイン（新しい順、100件まで）", "Recent sign-ins (newest first, up to 100)"
    ),
    "when": ("日時（日本時間）", "When (JST)"),
    "counter": ("窓口端末", "Counter"),
    "what": ("内容", "What"),
    "unknown_id": ("（登録のないID）", "(an ID not registered)"),
    "sign_in": ("サインイン", "signed in"),
    "sign_in_refused": ("サインイン拒否", "sign-in refused"),
    "sign_out": ("サインアウト", "signed out"),
    "no_sign_ins": ("サインインの記録はまだありません。", "No sign-ins yet."),
}

#: The reasons a counter gives (``detail``), in words.
_DETAILS: dict[str, tuple[str, str]] = {
    "unknown_id": ("登録のないID", "ID not registered"),
    "locked": ("ロック中", "locked"),
    "locked_now": ("パスワードの連続誤りによりロック", "locked after wrong passwords"),
    "revoked": ("失効したアカウント", "revoked account"),
    "local_account": ("端末だけのアカウント（使用不可）", "a counter-only account (not usable)"),
    "explicit": ("担当者の操作", "by the clerk"),
    "idle": ("無操作のため", "idle"),
}


def _text(key: str, lang: str, **params: object) -> str:
    return i18n.pick(_TEXT[key], lang).format(**params)


def _detail(detail: str, lang: str) -> str:
    if detail.startswith("wrong_password"):
        count = detail.removeprefix("wrong_password").strip()
        if lang == "ja":
            return f"パスワード誤り・{count}回目" if count else "パスワード誤り"
        return f"wrong password, {count}" if count else "wrong password"
    pair = _DETAILS.get(detail)
    if pair is not None:
        return i18n.pick(pair, lang)
    return "" if not detail else ("その他" if lang == "ja" else detail)


def _stamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).astimezone(JST).strftime("%Y-%m-%d %H:%M")


def _store(console: Console) -> ClerkStore:
    return ClerkStore(console.store.dialect)


async def _office(request: Request, session: Session) -> tuple[dict[str, str], str]:
    """The offices the account may manage clerks of, and the one shown (``?office=``:
    one of them, else 404 as for an office that does not exist)."""
    visible = await offices_for(request, session.staff, Operation.MANAGE_CLERKS)
    office = request.query_params.get("office", "")
    if office and office not in visible:
        raise Refused(404, "not_found")
    return visible, office or sorted(visible)[0]


async def _page(
    request: Request, session: Session, office: str, visible: dict[str, str], **extra: Any
) -> Response:
    console: Console = request.app.state.console
    store = _store(console)
    clerks = await run_in_threadpool(store.clerks, office)
    sign_ins = await run_in_threadpool(store.sign_ins, [office])
    lang = lang_of(request)
    notice = request.query_params.get("m", "")
    return render(
        request,
        "clerks.html",
        int(extra.pop("status", 200)),
        session=session,
        ct=lambda key, **p: _text(key, lang, **p),
        detail=lambda d: _detail(d, lang),
        stamp=_stamp,
        when=received_label,
        visible=visible,
        office=office,
        clerks=clerks,
        sign_ins=sign_ins,
        message=extra.pop("message", ""),
        notice=_text(notice, lang) if notice in ("added", "was_reset", "was_revoked") else "",
        form=extra.pop("form", {}),
    )


async def _clerks(request: Request) -> Response:
    """The office's clerks: list, add, reset a password, revoke."""
    session = await signed_in(request)
    if request.method == "GET":
        visible, office = await _office(request, session)
        return await _page(request, session, office, visible)
    post = await office_post(request, session, Operation.MANAGE_CLERKS)
    form, visible, office, actor = post.form, post.visible, post.office, post.actor
    console: Console = request.app.state.console
    store = _store(console)
    action = form.get("action", "")
    clerk_id = form.get("clerk_id", "").strip()
    password = form.get("password", "")
    lang = lang_of(request)
    # What a refused form keeps: never the password.
    kept = post.kept("password")
    try:
        if action == "add":
            await run_in_threadpool(
                lambda: store.add(
                    office, clerk_id, form.get("display_name", ""), password, actor=actor
                )
            )
            done = "added"
        elif action == "reset":
            await run_in_threadpool(
                lambda: store.reset_password(office, clerk_id, password, actor=actor)
            )
            done = "was_reset"
        elif action == "revoke":
            await run_in_threadpool(lambda: store.revoke(office, clerk_id, actor=actor))
            done = "was_revoked"
        else:
            raise Refused(400, "bad_request")
    except LookupError as exc:
        raise Refused(404, "not_found") from exc
    except ConfigError as exc:
        why = (
            "taken" if "already has" in str(exc)
            else "short_password" if action == "reset"
            else "bad_input"
        )
        return await _page(
            request, session, office, visible, status=400, message=_text(why, lang),
            form=kept if action == "add" else {},
        )
    # After a POST, a redirect: a reload never does it twice.
    return RedirectResponse("/clerks?" + urlencode({"office": office, "m": done}), 303)


PAGE = Page(
    routes=(route("/clerks", _clerks, ("GET", "POST")),),
    menu=(MenuItem("/clerks", "nav.clerks", Operation.MANAGE_CLERKS),),
)
