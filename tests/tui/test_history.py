"""The local history screen: every stored transaction by date, newest first, paged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from device.records import Decision, Reason, TransactionRecord
from tui.app import CounterApp
from tui.screens.history import PAGE_SIZE

from .helpers import screen_text, sign_in, wait_for

SIZE = (80, 24)
#: procedure, decision, operator for the stored transactions, in turn.
KINDS = (
    ("2-1-1", Decision.CONTINUE, "clerk01"),
    ("2-2-1", Decision.REJECT, "clerk02"),
    ("4-3", Decision.INQUIRY, "demo"),
)


def store_history(services: Any, count: int, *, first: datetime | None = None) -> list[str]:
    """``count`` transactions, three an hour from ``first`` (UTC) across several days,
    written through the real store; the oldest third acknowledged by the server and
    one quarantined. Returns their ids, oldest first."""
    start = first or datetime(2026, 11, 22, 23, 40, tzinfo=UTC)  # 08:40 JST on the 23rd
    ids = []
    for n in range(count):
        procedure, decision, operator = KINDS[n % len(KINDS)]
        done = start + timedelta(hours=9 * n)
        record = TransactionRecord(
            transaction_id=f"00000000-0000-4000-8000-{n:012x}",
            procedure=procedure, actor="self", decision=decision,
            reasons=(Reason("第2-1-(1)-ア-(ア)", "test"),), rule_version="現行",
            operator_id=operator, started_at=(done - timedelta(minutes=5)).isoformat(),
            completed_at=done.isoformat(),
        )
        ids.append(services.store.record_transaction(record, boot_id="test").transaction_id)
    seqs = [seq for seq, in services.store.db.execute("SELECT seq FROM outbox ORDER BY seq")]
    services.store.mark_acked(seqs[: count // 3])
    if count > 3:
        services.store.mark_quarantined({seqs[count // 3]: "400 refused"})
    return ids


async def test_history_lists_every_stored_transaction_by_date_newest_first(
    services: Any,
) -> None:
    ids = store_history(services, PAGE_SIZE + 3)
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("h")
        await wait_for(pilot, lambda: getattr(app.screen, "page", None) is not None)
        text = screen_text(app)
        assert "取引の履歴" in text
        assert "1 / 2 ページ（全 15 件、新しい順）" in text
        # The newest (14th, 2026-11-28 05:40 UTC) first, in JST, under its date.
        lines = [line for line in text.splitlines() if "第" in line]
        assert len(lines) == PAGE_SIZE
        assert "2026年11月28日" in lines[0]
        assert "14:40" in lines[0]
        assert "第4-3" in lines[0]
        # The next one is the same JST day: the date heads the group only once.
        assert "05:40" in lines[1]
        assert "第2-2-(1)" in lines[1]
        assert "2026年" not in lines[1]
        assert "照会書送付" in text
        assert "受付不可" in text
        assert "手続を継続" in text
        assert "clerk02" in text
        assert "送信待ち" in text
        assert "保留" in text
        for transaction_id in ids:  # ids and anything else of the record stay off screen
            assert transaction_id not in text
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: app.screen.start == PAGE_SIZE)  # type: ignore[attr-defined]
        text = screen_text(app)
        assert "2 / 2 ページ" in text
        # The oldest three: the first day's 08:40 JST, acknowledged by the server.
        assert "2026年11月23日" in text
        assert "08:40" in text
        assert text.count("送信済み") == 3
        await pilot.press("pagedown")  # no older page: stays
        await pilot.pause(0.1)
        assert app.screen.start == PAGE_SIZE  # type: ignore[attr-defined]
        await pilot.press("left")
        await wait_for(pilot, lambda: app.screen.start == 0)  # type: ignore[attr-defined]
        await pilot.press("f2")
        await wait_for(pilot, lambda: "Page 1 of 2 (15 in all, newest first)" in screen_text(app))
        assert "11/28/2026" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.id == "home")


async def test_an_empty_history_says_so(services: Any) -> None:
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("h")
        await wait_for(pilot, lambda: "記録された取引はまだありません" in screen_text(app))
