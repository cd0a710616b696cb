"""The office console: server-rendered pages (Starlette + Jinja2) for office staff.

Every page asks :func:`sync.server.authz.decide` — the matrix that rules the devices —
for the account's principal and each office it would show (:data:`~sync.server.authz.
CONSOLE_PAGES` name the pages' operations). An office that is not the account's own
answers 404 whether or not it exists, so a changed URL learns nothing.

Sign-in takes the staff id, the password and the TOTP code in one form and answers the
same for every failure (no oracle). Sessions are server-side (``console_sessions``);
the browser holds only a random token in a ``__Host-`` cookie (Secure, HttpOnly,
SameSite=Strict). Every form carries the session's CSRF token, and a POST without the
right one is refused (403) before it does anything; the sign-in form, which has no
session yet, carries a token bound to a cookie of its own. Pages are ``no-store``, so
the Back button after signing out shows nothing that was on screen.
"""

from __future__ import annotations

import calendar
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync.errors import RepositoryError
from sync.server import authz
from sync.server.authz import Answer, Operation, Role
from sync.server.console import chart, i18n
from sync.server.console.store import (
    PAGE_SIZE,
    TOKEN_HOURS,
    ConsoleStore,
    Session,
    Staff,
    TransactionFilter,
)
from sync.server.registry import OperationStatus
from sync.server.report import ReportRow, report_csv_ja

log = logging.getLogger(__name__)
JST = timezone(timedelta(hours=9))
SESSION_COOKIE = "__Host-madoguchi-console"
LOGIN_COOKIE = "__Host-madoguchi-login"
LANG_COOKIE = "madoguchi-lang"
_HERE = Path(__file__).parent
#: Largest form body the console reads.
MAX_FORM = 16 * 1024

_SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
        b" frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000"),
)


@dataclass
class Console:
    """What the pages need: the store and the clock."""

    store: ConsoleStore
    now: Callable[[], float] = time.time
    templates: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )


class _Refused(Exception):
    """A page answered with an error page (status and message key)."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


def _lang(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "ja")
    return lang if lang in i18n.LANGUAGES else "ja"


def _render(
    request: Request,
    name: str,
    status: int = 200,
    session: Session | None = None,
    **context: Any,
) -> Response:
    console: Console = request.app.state.console
    lang = _lang(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = console.templates.get_template(name).render(
        lang=lang,
        t=lambda key, **p: i18n.t(key, lang, **p),
        i18n=i18n,
        i18n_ops=Operation,
        session=session,
        staff=session.staff if session else None,
        csrf=session.csrf if session else "",
        lang_link="/lang?" + urlencode({"to": "en" if lang == "ja" else "ja", "next": here}),
        path=request.url.path,
        may=(lambda op: _may_any(session.staff, op)) if session else (lambda op: False),
        **context,
    )
    return Response(html, status_code=status, media_type="text/html; charset=utf-8")


def _error_page(request: Request, status: int, key: str, session: Session | None) -> Response:
    return _render(request, "error.html", status, session, message_key=key)


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form body (bounded); one value per name."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise _Refused(413, "bad_request")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Refused(400, "bad_request") from exc
    return {k: v[0] for k, v in fields.items()}


def _same_origin(request: Request) -> bool:
    """A browser's own form post: no cross-site fetch metadata, an Origin of this host."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or origin == f"https://{request.headers.get('host', '')}"


async def _session(request: Request) -> Session | None:
    console: Console = request.app.state.console
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    return await run_in_threadpool(console.store.session, token, console.now())


async def _signed_in(request: Request) -> Session:
    session = await _session(request)
    if session is None:
        raise _SignIn()
    return session


class _SignIn(Exception):
    """No live session: to the sign-in page."""


async def _checked_form(request: Request, session: Session) -> dict[str, str]:
    """The form of a POST whose CSRF token is the session's (else 403, nothing done)."""
    form = await _form(request)
    given = form.get("csrf", "")
    if not _same_origin(request) or not secrets.compare_digest(
        given.encode(), session.csrf.encode()
    ):
        raise _Refused(403, "csrf")
    return form


# -- who sees which office ----------------------------------------------------------------


