"""Fixtures of the security audit: a log tap on every logger at DEBUG, anchors, a recorder."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from device.card.chip import TrustAnchors
from drivers.simcard.pki import TestPki
from drivers.transport.base import CardTransport
from tests.audit.leaks import LogTap, args_text, haystacks_of_dir

Haystacks = list[tuple[str, str | bytes]]


@dataclass
class Capture:
    """Everything a test's flows could have left a secret in, outside the objects themselves."""

    tap: LogTap
    caplog: pytest.LogCaptureFixture
    capsys: pytest.CaptureFixture[str]
    state_dir: Path

    def haystacks(self) -> Haystacks:
        """Log records (tap and caplog), stdout/stderr so far, every file in the state dir."""
        out, err = self.capsys.readouterr()
        found: Haystacks = [*self.tap.haystacks(), ("caplog", self.caplog.text)]
        found += [
            (f"caplog record {r.name}", f"{r.getMessage()} {args_text(r.args)}")
            for r in self.caplog.records
        ]
        found += [("stdout", out), ("stderr", err), *haystacks_of_dir(self.state_dir)]
        return found


@pytest.fixture
def tap(caplog: pytest.LogCaptureFixture) -> Iterator[LogTap]:
    """Every log record of the test, from every logger, at DEBUG (caplog is at DEBUG too)."""
    caplog.set_level(logging.DEBUG)
    handler = LogTap()
    handler.install()
    try:
        yield handler
    finally:
        handler.remove()


@pytest.fixture
def capture(
    tap: LogTap,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    _private_state: Path,
) -> Capture:
    """The log tap, caplog, captured output and the private state dir, scanned together."""
    return Capture(tap, caplog, capsys, _private_state)


@pytest.fixture
def state_dir(_private_state: Path) -> Path:
    """The test's private state dir (``MADOGUCHI_STATE_DIR``)."""
    return _private_state


@pytest.fixture
def anchors(sim_pki: TestPki) -> TrustAnchors:
    """Trust anchors of the run's test PKI (the virtual cards' CV certificates chain to it)."""
    return TrustAnchors.from_mapping(sim_pki.trust_anchors())


@dataclass
class Sent:
    """One C-APDU as the transport's backend saw it: header, length, and the object itself
    when it carries a key value (so the test can check it was wiped)."""

    header: bytes
    length: int
    secret_buffer: bytes | bytearray | None = field(default=None, repr=False)

    @property
    def is_query(self) -> bool:
        """An empty VERIFY: the tries-left query."""
        return self.header[1] == 0x20 and self.length == 4

    @property
    def carries_key(self) -> bool:
        """VERIFY with data, CHANGE REFERENCE DATA or CHANGE KEY."""
        return self.header[1] in (0x20, 0x24, 0x32) and self.length > 4


class ApduRecorder:
    """Watches the backend side of a real transport (it forwards every call unchanged)."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def watch(self, transport: CardTransport) -> CardTransport:
        backend = transport._transmit_raw

        def recording(apdu: bytes | bytearray) -> bytes:
            entry = Sent(bytes(apdu[:4]), len(apdu))
            if entry.carries_key:
                entry.secret_buffer = apdu
            self.sent.append(entry)
            return backend(apdu)

        transport._transmit_raw = recording  # type: ignore[method-assign]
        return transport

    def key_commands(self) -> list[Sent]:
        """Every command that carried a key value."""
        return [s for s in self.sent if s.carries_key]


@pytest.fixture
def recorder() -> ApduRecorder:
    return ApduRecorder()
