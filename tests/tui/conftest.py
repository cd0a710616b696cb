"""Fixtures for the clerk UI and operator accounts: a real SQLite file, a steppable clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from device.operators import KdfParams, OperatorStore, open_operator_db

#: Cheap scrypt parameters for tests (the defaults cost ~0.3 s per hash; one test
#: covers them). Still the real scrypt from ``cryptography``.
FAST_KDF = KdfParams(n=2**4, r=8, p=1)


class StepClock:
    """A clock the test moves by hand (monotonic and wall time move together)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.start = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t - 1000.0)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def operator_db(tmp_path: Path) -> Iterator[Any]:
    db = open_operator_db(str(tmp_path / "operators.sqlite3"))
    yield db
    db.conn.close()


@pytest.fixture
def operators(operator_db: Any, clock: StepClock) -> OperatorStore:
    return OperatorStore(
        operator_db, clock=clock, kdf=FAST_KDF, max_failures=3, idle_timeout_s=60.0
    )


@pytest.fixture(scope="session")
def sim_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulator PKI for the whole run (generating it takes about a second)."""
    return tmp_path_factory.mktemp("sim-pki")


def make_services(
    state: Path,
    *,
    clock: StepClock,
    pki_dir: Path,
    demo: bool = True,
    procedures: tuple[tuple[str, str], ...] | None = None,
    profile: str = "standard",
    pin_pad: Any = None,
    indicators: Any = None,
    test_terminal: bool = True,
    new_pins_at_issuance: bool = False,
    **card_options: Any,
) -> Any:
    """The real composition (sim reader, SQLite store, operator accounts) for UI tests."""
    from device.store import Store
    from drivers import open_keypad, open_reader
    from madoguchi.commands.demo import ApplianceServices, ensure_demo_operator

    state.mkdir(parents=True, exist_ok=True)
    operators = OperatorStore(
        open_operator_db(str(state / "operators.sqlite3")),
        clock=clock, kdf=FAST_KDF, max_failures=3, idle_timeout_s=300.0,
    )
    if demo:
        ensure_demo_operator(operators)
    else:
        operators.add("clerk01", "counter-pass-01", display_name="窓口 一郎")
    return ApplianceServices(
        reader=open_reader("sim", profile=profile, pki_dir=pki_dir, **card_options),
        operators=operators,
        store=Store(state / "madoguchi.sqlite3"),
        clock=clock,
        keypad_rows=("123", "456", "789", "*0#"),
        keypad_backend="keyboard",
        pin_pad=pin_pad if pin_pad is not None else open_keypad("keyboard"),
        indicators=indicators,
        demo=demo,
        pki_dir=pki_dir,
        procedures=None if procedures is None else (lambda _language: procedures),
        # the sim reader is the virtual card: its test terminal writes reset PINs, as
        # `madoguchi demo` does; False models a counter (the J-LIS terminal writes them)
        test_terminal=test_terminal,
        new_pins_at_issuance=new_pins_at_issuance,
    )


@pytest.fixture
def services(_private_state: Path, clock: StepClock, sim_pki: Path) -> Iterator[Any]:
    svc = make_services(_private_state, clock=clock, pki_dir=sim_pki)
    yield svc
    svc.close()


@pytest.fixture
def state_dir(_private_state: Path) -> Path:
    """The private ``$MADOGUCHI_STATE_DIR`` of this test."""
    return _private_state
