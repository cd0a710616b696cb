"""Small helpers shared by the updater tests (not fixtures)."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

#: The development venv's commands, and its site-packages (what app-only bundles run against).
DEV_BIN = Path(sys.executable).parent
EXTRA_SITE = Path(sysconfig.get_paths()["purelib"])


def snapshot(root: Path) -> dict[str, tuple[str, int | str]]:
    """Every path under ``root`` with its kind and size or link target."""
    result: dict[str, tuple[str, int | str]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            result[rel] = ("link", str(path.readlink()))
        elif path.is_file():
            result[rel] = ("file", path.stat().st_size)
        else:
            result[rel] = ("dir", 0)
    return result


def update_dir(state: Path) -> Path:
    """The updater's own state beside the app's ``state`` (``updater.statedir``'s default)."""
    return state.with_name(f"{state.name}-update")
