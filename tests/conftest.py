"""Fixtures shared by every test area.

Area fixtures live in ``tests/<area>/conftest.py``. Nothing here reads the
developer's own configuration or state: every test gets a private state dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

pytest_plugins = ["tests.support.vpcd", "tests.support.journald"]


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the state dir at tmp_path and hide any system configuration."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("MADOGUCHI_STATE_DIR", str(state))
    monkeypatch.delenv("MADOGUCHI_CONFIG", raising=False)
    # A test run started by systemd must not send the processes it starts to the journal
    # (madoguchi.logs); the journal tests set these themselves.
    for name in ("INVOCATION_ID", "JOURNAL_STREAM", "MADOGUCHI_JOURNAL_SOCKET"):
        monkeypatch.delenv(name, raising=False)
    return state


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """gpiozero's own MockFactory as the default pin factory, restored afterwards."""
    saved = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = saved
