"""Times on the screens: the counter's zone (JST by default), a clerk's format, never raw UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from madoguchi.config import UiConfig
from madoguchi.errors import ConfigError
from tui.app import CounterApp
from tui.i18n import Strings
from tui.local_time import DEFAULT_TIMEZONE, clock_time, date_time, local_date, zone

from .helpers import screen_text, sign_in, wait_for

JST = zone("Asia/Tokyo")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_stored_utc_times_read_as_jst_in_the_clerks_format() -> None:
    ja, en = Strings("ja"), Strings("en")
    assert date_time(ja, "2026-11-25T11:31:05.123+00:00", JST, now=NOW) == "11月25日 20:31"
    assert date_time(en, "2026-11-25T11:31:05.123+00:00", JST, now=NOW) == "11/25 20:31"
    # 15:30 UTC on New Year's Eve is already the next day (and year) in Tokyo.
    assert date_time(ja, "2025-12-31T15:30:00+00:00", JST, now=NOW) == "1月1日 00:30"
    # Another year names the year.
    assert date_time(ja, "2024-03-01T00:00:00+00:00", JST, now=NOW) == "2024年3月1日 09:00"
    assert date_time(en, "2024-03-01T00:00:00+00:00", JST, now=NOW) == "3/1/2024 09:00"
    assert date_time(ja, "2026-11-25T11:31:00", JST, now=NOW) == "11月25日 20:31"  # no offset: UTC
    assert date_time(ja, None, JST) == "未送信"
    assert date_time(en, "", JST) == "never"
    assert date_time(ja, "yesterday", JST) == "yesterday"  # unreadable: shown, not hidden
    assert clock_time("2026-11-25T15:05:00+00:00", JST) == "00:05"
    assert local_date("2026-11-25T15:05:00+00:00", JST) == "2026-11-26"


def test_the_zone_is_configurable_and_an_unknown_one_is_a_config_error() -> None:
    assert UiConfig().timezone == DEFAULT_TIMEZONE == "Asia/Tokyo"
    utc = zone("UTC")
    assert date_time(Strings("ja"), "2026-11-25T11:31:00+00:00", utc, now=NOW) == "11月25日 11:31"
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        zone("Mars/Olympus")


async def test_home_shows_the_last_send_in_local_time_or_never(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=(100, 30)) as pilot:
        await sign_in(pilot)
        await wait_for(pilot, lambda: "最終送信" in screen_text(app))
        assert "未送信" in screen_text(app)
        # What the uploader writes after a delivery, in UTC.
        services.store.set_uploader_status(
            last_attempt="2026-11-25T11:31:05.000+00:00",
            last_success="2026-11-25T11:31:05.000+00:00", server_reachable=True,
        )
        await wait_for(pilot, lambda: "11月25日 20:31" in screen_text(app))
        assert "2026-11-25T11:31" not in screen_text(app)
        await pilot.press("f2")
        await wait_for(pilot, lambda: "11/25 20:31" in screen_text(app))
