"""Text helpers that count terminal cells, not characters.

A kanji or kana takes two cells, an ASCII letter one; ``len()`` would misalign
every Japanese label. These use :func:`rich.cells.cell_len`, the same measure
Textual renders with.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.containers import Lines
from rich.padding import Padding
from rich.table import Table
from rich.text import Text


def pad_cells(text: str, width: int) -> str:
    """``text`` cut or padded with spaces to exactly ``width`` cells.

    A wide character that would straddle the edge is replaced by a space, so the
    result is never one cell too long.
    """
    return set_cell_size(text, width)


def label_width(labels: Iterable[str]) -> int:
    """The widest label, in cells."""
    return max((cell_len(label) for label in labels), default=0)


def kv_table(rows: Iterable[tuple[str, str]], *, styles: Iterable[str] = ()) -> Table:
    """A two-column grid: labels never wrap, values wrap under their own column.

    Rich measures both columns in cells, so Japanese labels and values stay
    aligned at any width; ``styles`` (one per row, optional) styles whole rows.
    """
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    style_list = list(styles)
    for index, (label, value) in enumerate(rows):
        style = style_list[index] if index < len(style_list) else ""
        table.add_row(label, value, style=style)
    return table


#: Characters a line must not start with (行頭禁則): closing marks, small kana, the long mark,
#: and the pad's ``#`` key, named inside sentences (「入力し、#を押してください」): a line
#: that starts with it parts the key from the verb it belongs to.
NO_LINE_START = frozenset(
    "。、．，・：；）」』】〕｝〉》ー～"
    "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ!?！？)]}#"
)
#: Characters a line must not end with (行末禁則): opening brackets.
NO_LINE_END = frozenset("（「『【〔｛〈《([{")
#: Runs kept whole when they fit a line: citations, dates, serials, ASCII words.
_UNBREAKABLE = re.compile(r"[0-9A-Za-z()\-.:/@_]+")


def ja_breaks(text: str, width: int) -> list[int]:
    """Where to break ``text`` into lines of at most ``width`` cells, as Japanese is set.

    Breaks between any two characters, except that a line never starts with a closing
    mark (no lone 「。」 line), never ends with an opening bracket, and an ASCII run (a
    citation, a date, a serial) shorter than a line is never split; spaces at a break
    are where the break goes.
    """
    if width <= 2:
        return []
    unbreakable: set[int] = set()  # offsets inside a run that fits a line
    for match in _UNBREAKABLE.finditer(text):
        if cell_len(match.group()) <= width:
            unbreakable.update(range(match.start() + 1, match.end()))
    breaks: list[int] = []
    start, used = 0, 0
    index = 0
    while index < len(text):
        cells = cell_len(text[index])
        if used + cells <= width or index == start:
            used += cells
            index += 1
            continue
        cut = _cut(text, start, index, unbreakable)
        breaks.append(cut)
        start, used, index = cut, 0, cut
    return breaks


def ja_wrap(text: str, width: int) -> str:
    """``text`` with its lines broken by :func:`ja_breaks` at ``width`` cells (for widgets
    that wrap only at whitespace, such as Textual's toasts)."""
    lines: list[str] = []
    for line in text.split("\n"):
        cuts = [0, *ja_breaks(line, width), len(line)]
        lines.extend(line[a:b].strip(" ") for a, b in itertools.pairwise(cuts))
    return "\n".join(lines)


def _cut(text: str, start: int, index: int, unbreakable: set[int]) -> int:
    """The best break at or before ``index`` (the first character that does not fit):
    all rules kept, else the line-breaking rules without keeping runs whole, else a fold."""

    def allowed(cut: int, keep_runs: bool) -> bool:
        return not (text[cut] in NO_LINE_START or text[cut - 1] in NO_LINE_END
                    or (keep_runs and cut in unbreakable))

    for keep_runs in (True, False):
        for cut in range(index, start, -1):
            if allowed(cut, keep_runs):
                return cut
    return index


class JaText(Text):
    """Rich text wrapped by :func:`ja_breaks` (for table cells and other rich renderables)."""

    def wrap(self, console: Console, width: int, **options: Any) -> Lines:
        """Wrap by Japanese line-breaking rules instead of rich's whitespace words."""
        lines = Lines()
        for line in self.split(allow_blank=True):
            pieces = line.divide(ja_breaks(line.plain, width))
            for piece in pieces:
                piece.rstrip_end(width)
                piece.truncate(width, overflow="fold")
            lines.extend(pieces)
        justify = options.get("justify") or self.justify
        if justify in ("center", "right"):
            for line in lines:
                line.rstrip()  # a space left at a break would shift the line
            lines.justify(console, width, justify=justify, overflow="fold")
        return lines


def ja_block(text: str, style: str = "", justify: Any = None) -> Padding:
    """``text`` for a Static, wrapped by :func:`ja_breaks` (``justify="center"`` centres
    each line, as a widget's ``text-align`` would).

    Textual turns a bare rich ``Text`` into its own content (wrapped by whitespace);
    inside a rich renderable it stays rich text, and :class:`JaText` wraps it.
    """
    return Padding(JaText(text, style=style, justify=justify), 0)