def _allowed(staff: Staff, operation: Operation, office: str) -> bool:
    principal = staff.principal(office)
    target = authz.office_target(principal, office)
    return authz.decide(principal, operation, target) is Answer.ALLOW


def _may_any(staff: Staff, operation: Operation) -> bool:
    """The account may do ``operation`` for at least one office (IT: anywhere)."""
    if not staff.role.office_bound:
        return authz.decide(staff.principal(None), operation, authz.Target.OTHER) is Answer.ALLOW
    return any(_allowed(staff, operation, o) for o in staff.offices)


async def _visible(request: Request, staff: Staff, operation: Operation) -> dict[str, str]:
    """The offices (code → name) the account may see for ``operation``."""
    console: Console = request.app.state.console
    known = await run_in_threadpool(console.store.offices)
    candidates = staff.offices if staff.role.office_bound else tuple(known)
    return {o: known.get(o, o) for o in candidates if _allowed(staff, operation, o)}


async def _offices_for(request: Request, staff: Staff, operation: Operation) -> dict[str, str]:
    """:func:`_visible`, refused (403) when the account may do ``operation`` nowhere."""
    visible = await _visible(request, staff, operation)
    if not visible:
        raise _Refused(403, "forbidden")
    return visible


def _posted_office(form: Mapping[str, str], visible: Mapping[str, str]) -> str:
    """The form's ``office``: one of ``visible`` (else 404, existing or not)."""
    office = form.get("office", "")
    if office not in visible:
        raise _Refused(404, "not_found")
    return office


async def _scope(
    request: Request, staff: Staff, operation: Operation
) -> tuple[dict[str, str], list[str], str]:
    """``(visible offices, offices asked for, the office parameter)``: the ``office``
    parameter is one of the visible ones (else 404, existing or not) or empty (all)."""
    visible = await _offices_for(request, staff, operation)
    office = request.query_params.get("office", "")
    if office:
        if office not in visible:
            raise _Refused(404, "not_found")
        return visible, [office], office
    return visible, sorted(visible), ""


# -- dates ------------------------------------------------------------------------------


def _today(console: Console) -> date:
    return datetime.fromtimestamp(console.now(), JST).date()


def _month_param(request: Request, console: Console) -> tuple[str, str, str]:
    """``(YYYY-MM, first day, last day)`` of the ``month`` parameter (default: this month)."""
    month = request.query_params.get("month") or _today(console).strftime("%Y-%m")
    try:
        first = datetime.strptime(month + "-01", "%Y-%m-%d").date()
    except ValueError as exc:
        raise _Refused(400, "bad_request") from exc
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return month, first.isoformat(), last.isoformat()


def _date_param(request: Request, name: str, default: date) -> str:
    value = request.query_params.get(name) or default.isoformat()
    try:
        return datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except ValueError as exc:
        raise _Refused(400, "bad_request") from exc


def _totals(
    rows: list[ReportRow], key: Callable[[ReportRow], tuple[str, str, str]]
) -> list[ReportRow]:
    """Rows summed by ``key``: (office, date, type) of the sum."""
    summed: dict[tuple[str, str, str], ReportRow] = {}
    for row in rows:
        k = key(row)
        total = summed.setdefault(k, ReportRow(*k))
        total.transactions += row.transactions
        total.issued += row.issued
        total.renewed += row.renewed
        total.revoked += row.revoked
        total.fee_collected_yen += row.fee_collected_yen
        total.fee_payable_jlis_yen += row.fee_payable_jlis_yen
    return [summed[k] for k in sorted(summed)]


# -- pages ------------------------------------------------------------------------------


async def _home(request: Request) -> Response:
    await _signed_in(request)
    return RedirectResponse("/reports/month", 303)


async def _report_month(request: Request) -> Response:
    session = await _signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await _scope(request, session.staff, Operation.READ_REPORT)
    month, first, last = _month_param(request, console)
    rows = await run_in_threadpool(console.store.report, first, last, offices)
    by_office = _totals(rows, lambda r: (r.office_code, month, r.certificate_type))
    grand = _totals(rows, lambda r: ("", month, r.certificate_type))
    daily = rows if office else []
    # The chart: 30 days up to the month's last day (today, in the current month).
    end = min(date.fromisoformat(last), _today(console))
    if end < date.fromisoformat(first):
        end = date.fromisoformat(last)
    start, stop = chart.window(end)
    recent = await run_in_threadpool(console.store.report, start, stop, offices)
    drawn = chart.issuance_chart(recent, {o: visible.get(o, o) for o in offices}, end)
    return _render(
        request,
        "report_month.html",
        session=session,
        visible=visible,
        office=office,
        month=month,
        by_office=by_office,
        grand=grand,
        daily=daily,
        chart=drawn,
        csv_link="/reports/month.csv?" + urlencode({"office": office, "month": month}),
        pdf_link="/reports/month.pdf?" + urlencode({"office": office, "month": month}),
    )


