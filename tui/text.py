"""Text helpers that count terminal cells, not characters.

A kanji or kana takes two cells, an ASCII letter one; ``len()`` would misalign
every Japanese label. These use :func:`rich.cells.cell_len`, the same measure
Textual renders with.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len, set_cell_size
from rich.table import Table


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
