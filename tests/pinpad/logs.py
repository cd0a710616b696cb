"""Reading captured log records the way a leak check needs them."""

from __future__ import annotations

import re

import pytest


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every record's message and attached traceback, object addresses blanked."""
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    return re.sub(r"0x[0-9a-fA-F]+", "<addr>", text)  # object addresses in reprs


def without_frames(text: str) -> str:
    """``text`` without traceback frames: they are file names, line numbers and source
    code, which hold digits of their own but never a value."""
    kept = []
    in_frame = False
    for line in text.splitlines():
        if line.startswith('  File "'):
            in_frame = True
            continue
        if in_frame and line.startswith("    "):
            continue
        in_frame = False
        kept.append(line)
    return "\n".join(kept)
