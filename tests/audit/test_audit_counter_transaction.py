"""One whole counter transaction, pad to server: the applicant types PINs on the GPIO pad
(gpiozero MockFactory) and on the keyboard stand-in, the card verifies them, the procedure
engine decides, the store keeps the record and the outbox, and the uploader syncs it to a
real server process on loopback. No secret may reach any log, output, file (SQLite with its
WAL, byte for byte, on the device and on the server), HTTP body, exception or repr."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from gpiozero.pins.mock import MockFactory

from device.card.chip import TrustAnchors
from device.card.errors import WrongPinError
from device.card.layout import PinKind
from device.card.pins import PinStatus
from device.card.reading import identity_check, tap_to_ready
from device.card.session import CardSession
from device.pin_entry import (
    CARD_INPUT_ASSIST_PIN,
    USER_AUTH_PIN,
    PinEntry,
    PinEntryEvent,
    PinHandle,
    PinSpec,
)
from device.procedures import Session
from device.records import CertificateAction, find_forbidden_data
from device.store import Store
from drivers.keypad.keyboard import KeyboardKeypad
from drivers.simcard.pki import TestPki
from drivers.transport.sim import SimReader
from sync import pki
from sync.client import SyncClient
from sync.localserver import LocalServer
from sync.uploader import Uploader
from tests.audit.conftest import ApduRecorder, Capture
from tests.audit.flows import WRONG_DIGITS, card_secrets
from tests.audit.leaks import exception_text, haystacks_of_dir, reprs
from tests.pinpad.rig import Rig

CASE = Path(__file__).resolve().parents[2] / "docs" / "cases" / "2-1-1-continue-pin.json"




class Applicant:
    """PIN entries on one card session: each finished PIN goes to one VERIFY."""

    def __init__(self, session: CardSession) -> None:
        self.session = session
        self.entries: list[PinEntry] = []
        self.handles: list[PinHandle] = []
        self.opened: list[bytearray] = []
        self.events: list[PinEntryEvent] = []
        self.statuses: list[PinStatus] = []
        self.errors: list[BaseException] = []
        self.live_reprs: list[str] = []

    def entry(self, spec: PinSpec, kind: PinKind, pad: Any) -> PinEntry:
        def on_complete(handle: PinHandle) -> None:
            self.handles.append(handle)
            self.live_reprs.append(f"{handle!r} {entry!r}")
            with handle.open() as pin:
                self.opened.append(pin)
                # While the PIN is live: what a log line or a traceback would show.
                self.live_reprs.append(f"{handle!r} {entry!r} {entry.spec!r}")
                try:
                    self.statuses.append(self.session.verify(kind, pin))
                except WrongPinError as exc:  # the UI shows the tries left, then asks again
                    self.errors.append(exc)

        entry = PinEntry(spec, on_event=self.events.append, on_complete=on_complete, pad=pad)
        self.entries.append(entry)
        entry.start()
        return entry

    def all_wiped(self) -> bool:
        buffers = [*self.opened, *(h.raw() for h in self.handles),
                   *(e.buffer_bytes() for e in self.entries)]
        return bool(self.opened) and all(b == bytearray(len(b)) for b in buffers)


def _answers() -> dict[str, Any]:
    """The case file's facts as step key -> value."""
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value

    walk(json.loads(CASE.read_text(encoding="utf-8"))["facts"], "")
    return flat


