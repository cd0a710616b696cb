"""``madoguchi device``: not built yet (see the issue that owns this area)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Adds nothing until the area lands."""