async def _report_month_csv(request: Request) -> Response:
    session = await _signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await _scope(request, session.staff, Operation.READ_REPORT)
    month, first, last = _month_param(request, console)
    rows = await run_in_threadpool(console.store.report, first, last, offices)
    name = f"交付状況_{office or 'all'}_{month}.csv"
    return Response(
        report_csv_ja(rows, visible),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": (
                f"attachment; filename=\"report_{month}.csv\"; filename*=UTF-8''{quote(name)}"
            )
        },
    )


def _month_pdf(
    console: Console, month: str, office: str, visible: dict[str, str], rows: list[ReportRow]
) -> bytes:
    """The month as a printable A4 PDF (WeasyPrint): the offices' totals, and the days
    when one office is asked for. Nothing is fetched: no URL is resolved."""
    import weasyprint

    def refuse(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ValueError(f"the console's PDF fetches nothing ({url})")

    label = {code: name for code, name in visible.items()}
    by_office = _totals(rows, lambda r: (r.office_code, month, r.certificate_type))
    grand = _totals(rows, lambda r: ("", month, r.certificate_type))
    summary = [(label.get(r.office_code, r.office_code), r, False) for r in by_office]
    summary += [("合計", r, True) for r in grand]
    sections = [{"heading": "庁舎別の月計", "first": "庁舎・窓口", "rows": summary}]
    if office:
        days = [(r.date, r, False) for r in rows]
        sections.append({"heading": "日別", "first": "日付", "rows": days})
    html = console.templates.get_template("report_print.html").render(
        title=f"{month} の交付状況",
        scope=label.get(office, office) if office else "担当のすべての庁舎",
        printed=datetime.fromtimestamp(console.now(), JST).strftime("%Y-%m-%d %H:%M"),
        sections=sections,
        kind=lambda k: i18n.cert_kind_label(k, "ja"),
    )
    pdf: bytes = weasyprint.HTML(string=html, url_fetcher=refuse).write_pdf()
    return pdf


async def _report_month_pdf(request: Request) -> Response:
    session = await _signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await _scope(request, session.staff, Operation.READ_REPORT)
    month, first, last = _month_param(request, console)
    rows = await run_in_threadpool(console.store.report, first, last, offices)
    pdf = await run_in_threadpool(_month_pdf, console, month, office, visible, rows)
    name = f"交付状況_{office or 'all'}_{month}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "content-disposition": (
                f"attachment; filename=\"report_{month}.pdf\"; filename*=UTF-8''{quote(name)}"
            )
        },
    )


async def _report_day(request: Request) -> Response:
    session = await _signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await _scope(request, session.staff, Operation.READ_REPORT)
    day = _date_param(request, "date", _today(console))
    rows = await run_in_threadpool(console.store.report, day, day, offices)
    grand = _totals(rows, lambda r: ("", day, r.certificate_type))
    return _render(
        request,
        "report_day.html",
        session=session,
        visible=visible,
        office=office,
        day=day,
        rows=rows,
        grand=grand,
    )