def test_counter_transaction_from_pad_to_server_leaks_nothing(
    capture: Capture,
    recorder: ApduRecorder,
    anchors: TrustAnchors,
    sim_pki: TestPki,
    mock_factory: MockFactory,
    tmp_path: Path,
) -> None:
    reader = SimReader(pki_dir=sim_pki.directory)
    assert reader.card is not None
    facts = reader.card.facts
    secrets = card_secrets(facts)
    transport = recorder.watch(reader.connect())
    session = CardSession(transport)
    ready = tap_to_ready(session)
    applicant = Applicant(session)

    # The GPIO matrix pad: a wrong 利用者証明用 PIN, then the right one.
    rig = Rig(mock_factory, "4x3")
    assert facts.auth_pin is not None
    for typed in (WRONG_DIGITS, facts.auth_pin):
        applicant.entry(USER_AUTH_PIN, PinKind.JPKI_AUTH, rig.pad)
        for key in (*typed, "#"):
            rig.tap(key)
    rig.pad.close()
    # The keyboard stand-in: the 入力補助 PIN.
    keyboard = KeyboardKeypad()
    applicant.entry(CARD_INPUT_ASSIST_PIN, PinKind.SUPPORT, keyboard)
    assert facts.support_pin is not None
    for key in (*facts.support_pin, "enter"):
        assert keyboard.feed(key)
    keyboard.close()
    assert [type(e).__name__ for e in applicant.errors] == ["WrongPinError"]
    assert len(applicant.statuses) == 2
    assert applicant.all_wiped(), "a PIN buffer, handle or entry buffer was not wiped"
    assert all(s.secret_buffer == bytearray(s.length) for s in recorder.key_commands())
    # One key is one PIN digit: a key event must not show its label (the scan below looks
    # for whole PINs, so check each event by itself; its timestamp may hold any digit).
    assert len(rig.events) >= 16
    for event in rig.events:
        assert event.key not in repr(event).split("monotonic=")[0], "a KeyEvent shows its key"
        assert event.key not in str(event).split("monotonic=")[0], "a KeyEvent shows its key"

    b_code = bytearray(facts.verification_code_b.encode())
    report = identity_check(session, b_code, anchors)
    assert report.genuine is True
    assert b_code == bytearray(len(b_code))
    session.logout()
    transport.close()

    # The procedure engine decides and writes the record; the store keeps it.
    engine = Session.start("2-1-1", "self", date(2026, 6, 1), operator_id="op-7",
                           office_code="131016", clock=lambda: datetime(2026, 6, 1, tzinfo=UTC))
    answers = _answers()
    while (step := engine.next_step()) is not None:
        engine.record(step.key, answers[step.key])
    record = engine.complete(certificates=[CertificateAction("auth", "issued", "A-0001")])
    store = Store(capture.state_dir / "device.sqlite3")
    item = store.record_transaction(record)
    assert find_forbidden_data(item.payload) is None

    # The uploader sends it to a real server; the request bodies are kept for the scan.
    server_dir, tls = tmp_path / "server", capture.state_dir / "tls"
    pki.init_server_pki(server_dir)
    server = LocalServer(str(server_dir / "server.sqlite3"), server_dir)
    bodies: list[bytes] = []
    server.start()
    try:
        server.enrol(tls)
        client = SyncClient(server.url, tls)
        hooks: list[Callable[[httpx.Request], None]] = [lambda r: bodies.append(r.read())]
        client._http.event_hooks = {"request": hooks}
        result = Uploader(store, client).send_round()
        client.close()
    finally:
        server.stop()
    assert result.acked == 1, result
    assert any(b"A-0001" in body for body in bodies), "the record's body was not captured"

    def scan() -> None:
        secrets.assert_clean([
            *capture.haystacks(),
            *haystacks_of_dir(server_dir),
            *((f"HTTP body {n}", body) for n, body in enumerate(bodies)),
            ("outbox payload", json.dumps(item.payload, ensure_ascii=False)),
            *(("repr while the PIN was live", text) for text in applicant.live_reprs),
            *((f"exception {type(e).__name__}", exception_text(e)) for e in applicant.errors),
            *reprs(ready, report, record, item, session, reader, rig.events, applicant.events,
                   *applicant.entries, *applicant.handles, *applicant.statuses),
        ])

    assert (capture.state_dir / "device.sqlite3-wal").exists(), "no WAL to scan"
    scan()  # with the WAL file still there
    store.close()
    scan()  # and after the checkpoint
