"""Japanese line breaking for the outcome's reasons: no lone 「。」 line at any width."""

from __future__ import annotations

import itertools

import pytest
from rich.cells import cell_len
from rich.console import Console

from device.procedures import texts
from tui.text import NO_LINE_END, NO_LINE_START, JaText, ja_breaks

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
