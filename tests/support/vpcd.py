"""pytest plugin: a virtual My Number card in a real pcscd slot, through vpcd.

Registered in ``tests/conftest.py`` (``pytest_plugins``). Fixtures:

- ``sim_pki`` (session): one test PKI in a temporary directory, so RSA keys are generated once
  per test run.
- ``vpcd_card`` (function): ``attach(profile="standard", **options) -> AttachedCard``. It puts a
  card of that profile on vpcd, waits until pcscd reports it present, and at teardown takes it
  off and waits until pcscd reports the slot empty — a card reconnecting before pcscd's 400 ms
  poll saw it leave can leave the slot stuck at "removed" (test-stack.md, pitfall 3).

The port is ``$MADOGUCHI_VPCD_PORT`` or 35963 (reader ``Virtual PCD 00 00``; 35964 is
``… 00 01``). pcscd must already run (``./scripts/test`` starts it); without it the fixture
fails, it does not skip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from smartcard import scard

from drivers.simcard import VirtualCard, make_card
from drivers.simcard.pki import TestPki
from drivers.simcard.vpcd import VpcdCardClient

FIRST_VPCD_PORT = 35963
_START_HINT = "start it with scripts/pcscd start or run ./scripts/test"


def vpcd_port() -> int:
    """The vpcd port tests attach cards to."""
    return int(os.environ.get("MADOGUCHI_VPCD_PORT", FIRST_VPCD_PORT))


def reader_name_for(port: int) -> str:
    """vpcd names its slots ``Virtual PCD 00 NN`` in port order from 35963."""
    return f"Virtual PCD 00 {port - FIRST_VPCD_PORT:02d}"


@dataclass
class AttachedCard:
    """A virtual card attached to a pcscd slot."""

    reader_name: str
    card: VirtualCard
    client: VpcdCardClient
    _context: int = field(repr=False, default=0)

    def wait_present(self, present: bool = True, timeout: float = 10.0) -> None:
        """Block until pcscd reports the slot holding (or not holding) a card."""
        wait_for_slot(self._context, self.reader_name, present=present, timeout=timeout)


def pcsc_context(reader_name: str) -> int:
    """A PC/SC context in which ``reader_name`` exists; fails the test clearly otherwise."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        pytest.fail(f"pcscd is not running ({scard.SCardGetErrorMessage(hresult)}); {_START_HINT}")
    hresult, readers = scard.SCardListReaders(context, [])
    if hresult != scard.SCARD_S_SUCCESS or reader_name not in readers:
        scard.SCardReleaseContext(context)
        pytest.fail(
            f"pcscd has no reader {reader_name!r} (readers: {readers or 'none'}); "
            f"is vsmartcard-vpcd installed? {_START_HINT}"
        )
    return int(context)


def slot_has_card(context: int, reader_name: str) -> bool:
    """One look at the slot: does pcscd see a (powered-up, answering) card in it?"""
    hresult, states = scard.SCardGetStatusChange(
        context, 0, [(reader_name, scard.SCARD_STATE_UNAWARE)]
    )
    if hresult not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
        pytest.fail(f"asking pcscd about {reader_name!r}: {scard.SCardGetErrorMessage(hresult)}")
    event_state = states[0][1]
    return bool(event_state & scard.SCARD_STATE_PRESENT) and not (
        event_state & scard.SCARD_STATE_MUTE
    )


def wait_for_slot(context: int, reader_name: str, *, present: bool, timeout: float) -> None:
    """Poll pcscd until the slot is in the wanted state; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while slot_has_card(context, reader_name) != present:
        if time.monotonic() > deadline:
            what = "appear in" if present else "leave"
            pytest.fail(f"the virtual card did not {what} {reader_name!r} within {timeout} s")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def sim_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """The test PKI of this run (keys generated once, in a temporary directory)."""
    return TestPki.load_or_create(tmp_path_factory.mktemp("sim-pki"))


@pytest.fixture
def vpcd_card(sim_pki: TestPki) -> Iterator[Callable[..., AttachedCard]]:
    """Factory: ``attach(profile, **options)`` puts a virtual card in the vpcd slot."""
    port = vpcd_port()
    reader_name = reader_name_for(port)
    context = pcsc_context(reader_name)
    attached: list[AttachedCard] = []

    def attach(profile: str = "standard", **options: Any) -> AttachedCard:
        for previous in attached:
            previous.client.stop()
        if not attached and slot_has_card(context, reader_name):
            # Give a card from the previous test (or a stray vpcd client) time to leave.
            deadline = time.monotonic() + 10.0
            while slot_has_card(context, reader_name):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{reader_name!r} already holds a card: another vpcd client is "
                        f"attached to port {port} (a running 'madoguchi sim card'?)"
                    )
                time.sleep(0.05)
        wait_for_slot(context, reader_name, present=False, timeout=10.0)
        card = make_card(profile, pki_dir=sim_pki.directory, **options)
        client = VpcdCardClient(card, port=port)
        client.start()
        handle = AttachedCard(reader_name, card, client, context)
        attached.append(handle)
        wait_for_slot(context, reader_name, present=True, timeout=10.0)
        return handle

    try:
        yield attach
    finally:
        for handle in attached:
            handle.client.stop()
        try:
            if attached:
                wait_for_slot(context, reader_name, present=False, timeout=10.0)
        finally:
            scard.SCardReleaseContext(context)
