"""Times as the clerk reads them: in the counter's time zone, never a raw UTC ISO string.

Records, the store and the uploader keep UTC ISO-8601 strings; the screens show
them in ``[ui] timezone`` (Asia/Tokyo, JST, by default) with the catalogue's own
date format (``11月25日 20:31`` / ``11/25 20:31``). A time that cannot be
read is shown as it was stored rather than hidden.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from madoguchi.errors import ConfigError
from tui.i18n import Strings

#: The zone a Japanese counter shows times in unless ``[ui] timezone`` says otherwise.
DEFAULT_TIMEZONE = "Asia/Tokyo"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; :class:`ConfigError` when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"[ui] timezone {name!r} is not a known IANA time zone") from exc


def parse(iso: str, tz: ZoneInfo) -> datetime | None:
    """``iso`` in ``tz``; a time without an offset is taken as UTC (as the store writes)."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(tz)


def date_time(t: Strings, iso: str | None, tz: ZoneInfo, *, now: datetime | None = None) -> str:
    """``iso`` as date and minute for the clerk; ``never`` text when there is none.

    The year is left out in Japanese when it is this year (as a clerk writes it).
    """
    if not iso:
        return t("time.never")
    moment = parse(iso, tz)
    if moment is None:
        return iso
    this_year = now is not None and now.astimezone(tz).year == moment.year
    key = "time.date_time" if this_year else "time.date_time_year"
    return t(key, y=moment.year, m=moment.month, d=moment.day,
             hh=f"{moment.hour:02d}", mm=f"{moment.minute:02d}")


def clock_time(iso: str, tz: ZoneInfo) -> str:
    """``HH:MM`` of ``iso`` in ``tz`` (the today screen's history)."""
    moment = parse(iso, tz)
    return moment.strftime("%H:%M") if moment is not None else iso[11:16]


def local_date(iso: str, tz: ZoneInfo) -> str:
    """The ``YYYY-MM-DD`` day ``iso`` falls on in ``tz`` (the history's date groups)."""
    moment = parse(iso, tz)
    return moment.date().isoformat() if moment is not None else iso[:10]
