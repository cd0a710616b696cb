"""Key maps of the matrix keypads we support, row by row as printed on the pad."""

from __future__ import annotations

from collections.abc import Sequence

from madoguchi.errors import ConfigError

#: layout name -> rows of key labels (one character per key)
LAYOUTS: dict[str, tuple[str, ...]] = {
    "4x3": ("123", "456", "789", "*0#"),
    "4x4": ("123A", "456B", "789C", "*0#D"),
}


def resolve_keymap(layout: str, keymap: Sequence[str] = ()) -> tuple[str, ...]:
    """Return the rows of labels for ``layout``, or ``keymap`` if one is given.

    A custom ``keymap`` must have the layout's shape and no repeated label.

    :raises ConfigError: unknown layout, wrong shape, or a label used twice.
    """
    try:
        default = LAYOUTS[layout]
    except KeyError:
        valid = ", ".join(sorted(LAYOUTS))
        raise ConfigError(f"unknown keypad layout {layout!r}; valid: {valid}") from None
    rows = tuple(keymap) if keymap else default
    if len(rows) != len(default) or any(len(row) != len(default[0]) for row in rows):
        raise ConfigError(
            f"keymap for layout {layout} must have {len(default)} rows "
            f"of {len(default[0])} keys"
        )
    labels = "".join(rows)
    if len(set(labels)) != len(labels):
        raise ConfigError("keymap uses a key label twice")
    return rows
