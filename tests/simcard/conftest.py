"""Fixtures for the virtual-card tests: fresh cards on the session's test PKI."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import pytest

from drivers.simcard import VirtualCard, make_card
from drivers.simcard.filesystem import AppName, BinaryFile
from drivers.simcard.pki import TestPki

from .apdus import split


class ApduSender(ABC):
    """Sends C-APDUs somewhere; ``sw`` and ``ok`` are the tests' shorthands."""

    @abstractmethod
    def __call__(self, apdu: bytes) -> tuple[bytes, int]:
        """(data, SW) of one exchange."""

    def sw(self, apdu: bytes) -> int:
        return self(apdu)[1]

    def ok(self, apdu: bytes) -> bytes:
        data, sw = self(apdu)
        assert sw == 0x9000, f"{apdu[:4].hex()} -> {sw:04X}"
        return data


class CardDriver(ApduSender):
    """Sends APDUs to an in-process card."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card

    def __call__(self, apdu: bytes) -> tuple[bytes, int]:
        return split(self.card.process(apdu))

    def read_file(self, fid: int) -> bytes:
        """SELECT the EF and read it whole in 256-byte chunks, as the libraries do."""
        self.ok(bytes([0x00, 0xA4, 0x02, 0x0C, 0x02]) + fid.to_bytes(2, "big"))
        out = b""
        while True:
            data, sw = self(bytes([0x00, 0xB0, len(out) >> 8, len(out) & 0xFF, 0x00]))
            if sw == 0x6B00:
                return out
            assert sw == 0x9000, f"READ {fid:04X} at {len(out)} -> {sw:04X}"
            out += data
            if len(data) < 256:
                return out


def big_file_card(card: CardDriver, size: int = 70_000) -> VirtualCard:
    """A standard card whose JPKI-AP also holds a ``size``-byte EF ``0100`` (free to read)."""
    image = card.card._image
    apps = tuple(
        dataclasses.replace(app, files={**app.files, 0x0100: BinaryFile(bytes(range(256)) * (
            size // 256) + bytes(size % 256))})
        if app.name is AppName.JPKI else app
        for app in image.applications
    )
    return VirtualCard(dataclasses.replace(image, applications=apps), card.card.facts)


@pytest.fixture
def new_card(sim_pki: TestPki) -> Callable[..., CardDriver]:
    """Factory: ``new_card(profile="standard", **options)`` -> a driver around a fresh card."""

    def make(profile: str = "standard", **options: Any) -> CardDriver:
        return CardDriver(make_card(profile, pki_dir=sim_pki.directory, **options))

    return make


@pytest.fixture
def std(new_card: Callable[..., CardDriver]) -> CardDriver:
    """A fresh standard card."""
    return new_card("standard")
