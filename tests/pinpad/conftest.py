"""Fixtures for the PIN pad: gpiozero's own MockFactory plus the matrix model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from .rig import Rig


@pytest.fixture(params=["4x3", "4x4"])
def rig(request: pytest.FixtureRequest, mock_factory: MockFactory) -> Iterator[Rig]:
    r = Rig(mock_factory, request.param)
    yield r
    r.pad.close()