async def _transactions(request: Request) -> Response:
    session = await _signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await _scope(request, session.staff, Operation.READ_TRANSACTIONS)
    query = request.query_params
    today = _today(console)
    first = _date_param(request, "from", today - timedelta(days=6))
    last = _date_param(request, "to", today)
    choices = {
        "procedure": dict(i18n.procedure_choices("ja")),
        "decision": dict(i18n.decision_choices("ja")),
        "abandonment": dict(i18n.abandonment_choices("ja")),
    }
    picked = {name: query.get(name, "") for name in choices}
    if any(v and v not in choices[n] for n, v in picked.items()):
        raise _Refused(400, "bad_request")
    operator = query.get("operator", "").strip()
    device = query.get("counter", "")
    try:
        offset = int(query.get("offset", "0"))
    except ValueError as exc:
        raise _Refused(400, "bad_request") from exc
    if not (0 <= offset <= 1_000_000) or len(operator) > 64 or not operator.isprintable():
        raise _Refused(400, "bad_request")
    devices = await run_in_threadpool(console.store.devices, offices)
    if device and device not in {d for d, _ in devices}:
        raise _Refused(404, "not_found")
    flt = TransactionFilter(
        first,
        last,
        tuple(offices),
        device,
        picked["procedure"],
        picked["decision"],
        picked["abandonment"],
        operator,
    )
    rows = await run_in_threadpool(console.store.transactions, flt, offset, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    params = {
        "from": first,
        "to": last,
        "office": office,
        "counter": device,
        "operator": operator,
        **picked,
    }

    def page(at: int) -> str:
        return "/transactions?" + urlencode({**params, "offset": str(at)})

    return _render(
        request,
        "transactions.html",
        session=session,
        visible=visible,
        office=office,
        devices=devices,
        params=params,
        rows=rows[:PAGE_SIZE],
        offset=offset,
        next_link=page(offset + PAGE_SIZE) if more else "",
        previous_link=page(max(0, offset - PAGE_SIZE)) if offset else "",
    )


async def _fleet(request: Request) -> Response:
    """The counters of the account's offices: enrolment, last upload, chain status."""
    session = await _signed_in(request)
    console: Console = request.app.state.console
    visible, offices, office = await _scope(request, session.staff, Operation.READ_CHAIN)
    counters = await run_in_threadpool(console.store.fleet, offices)
    return _render(
        request,
        "fleet.html",
        session=session,
        visible=visible,
        office=office,
        counters=counters,
        when=_received_label,
    )


async def _enrolment_page(request: Request, session: Session, **extra: Any) -> Response:
    console: Console = request.app.state.console
    visible = await _offices_for(request, session.staff, Operation.ISSUE_ENROLMENT_TOKEN)
    tokens = await run_in_threadpool(console.store.enrolment_tokens, sorted(visible))
    return _render(
        request,
        "enrolment.html",
        int(extra.pop("status", 200)),
        session=session,
        visible=visible,
        tokens=tokens,
        hours=TOKEN_HOURS,
        issued=extra.pop("issued", None),
        message=extra.pop("message", ""),
        form=extra.pop("form", {}),
        when=_received_label,
        now_iso=datetime.fromtimestamp(console.now(), UTC).isoformat(),
    )


async def _enrolment(request: Request) -> Response:
    """Issue a counter's one-time enrolment token (shown once) for one of the account's
    offices; the list of the offices' tokens, never the tokens themselves."""
    session = await _signed_in(request)
    if request.method == "GET":
        return await _enrolment_page(request, session)
    form = await _checked_form(request, session)
    console: Console = request.app.state.console
    visible = await _offices_for(request, session.staff, Operation.ISSUE_ENROLMENT_TOKEN)
    office = _posted_office(form, visible)
    device_id = form.get("device_id", "").strip()
    kept = {k: v for k, v in form.items() if k != "csrf"}
    try:
        hours = int(form.get("hours", ""))
    except ValueError as exc:
        raise _Refused(400, "bad_request") from exc
    if hours not in TOKEN_HOURS:
        raise _Refused(400, "bad_request")
    from madoguchi.errors import ConfigError

    try:
        token, expires = await run_in_threadpool(
            lambda: console.store.issue_enrolment_token(
                device_id,
                office,
                hours,
                console.now(),
                actor=f"staff:{session.staff.staff_id}",
            )
        )
    except ConfigError as exc:
        key = "enrolment_enrolled" if "already" in str(exc) else "enrolment_bad_device"
        message = i18n.t(key, _lang(request))
        return await _enrolment_page(request, session, status=400, message=message, form=kept)
    issued = {"device_id": device_id, "office": office, "token": token, "expires": expires}
    return await _enrolment_page(request, session, issued=issued)


async def _payments_page(request: Request, session: Session, **extra: Any) -> Response:
    console: Console = request.app.state.console
    visible = await _offices_for(request, session.staff, Operation.RECORD_PAYMENT)
    month = str(extra.pop("month", "")) or _month_param(request, console)[0]
    _, first, last = _month_bounds(month)
    offices = sorted(visible)
    rows = await run_in_threadpool(console.store.report, first, last, offices)
    payments = await run_in_threadpool(console.store.payments, offices, month)
    payable = {o: 0 for o in offices}
    for row in rows:
        payable[row.office_code] += row.fee_payable_jlis_yen
    paid = {o: 0 for o in offices}
    for p in payments:
        paid[p.office_code] += p.amount_yen
    balance = [(o, payable[o], paid[o], payable[o] - paid[o]) for o in offices]
    return _render(
        request,
        "payments.html",
        int(extra.pop("status", 200)),
        session=session,
        visible=visible,
        month=month,
        balance=balance,
        payments=payments,
        message=extra.pop("message", ""),
        notice=i18n.t("payments_added", _lang(request))
        if request.query_params.get("m") == "added"
        else "",
        form=extra.pop("form", {}),
        today=_today(console).isoformat(),
    )


def _month_bounds(month: str) -> tuple[str, str, str]:
    try:
        first = datetime.strptime(month + "-01", "%Y-%m-%d").date()
    except ValueError as exc:
        raise _Refused(400, "bad_request") from exc
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return month, first.isoformat(), last.isoformat()


async def _payments(request: Request) -> Response:
    """Payments to J-LIS per office and month against the report's fees payable."""
    session = await _signed_in(request)
    if request.method == "GET":
        return await _payments_page(request, session)
    form = await _checked_form(request, session)
    console: Console = request.app.state.console
    visible = await _offices_for(request, session.staff, Operation.RECORD_PAYMENT)
    office = _posted_office(form, visible)
    month = form.get("month", "")
    _month_bounds(month)  # 400 for a month that is none
    kept = {k: v for k, v in form.items() if k != "csrf"}
    from madoguchi.errors import ConfigError

    try:
        amount = int(form.get("amount", "").strip().replace(",", ""))
        await run_in_threadpool(
            lambda: console.store.add_payment(
                office,
                month,
                amount,
                form.get("paid_on", ""),
                form.get("note", "").strip(),
                actor=f"staff:{session.staff.staff_id}",
            )
        )
    except (ValueError, ConfigError):
        message = i18n.t("payments_bad", _lang(request))
        return await _payments_page(
            request, session, status=400, message=message, form=kept, month=month
        )
    # After a POST, a redirect: Back and reload never enter the payment twice.
    return RedirectResponse("/payments?" + urlencode({"month": month, "m": "added"}), 303)


async def _registry(request: Request) -> Response:
    """Look up a card's 運用状況 or a certificate's status, with the changes of it the
    account may read (its offices' entries; IT all)."""
    from device.records import find_forbidden_data
    from sync.protocol import is_clean_id

    session = await _signed_in(request)
    console: Console = request.app.state.console
    staff = session.staff
    if not _may_any(staff, Operation.READ_CARD_STATUS):
        raise _Refused(403, "forbidden")
    what = request.query_params.get("what", "card")
    if what not in ("card", "certificate"):
        raise _Refused(400, "bad_request")
    key = request.query_params.get("key", "").strip()
    entry, history, problem, status = None, [], "", 200
    if key:
        if find_forbidden_data(key):
            problem, status = "registry_my_number", 400
        elif not is_clean_id(key):
            problem, status = "registry_bad_key", 400
        else:
            lookup = (
                console.store.registry.card_status
                if what == "card"
                else (console.store.registry.certificate_status)
            )
            entry = await run_in_threadpool(lookup, key)
            changes = await run_in_threadpool(console.store.registry_history, what, key)
            history = [
                c
                for c in changes
                if not staff.role.office_bound
                or (
                    c.office_code is not None
                    and _allowed(staff, Operation.READ_REGISTRY_AUDIT, c.office_code)
                )
            ]
    known = await run_in_threadpool(console.store.offices)
    # Where this account may change the card: the entry's office, or (a card the registry
    # does not know yet) any office it may change cards of.
    changeable: dict[str, str] = {}
    if what == "card" and key and not problem and staff.role.office_bound:
        owners = [entry.office_code] if entry is not None and entry.office_code else []
        if entry is None:
            owners = list(staff.offices)
        changeable = {
            o: known.get(o, o) for o in owners if _allowed(staff, Operation.CHANGE_CARD_STATUS, o)
        }
    if not message_key_ok(request.query_params.get("m", "")):
        raise _Refused(400, "bad_request")
    return _render(
        request,
        "registry.html",
        status,
        session=session,
        what=what,
        key=key if not problem else "",
        asked=bool(key) and not problem,
        entry=entry,
        history=history,
        message=i18n.t(problem, _lang(request)) if problem else "",
        names=known,
        when=_received_label,
        changeable=changeable,
        statuses=list(OperationStatus),
        notice=i18n.t("registry_changed", _lang(request))
        if request.query_params.get("m") == "changed"
        else "",
    )


def message_key_ok(key: str) -> bool:
    """The registry page's ``m`` parameter: empty or ``changed``."""
    return key in ("", "changed")


async def _registry_card(request: Request) -> Response:
    """Change a card's 運用状況 as the account (its office's card only, as the matrix says);
    the registry audits it, and the console's audit has it too."""
    from device.records import find_forbidden_data
    from sync.errors import NotAllowedError
    from sync.protocol import is_clean_id

    session = await _signed_in(request)
    form = await _checked_form(request, session)
    console: Console = request.app.state.console
    staff = session.staff
    if not _may_any(staff, Operation.CHANGE_CARD_STATUS):
        raise _Refused(403, "forbidden")
    key = form.get("key", "").strip()
    if not is_clean_id(key) or find_forbidden_data(key):
        raise _Refused(400, "bad_request")
    try:
        status = OperationStatus(form.get("status", ""))
    except ValueError as exc:
        raise _Refused(400, "bad_request") from exc
    reason = form.get("reason", "").strip()
    if len(reason) > 200 or not reason.isprintable():
        raise _Refused(400, "bad_request")
    entry = await run_in_threadpool(console.store.registry.card_status, key)
    office = entry.office_code if entry is not None else form.get("office", "")
    if not office or not _allowed(staff, Operation.CHANGE_CARD_STATUS, office):
        raise _Refused(404, "not_found")
    actor = staff.principal(office)
    try:
        await run_in_threadpool(
            lambda: console.store.registry.set_card_status(
                key,
                status,
                reason,
                datetime.fromtimestamp(console.now(), UTC).isoformat(),
                actor=actor,
            )
        )
    except NotAllowedError as exc:  # the entry moved to another office meanwhile
        raise _Refused(404, "not_found") from exc
    await run_in_threadpool(
        console.store.note,
        f"staff:{staff.staff_id}",
        "card_status_changed",
        office,
        f"{key} → {status.label}",
    )
    query = urlencode({"what": "card", "key": key, "m": "changed"})
    return RedirectResponse(f"/registry?{query}", 303)


def _received_label(stamp: str) -> str:
    """A stored ISO time as JST ``YYYY-MM-DD HH:MM`` (empty: never)."""
    if not stamp:
        return ""
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M")


def _audit_scope(staff: Staff) -> tuple[list[str] | None, list[str]]:
    """The offices (None: all) whose audit entries the account may read."""
    if not staff.role.office_bound:
        if not _may_any(staff, Operation.READ_CONSOLE_AUDIT):
            raise _Refused(403, "forbidden")
        return None, []
    offices = [o for o in staff.offices if _allowed(staff, Operation.READ_CONSOLE_AUDIT, o)]
    if not offices:
        raise _Refused(403, "forbidden")
    return offices, []


async def _audit(request: Request) -> Response:
    session = await _signed_in(request)
    console: Console = request.app.state.console
    offices, _ = _audit_scope(session.staff)
    actors: list[str] = []
    if offices is not None:
        staff = await run_in_threadpool(console.store.list_staff, offices)
        # An administrator sees its offices' entries and the sign-ins of their staff.
        actors = [f"staff:{s.staff_id}" for s in staff if set(s.offices) <= set(offices)]
    rows = await run_in_threadpool(console.store.audit, offices, actors)
    names = await run_in_threadpool(console.store.offices)
    return _render(
        request,
        "audit.html",
        session=session,
        rows=rows,
        names=names,
        when=lambda at: datetime.fromtimestamp(at, JST).strftime("%Y-%m-%d %H:%M:%S"),
    )


def _manageable(staff: Staff, target: Staff) -> bool:
    """An account the signed-in one may unlock: all its offices are the manager's own
    for MANAGE_STAFF (an office-less IT account: IT only)."""
    if not target.offices:
        return not staff.role.office_bound and _may_any(staff, Operation.MANAGE_STAFF)
    return all(_allowed(staff, Operation.MANAGE_STAFF, o) for o in target.offices)


async def _staff_page(request: Request, session: Session, **extra: Any) -> Response:
    console: Console = request.app.state.console
    staff = session.staff
    if not _may_any(staff, Operation.MANAGE_STAFF):
        raise _Refused(403, "forbidden")
    visible = await _visible(request, staff, Operation.MANAGE_STAFF)
    everyone = await run_in_threadpool(
        console.store.list_staff, None if not staff.role.office_bound else list(visible)
    )
    roles = [Role.STAFF, Role.ADMINISTRATOR] + ([] if staff.role.office_bound else [Role.IT])
    return _render(
        request,
        "staff.html",
        int(extra.pop("status", 200)),
        session=session,
        accounts=[a for a in everyone if _manageable(staff, a)],
        visible=visible,
        roles=roles,
        added=extra.pop("added", None),
        message=extra.pop("message", ""),
        form=extra.pop("form", {}),
    )


async def _staff(request: Request) -> Response:
    session = await _signed_in(request)
    if request.method == "GET":
        return await _staff_page(request, session)
    form = await _checked_form(request, session)
    console: Console = request.app.state.console
    staff = session.staff
    if not _may_any(staff, Operation.MANAGE_STAFF):
        raise _Refused(403, "forbidden")
    try:
        role = Role(form.get("role", ""))
    except ValueError as exc:
        raise _Refused(400, "bad_request") from exc
    offices = [k.removeprefix("office:") for k in form if k.startswith("office:")]
    if role is Role.IT and staff.role.office_bound:
        raise _Refused(403, "forbidden")
    if role not in (Role.STAFF, Role.ADMINISTRATOR, Role.IT):
        raise _Refused(400, "bad_request")
    if any(not _allowed(staff, Operation.MANAGE_STAFF, o) for o in offices):
        raise _Refused(404, "not_found")
    from madoguchi.errors import ConfigError

    try:
        added = await run_in_threadpool(
            lambda: console.store.add_staff(
                form.get("staff_id", "").strip(),
                form.get("display_name", "").strip(),
                role,
                form.get("password", ""),
                offices if role.office_bound else [],
                actor=f"staff:{staff.staff_id}",
            )
        )
    except ConfigError as exc:
        kept = {k: v for k, v in form.items() if k not in ("password", "csrf")}
        message = i18n.t(_account_problem(str(exc)), _lang(request))
        return await _staff_page(request, session, status=400, message=message, form=kept)
    return await _staff_page(request, session, added=added)


def _account_problem(error: str) -> str:
    """The console string for why the store refused a new account (its errors are the
    CLI's English; a Japanese page shows its own words)."""
    for needle, key in (
        ("already", "staff_exists"),
        ("password", "password_short"),
        ("at least one office", "need_office"),
        ("staff id", "bad_staff_id"),
        ("display name", "bad_name"),
    ):
        if needle in error:
            return key
    return "bad_request"


async def _unlock(request: Request) -> Response:
    session = await _signed_in(request)
    form = await _checked_form(request, session)
    console: Console = request.app.state.console
    target = await run_in_threadpool(console.store.staff, form.get("staff_id", ""))
    if target is None or not _manageable(session.staff, target):
        raise _Refused(404, "not_found")
    await run_in_threadpool(
        lambda: console.store.unlock(target.staff_id, actor=f"staff:{session.staff.staff_id}")
    )
    return await _staff_page(request, session, message=i18n.t("unlocked", _lang(request)))


# -- signing in and out ----------------------------------------------------------------


def _login_page(request: Request, status: int = 200, message_key: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = _render(
        request, "login.html", status, None, login_token=token, message_key=message_key
    )
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=3600, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response


async def _login(request: Request) -> Response:
    console: Console = request.app.state.console
    if request.method == "GET":
        if await _session(request) is not None:
            return RedirectResponse("/reports/month", 303)
        key = request.query_params.get("m", "")
        return _login_page(request, message_key=key if key in ("signed_out", "expired") else "")
    form = await _form(request)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    given = form.get("login_token", "")
    if (
        not cookie
        or not _same_origin(request)
        or not secrets.compare_digest(given.encode(), cookie.encode())
    ):
        return _login_page(request, 403, "csrf")
    staff = await run_in_threadpool(
        console.store.sign_in,
        form.get("staff_id", "").strip()[:64],
        form.get("password", "")[:1024],
        form.get("code", "")[:16],
        console.now(),
    )
    if staff is None:
        return _login_page(request, 401, "sign_in_failed")
    token, _ = await run_in_threadpool(console.store.open_session, staff.staff_id, console.now())
    response = RedirectResponse("/reports/month", 303)
    response.set_cookie(
        SESSION_COOKIE, token, path="/", secure=True, httponly=True, samesite="strict"
    )
    response.delete_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


async def _logout(request: Request) -> Response:
    session = await _signed_in(request)
    await _checked_form(request, session)
    console: Console = request.app.state.console
    token = request.cookies.get(SESSION_COOKIE, "")
    await run_in_threadpool(console.store.close_session, token, session.staff.staff_id)
    response = RedirectResponse("/login?m=signed_out", 303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


async def _language(request: Request) -> Response:
    lang = request.query_params.get("to", "ja")
    target = request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"  # never an open redirect
    response = RedirectResponse(target, 303)
    response.set_cookie(
        LANG_COOKIE,
        lang if lang in i18n.LANGUAGES else "ja",
        max_age=365 * 24 * 3600,
        path="/",
        secure=True,
        samesite="lax",
    )
    return response


# -- the app ----------------------------------------------------------------------------


def _guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    async def page(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except _SignIn:
            return RedirectResponse(
                "/login?m=expired" if SESSION_COOKIE in request.cookies else "/login", 303
            )
        except _Refused as refused:
            return _error_page(request, refused.status, refused.key, await _session(request))
        except RepositoryError as exc:
            log.error("console: database error on %s: %s", request.url.path, exc)
            return _error_page(request, 503, "unavailable", None)
        except Exception as exc:  # the page says so; the details go to the log only
            log.error("console: %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
            return _error_page(request, 500, "internal", None)

    return page


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error_page(request, 404, "not_found", await _session(request))


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _error_page(request, 405, "bad_request", await _session(request))


class _Headers:
    """Security headers on every answer; pages are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += list(_SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def console_app(store: ConsoleStore, now: Callable[[], float] = time.time) -> ASGIApp:
    """The console as an ASGI app (served on its own listener by ``sync.server.run``)."""
    routes = [
        Route("/", _guarded(_home), methods=["GET"]),
        Route("/login", _guarded(_login), methods=["GET", "POST"]),
        Route("/logout", _guarded(_logout), methods=["POST"]),
        Route("/lang", _guarded(_language), methods=["GET"]),
        Route("/reports/month", _guarded(_report_month), methods=["GET"]),
        Route("/reports/month.csv", _guarded(_report_month_csv), methods=["GET"]),
        Route("/reports/month.pdf", _guarded(_report_month_pdf), methods=["GET"]),
        Route("/reports/day", _guarded(_report_day), methods=["GET"]),
        Route("/transactions", _guarded(_transactions), methods=["GET"]),
        Route("/fleet", _guarded(_fleet), methods=["GET"]),
        Route("/enrolment", _guarded(_enrolment), methods=["GET", "POST"]),
        Route("/payments", _guarded(_payments), methods=["GET", "POST"]),
        Route("/registry", _guarded(_registry), methods=["GET"]),
        Route("/registry/card", _guarded(_registry_card), methods=["POST"]),
        Route("/audit", _guarded(_audit), methods=["GET"]),
        Route("/staff", _guarded(_staff), methods=["GET", "POST"]),
        Route("/staff/unlock", _guarded(_unlock), methods=["POST"]),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})
    app.state.console = Console(store, now)
    return _Headers(app)


def utc_stamp(now: float) -> str:
    """``now`` as an ISO UTC time (for logs)."""
    return datetime.fromtimestamp(now, UTC).isoformat()
