"""Japanese line breaking for the outcome's reasons: no lone 「。」 line at any width."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from device.procedures import texts
from tui.text import NO_LINE_END, NO_LINE_START, JaText, ja_breaks

from .conftest import StepClock

MESSAGES = [pair[0].replace("{", "").replace("}", "") for pair in texts.MESSAGES.values()]


@pytest.mark.parametrize("width", range(8, 80))
def test_no_line_starts_with_a_closing_mark_or_overflows(width: int) -> None:
    console = Console(width=width)
    for message in MESSAGES:
        lines = [line.plain for line in JaText(message).wrap(console, width)]
        assert "".join(lines) == message  # nothing lost, nothing added
        for number, line in enumerate(lines):
            assert cell_len(line) <= width, (width, line)
            if number:
                assert line[0] not in NO_LINE_START, (width, lines)
            if number < len(lines) - 1:
                assert line[-1] not in NO_LINE_END, (width, lines)


def test_a_citation_that_fits_is_not_cut() -> None:
    text = "上述(コ)開示請求者の電話番号 2034-04-01 に準ずる。"
    for width in range(12, 40):
        lines = ["".join(line) for line in (text[a:b] for a, b in _spans(text, width))]
        assert all("2034-04-01" in line or "2034" not in line for line in lines), lines


def _spans(text: str, width: int) -> list[tuple[int, int]]:
    cuts = [0, *ja_breaks(text, width), len(text)]
    return list(itertools.pairwise(cuts))


async def test_a_toast_at_80_columns_breaks_as_japanese_is_set(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    """Textual's toasts break only at spaces: 「。」 used to stand alone on the last line."""
    from textual.widgets._toast import Toast

    from tui.app import CounterApp

    from .conftest import make_services
    from .helpers import wait_for

    services = make_services(tmp_path, clock=clock, pki_dir=sim_pki)
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            # 37 cells: one more than the toast holds at 80 columns
            message = "現在の暗証番号が違います。残り 2 回です。"
            app.notify(message)
            await wait_for(pilot, lambda: bool(app.screen.query(Toast)))
            await pilot.pause()
            [toast] = app.screen.query(Toast)
            region = toast.region.reset_offset
            lines = [strip.text.strip(" ▌") for strip in toast.render_lines(region)]
            shown = [line for line in lines if line]
            assert "".join(shown) == message  # nothing lost
            assert all(line[0] not in NO_LINE_START for line in shown), shown
            assert len(shown) == 2, shown  # it did need two lines at this width
    finally:
        services.close()


async def test_the_home_cards_notes_break_as_japanese_is_set(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    """A face-auth card's note (「自動判定できない項目が…。」) wrapped with 「。」 alone."""
    from tui.app import CounterApp

    from .conftest import make_services
    from .helpers import card_settled, screen_text, sign_in, wait_for

    services = make_services(tmp_path, clock=clock, pki_dir=sim_pki, profile="face-auth")
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=(80, 24)) as pilot:
            await sign_in(pilot)
            await card_settled(pilot)
            await wait_for(pilot, lambda: "自動判定できない" in screen_text(app))
            cells = [part.strip() for line in screen_text(app).splitlines()
                     for part in line.split("│") if part.strip()]
            assert all(cell[0] not in NO_LINE_START for cell in cells), cells
    finally:
        services.close()


def test_the_pad_key_stays_with_its_verb_and_centred_lines_keep_their_text() -> None:
    # 「…入力し、#を押してください」 broke as 「…入力し、」 / 「# を押してください」 (issue 14).
    from tui.i18n import Strings

    strings = Strings("ja")
    prompts = [strings(f"pin.prompts.{pin}", n=4) for pin in
               ("juki", "jpki_auth", "jpki_sign", "support")]
    assert all("、#を押して" in prompt for prompt in prompts)
    for prompt in prompts:
        for width in range(10, cell_len(prompt)):
            console = Console(width=width)
            lines = [line.plain for line in
                     JaText(prompt, justify="center").wrap(console, width)]
            # nothing lost (a space where a line breaks goes with the break)
            assert "".join(lines).replace(" ", "") == prompt.replace(" ", "")
            assert all(cell_len(line) <= width for line in lines), (width, lines)
            assert not any(line.strip().startswith("#") for line in lines), (width, lines)
