"""Fixtures for the PIN pad: gpiozero's own MockFactory plus the matrix model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from .rig import Rig


@pytest.fixture
def mock_factory() -> Iterator[MockFactory]:
    """A fresh MockFactory as the default, restored afterwards (gpiozero's pattern)."""
    saved = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = saved



@pytest.fixture(params=["4x3", "4x4"])
def rig(request: pytest.FixtureRequest, mock_factory: MockFactory) -> Iterator[Rig]:
    r = Rig(mock_factory, request.param)
    yield r
    r.pad.close()
