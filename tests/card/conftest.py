"""Fixtures of the card-session tests: one test PKI per run, virtual cards in process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from device.card.chip import TrustAnchors
from device.card.session import CardSession
from drivers.simcard.pki import TestPki
from drivers.transport.sim import SimReader


@pytest.fixture(scope="session")
def card_pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("card-pki")
    TestPki.load_or_create(directory)
    return directory


@pytest.fixture(scope="session")
def anchors(card_pki_dir: Path) -> TrustAnchors:
    return TrustAnchors.from_mapping(TestPki.load_or_create(card_pki_dir).trust_anchors())


@pytest.fixture
def sim_session(card_pki_dir: Path) -> Iterator[Callable[..., tuple[SimReader, CardSession]]]:
    """Factory: ``sim_session(profile, **options)`` -> (reader, session on a fresh card)."""
    opened: list[SimReader] = []

    def make(profile: str = "standard", **options: Any) -> tuple[SimReader, CardSession]:
        reader = SimReader(profile=profile, pki_dir=card_pki_dir, **options)
        opened.append(reader)
        return reader, CardSession(reader.connect())

    yield make
    for reader in opened:
        reader.close()
