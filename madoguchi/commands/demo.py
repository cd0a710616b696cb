"""``madoguchi demo``: the whole appliance in one process on embedded defaults.

What ``./scripts/demo`` runs: the virtual My Number card on the in-process
``sim`` reader (profile switchable from the demo menu, key ``M``), the keyboard
standing in for the PIN pad, and the local SQLite files under
``$MADOGUCHI_STATE_DIR``. On first run it creates the demo operator
(:data:`DEMO_OPERATOR_ID` / :data:`DEMO_PASSWORD`), whose credentials the login
screen shows in the demo only.

This module is also the composition root of the clerk's UI: :class:`ApplianceServices`
adapts the real reader, card layer, store and operator accounts to
:class:`tui.services.CounterServices`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from device.operators import (
    Clock,
    OperatorExistsError,
    OperatorSession,
    OperatorStore,
    SystemClock,
    open_operator_db,
)
from device.private_files import private_dir
from drivers.transport.base import CardPresence, CardReader, ReaderEvent
from madoguchi.commands.operator import OPERATORS_FILE
from madoguchi.config import (
    Config,
    RulesConfig,
    SyncConfig,
    default_state_dir,
    user_state_dir,
)
from madoguchi.errors import ConfigError, MadoguchiError, ReaderError
from madoguchi.lifecycle import StopGuard
from tui.local_time import DEFAULT_TIMEZONE
from tui.local_time import zone as time_zone
from tui.services import (
    CardStatus,
    HealthItem,
    HistoryEntry,
    HistoryPage,
    IdentityView,
    KeyboardFed,
    PinPad,
    PinVerifyResult,
    PinView,
    Presence,
    ReaderState,
    ReaderTestResult,
    SyncState,
)

if TYPE_CHECKING:  # the store (sqlite-utils) and the engine load only when the demo runs
    from device.procedures import Session
    from device.procedures.certificates import CardCertificates
    from device.records import CertificateAction, TransactionRecord
    from device.store import Store

log = logging.getLogger(__name__)

#: The demo operator, created on first run. Shown on the login screen in the demo only.
DEMO_OPERATOR_ID = "demo"
#: The demo operator's documented password (docs/tui.md). Never valid on a real counter,
#: because a real counter has no demo account.
DEMO_PASSWORD = "madoguchi-demo"  # noqa: S105 - documented demo credential

#: SELECT of the JPKI application by DF name: what the reader test sends and times.
JPKI_SELECT = bytes.fromhex("00A4040C0AD392F000260100000001")

_PRESENCE = {
    CardPresence.ABSENT: Presence.ABSENT,
    CardPresence.PRESENT: Presence.PRESENT,
    CardPresence.READER_GONE: Presence.READER_GONE,
}


def _state_from_event(event: ReaderEvent) -> ReaderState:
    return ReaderState(
        event.reader, _PRESENCE[event.presence], event.atr.hex(" ").upper() if event.atr else ""
    )


class ApplianceServices:
    """The UI's view of the real parts: reader, store, operators (and, later, card/engine).

    Args:
        reader: the card reader backend (``sim`` in the demo, ``pcsc`` on a counter).
        operators: the operator accounts.
        store: the local transaction store and outbox.
        clock: the clock the operator sessions use.
        keypad_rows: the PIN pad's keys, row by row.
        keypad_backend: ``"keyboard"`` or ``"gpio"``; shown in device health.
        pin_pad: the applicant's PIN pad (a ``drivers.keypad`` backend).
        demo: when True the login screen shows the demo credentials and the demo
            menu offers the virtual-card profiles.
        pki_dir: the simulator's PKI cache (demo only).
        procedures: ``language -> [(id, title)]`` for the picker; by default the
            procedure engine's catalogue (:func:`engine_procedures`).
        effective_date: when the amended (改正後) rules apply (``[rules]``).
        rules: the ``[rules]`` section; its policies (fees, U10, U11 …) decide each
            procedure. ``None``: the engine's defaults.
        office_code: the office every procedure's record names (``[sync] office_code``).
        issuer: blocking: issues one certificate of a kind (``"sign"``/``"auth"``) and
            returns its serial (the demo's simulated issuing authority); ``None`` where
            the certificates are issued outside this appliance. Settable later.
        zone: the office's time zone (``[ui] timezone``, Asia/Tokyo by default): the
            counter's date is read in it (:meth:`today`).
        pin_timeouts: the PIN prompt's limits in seconds, overall and between keys
            (``[keypad] pin_overall_timeout_s``, ``pin_inter_key_timeout_s``).
        indicators: the pad's LEDs and buzzer (a ``drivers.indicators`` backend);
            ``None``: none fitted.
        test_terminal: PINs written without the current one (暗証番号の初期化・再設定)
            are written here, on the virtual card, under its modelled test terminal key
            (``[reader] pin_writer``); otherwise the step is handed to the J-LIS terminal.
        new_pins_at_issuance: an issuance guides its new PINs here (``[ui]``).
    """

    def __init__(
        self,
        *,
        reader: CardReader,
        operators: OperatorStore,
        store: Store,
        clock: Clock,
        keypad_rows: Sequence[str],
        keypad_backend: str,
        pin_pad: Any,
        demo: bool = False,
        pki_dir: Path | None = None,
        procedures: Callable[[str], Sequence[tuple[str, str]]] | None = None,
        effective_date: dt.date = dt.date(2026, 4, 1),
        rules: RulesConfig | None = None,
        office_code: str = "",
        issuer: Callable[[str], str] | None = None,
        zone: dt.tzinfo | None = None,
        pin_timeouts: tuple[float, float] = (60.0, 60.0),
        indicators: Any = None,
        test_terminal: bool = False,
        new_pins_at_issuance: bool = False,
    ) -> None:
        self.reader = reader
        self._test_terminal = test_terminal
        self._new_pins_at_issuance = new_pins_at_issuance
        self._indicators = indicators
        self._pin_timeouts = pin_timeouts
        self.zone = zone if zone is not None else time_zone(DEFAULT_TIMEZONE)
        self.office_code = office_code
        self.issuer = issuer
        #: Blocking: sets a card's 運用状況 on the central server ``(card_id, status,
        #: reason)``; ``None`` where this appliance has no server client (the clerk
        #: changes it on the 統合端末). The demo sets it with its local server.
        self.card_registry: Callable[[str, str, str], None] | None = None
        self._operators = operators
        self.store = store
        self._clock = clock
        self._keypad_rows = [list(row) for row in keypad_rows]
        self._keypad_backend = keypad_backend
        self._pin_pad = pin_pad
        self._demo = demo
        self._pki_dir = pki_dir
        self._procedures = procedures
        self._effective_date = effective_date
        self._rules = rules
        # One card conversation at a time: a card read, a PIN-counter read and a
        # VERIFY from different workers must not interleave their SELECTs.
        self._card_lock = threading.RLock()

    def today(self) -> dt.date:
        """The counter's date: the clock (UTC) read in the office's zone.

        Procedures are dated, rule versions chosen and the 6-month grace counted by the
        local calendar day: at 08:30 JST the counter is on the next day while UTC is
        still on the previous one.
        """
        return self._clock.now().astimezone(self.zone).date()

    # -- CounterServices --------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def operators(self) -> OperatorStore:
        return self._operators

    @property
    def demo_password(self) -> str | None:
        return f"ID {DEMO_OPERATOR_ID} / {DEMO_PASSWORD}" if self._demo else None

    @property
    def demo_profiles(self) -> Sequence[str]:
        if not self._demo:
            return ()
        from drivers.simcard import PROFILES

        return tuple(PROFILES)

    def reader_state(self) -> ReaderState:
        try:
            presence = self.reader.presence()
        except ReaderError:
            return ReaderState(self._reader_name(), Presence.READER_GONE)
        atr = ""
        if presence is CardPresence.PRESENT:
            atr = self._atr_hex()
        return ReaderState(self._reader_name(), _PRESENCE[presence], atr)

    def wait_reader_change(self, timeout: float) -> ReaderState | None:
        event = self.reader.wait_for_change(timeout)
        return None if event is None else _state_from_event(event)

    def read_card_status(self) -> CardStatus:
        from device.card.identity import card_identity
        from device.card.kind import classify
        from device.card.reading import tap_to_ready
        from device.card.session import CardSession

        # Tap-to-ready: token, expiry, every PIN's tries left; no PIN, no try spent.
        # The card's identity too (its free-to-read certificate), so a swap is noticed.
        with self._card_lock, self.reader.connect() as transport:
            atr = transport.atr
            card = CardSession(transport)
            ready = tap_to_ready(card)
            identity = card_identity(card, ready, atr)
        classification = classify(ready, today=self.today())
        pins = tuple(
            PinView(kind.value, status.state.value, status.remaining)
            for kind, status in ready.pins.items()
            if status is not None
        )
        return CardStatus(
            presence=Presence.PRESENT,
            atr_hex=atr.hex(" ").upper(),
            kind=classification.kind.value,
            token_name=ready.token.name if ready.token is not None else None,
            expiry=ready.expiry.isoformat() if ready.expiry is not None else None,
            conditions=tuple(c.value for c in classification.conditions),
            pins=pins,
            uncertain=len(classification.uncertain),
            identity=identity,
        )

    def reader_test(self) -> ReaderTestResult:
        name = self._reader_name()
        try:
            presence = self.reader.presence()
            if presence is not CardPresence.PRESENT:
                return ReaderTestResult(ok=True, reader=name, presence=_PRESENCE[presence])
            with self._card_lock, self.reader.connect() as transport:
                started = time.perf_counter()
                transport.transmit(JPKI_SELECT)
                elapsed_ms = (time.perf_counter() - started) * 1000.0
                atr = transport.atr.hex(" ").upper()
        except MadoguchiError as exc:
            return ReaderTestResult(
                ok=False, reader=name, presence=Presence.UNKNOWN, error=str(exc)
            )
        return ReaderTestResult(
            ok=True, reader=name, presence=Presence.PRESENT, atr_hex=atr,
            round_trip_ms=elapsed_ms,
        )

    def sync_state(self) -> SyncState:
        status = self.store.uploader_status()
        return SyncState(
            queued=status.queue_length,
            quarantined=status.quarantined,
            # Before the uploader's first attempt nobody knows whether the server is up.
            server_reachable=status.server_reachable if status.last_attempt else None,
            last_success=status.last_success,
            last_error=status.last_error,
        )

    def device_health(self) -> Sequence[HealthItem]:
        items: list[HealthItem] = []
        try:
            gone = self.reader.presence() is CardPresence.READER_GONE
            items.append(HealthItem("health.reader", not gone, self._reader_name()))
        except ReaderError as exc:
            items.append(HealthItem("health.reader", False, type(exc).__name__))
        try:
            self.store.queue_length()
            items.append(HealthItem("health.store", True, self.store.path.name))
        except MadoguchiError as exc:
            items.append(HealthItem("health.store", False, type(exc).__name__))
        count = len(self._operators.operator_ids())
        items.append(HealthItem("health.operators", count > 0, str(count)))
        items.append(HealthItem("health.keypad", True, self._keypad_backend))
        return items

    def procedures(self, language: str) -> Sequence[tuple[str, str]]:
        source = self._procedures if self._procedures is not None else engine_procedures
        return source(language)

    def procedure_actors(self, procedure_id: str) -> Sequence[str]:
        from device.procedures import procedure

        return [actor.value for actor in procedure(procedure_id).actors]

    def start_procedure(self, procedure_id: str, actor: str, *, operator_id: str) -> Session:
        from device.procedures import Session
        from device.procedures.policies import policies_from_config

        return Session.start(
            procedure_id, actor, self.today(),
            effective_date=self._effective_date, operator_id=operator_id,
            office_code=self.office_code, clock=self._clock.now,
            policies=None if self._rules is None else policies_from_config(self._rules),
        )

    def record_transaction(self, record: TransactionRecord) -> None:
        self.store.record_transaction(record)
        # The journal's MADOGUCHI_TRANSACTION_ID finds it again (no personal data here).
        log.info("transaction %s recorded: procedure %s, %s", record.transaction_id,
                 record.procedure, record.decision.value,
                 extra={"transaction_id": record.transaction_id})

    def certificate_actions(
        self, session: Session, *, issued: dict[str, str]
    ) -> Sequence[CertificateAction]:
        from device.procedures import certificates as planned

        evaluation = session.evaluation
        # Read the card only when something comes of it: a revocation, or an issuance
        # that this appliance drives (the demo's issuing authority).
        wanted = planned.revokes_card_certificates(evaluation) or (
            self.issuer is not None and bool(planned.kinds_to_issue(evaluation))
        )
        card = self._card_certificates() if wanted else None
        return planned.certificate_actions(evaluation, card, self.issuer, issued)

    def set_operation_status(
        self, session: Session, certificates: Sequence[CertificateAction]
    ) -> bool:
        from device.procedures import certificates as planned

        status = planned.operation_status_to_set(session.evaluation)
        card_id = planned.card_registry_id(certificates)
        if status is None or self.card_registry is None or not card_id:
            return False
        self.card_registry(card_id, status, f"第4-3 {session.info.id}")
        return True

    def _card_certificates(self) -> CardCertificates:
        """The card's certificate flags and its 利用者証明用 serial; no PIN, no try spent."""
        from device.card import layout
        from device.card.data import parse_certificate_presence
        from device.card.layout import Application
        from device.card.reading import read_certificate
        from device.card.session import CardSession
        from device.procedures.certificates import CardCertificates

        with self._card_lock, self.reader.connect() as transport:
            card = CardSession(transport)
            flags = parse_certificate_presence(card.read_exact(
                Application.JPKI, layout.JPKI_CERT_PRESENCE, layout.CERT_PRESENCE_LENGTH
            ))
            serial = ""
            if flags.auth:
                serial = format(read_certificate(card, layout.JPKI_AUTH_CERT).serial_number, "x")
        return CardCertificates(sign=flags.sign, auth=flags.auth, auth_serial=serial)

    def today_records(self) -> Sequence[TransactionRecord]:
        return self.store.records_on(self.today().isoformat())

    def history_page(self, *, offset: int, limit: int) -> HistoryPage:
        stored, total = self.store.history(offset=offset, limit=limit)
        entries = tuple(
            HistoryEntry(
                seq=r.seq, completed_at=str(r.payload.get("completed_at", "")),
                procedure=str(r.payload.get("procedure", "")),
                decision=str(r.payload.get("decision", "")),
                operator_id=str(r.payload.get("operator_id", "")), sync=r.sync_state,
                abandonment_reason=str(r.payload.get("abandonment_reason") or ""),
            )
            for r in stored
        )
        return HistoryPage(entries, total)

    def switch_profile(self, profile: str) -> None:
        if not self._demo:
            raise ConfigError("virtual-card profiles exist only in the demo")
        from drivers.simcard import make_card

        card = make_card(profile, pki_dir=self._pki_dir)
        sim: Any = self.reader
        sim.remove()
        sim.insert(card)

    @property
    def pin_pad(self) -> PinPad:
        pad: PinPad = self._pin_pad
        return pad

    @property
    def pin_timeouts(self) -> tuple[float, float]:
        return self._pin_timeouts

    def tell_applicant(self, state: str | None) -> None:
        indicators = self._indicators
        if indicators is None:
            return
        try:
            if state is None:
                indicators.off()
            else:
                indicators.show(state)
        except ValueError:
            raise  # an unknown state name is this program's bug
        except Exception:  # gpiozero's errors: a lamp must never stop a PIN entry
            log.warning("indicators failed to show %s", state, exc_info=True)

    def pin_status(self, pin: str) -> PinView:
        from device.card.layout import PinKind
        from device.card.session import CardSession

        with self._card_lock, self.reader.connect() as transport:
            status = CardSession(transport).pin_status(PinKind(pin))
        return PinView(pin, status.state.value, status.remaining)

    def verify_pin(
        self, pin: str, secret: bytearray, *, confirm_last_try: bool
    ) -> PinVerifyResult:
        from device.card.layout import PinKind
        from device.card.session import CardSession

        try:
            with self._card_lock, self.reader.connect() as transport:
                # The session reads the tries left right before the VERIFY and wipes
                # ``secret`` whatever happens.
                status = CardSession(transport).verify(
                    PinKind(pin), secret, confirm_last_try=confirm_last_try
                )
        except MadoguchiError as exc:
            outcome, remaining, detail = verify_failure(exc)
            return PinVerifyResult(pin, outcome, remaining, detail)
        finally:
            secret[:] = bytes(len(secret))
        return PinVerifyResult(pin, "verified", status.remaining)

    def change_pin(
        self, pin: str, current: bytearray, new: bytearray, *, confirm_last_try: bool
    ) -> PinVerifyResult:
        from device.card.errors import PinChangeUncertainError
        from device.card.layout import PinKind
        from device.card.pin_writer import CardPinWriter

        writer = CardPinWriter(self.reader.connect, lock=self._card_lock)
        try:
            # Wipes both buffers whatever happens; tries read right before the VERIFY.
            status = writer.change(
                PinKind(pin), current, new, confirm_last_try=confirm_last_try
            )
        except PinChangeUncertainError:
            return PinVerifyResult(pin, "uncertain")
        except MadoguchiError as exc:
            outcome, remaining, detail = verify_failure(exc)
            return PinVerifyResult(pin, outcome, remaining, detail)
        finally:
            current[:] = bytes(len(current))
            new[:] = bytes(len(new))
        return PinVerifyResult(pin, "changed", status.remaining)

    @property
    def pin_writer_kind(self) -> str:
        return "test_terminal" if self._test_terminal else "jlis"

    @property
    def new_pins_at_issuance(self) -> bool:
        return self._new_pins_at_issuance

    def _pin_writer(self) -> Any:
        from device.card.pin_writer import CardPinWriter, TestTerminalPinWriter

        if self._test_terminal:
            from drivers.simcard import TEST_TERMINAL_KEY

            return TestTerminalPinWriter(self.reader.connect, TEST_TERMINAL_KEY,
                                         lock=self._card_lock)
        return CardPinWriter(self.reader.connect, lock=self._card_lock)

    def initialise_pin(self, pin: str, new: bytearray | None) -> PinVerifyResult:
        from device.card.errors import PinChangeUncertainError
        from device.card.layout import PinKind

        try:
            # Wipes ``new`` whatever happens; a counter's writer sends nothing at all.
            outcome = self._pin_writer().initialise(PinKind(pin), new)
        except PinChangeUncertainError:
            return PinVerifyResult(pin, "uncertain")
        except MadoguchiError as exc:
            _, remaining, detail = verify_failure(exc)
            return PinVerifyResult(pin, "error", remaining, detail or type(exc).__name__)
        finally:
            if new is not None:
                new[:] = bytes(len(new))
        return PinVerifyResult(pin, outcome.value)

    def identity_check(
        self, collation_b: bytearray, *, confirm_last_try: frozenset[str]
    ) -> IdentityView:
        from device.card.layout import PinKind
        from device.card.reading import identity_check
        from device.card.session import CardSession

        try:
            with self._card_lock, self.reader.connect() as transport:
                session = CardSession(transport)
                # Wipes ``collation_b`` on every path; never reads the My Number.
                report = identity_check(
                    session, collation_b, self._trust_anchors(),
                    confirm_last_try={PinKind(pin) for pin in confirm_last_try},
                )
                session.logout()
        except MadoguchiError as exc:
            outcome, remaining, _ = verify_failure(exc)
            # The screen says what went wrong in words (fallback.errors.*), never a class name.
            return IdentityView(outcome, remaining, detail=identity_error_kind(exc))
        finally:
            collation_b[:] = bytes(len(collation_b))
        info, face = report.basic4, report.card_face
        unreadable = dict(report.unreadable)
        photo = name_image = address_image = None
        if face is not None:
            from device.card.face_images import decode_card_face

            decoded = decode_card_face(face)
            unreadable.update(decoded.problems)
            # To the screen, which draws them (the name and address where the terminal
            # has pixels) and wipes them when it lets go of the card's data; nowhere else.
            photo, name_image, address_image = (
                decoded.photo, decoded.name_image, decoded.address_image)
        return IdentityView(
            "read",
            name=info.name if info else "",
            address=info.address if info else "",
            birth_date=info.birth_date.isoformat() if info else "",
            sex=info.sex.value if info else "",
            face_birth_date=face.birth_date.isoformat() if face else "",
            face_sex=face.sex.value if face else "",
            expiry=face.expiry.isoformat() if face and face.expiry else "",
            endorsement=face.endorsement if face else None,
            checks=tuple((check.name, check.ok, check.reason.value) for check in report.checks),
            test_card=report.test_card,
            unreadable=tuple(unreadable),
            photo=photo,
            name_image=name_image,
            address_image=address_image,
        )

    def _trust_anchors(self) -> Any:
        """The chip checks' roots: ``trust-anchors`` in the state dir, else the demo's test PKI."""
        from device.card.chip import TrustAnchors

        directory = default_state_dir() / "trust-anchors"
        if directory.is_dir():
            return TrustAnchors.load(directory)
        if self._demo and self._pki_dir is not None:
            from drivers.simcard.pki import TestPki

            return TrustAnchors.from_mapping(TestPki.load_or_create(self._pki_dir).trust_anchors())
        return None

    def keypad_layout(self) -> Sequence[Sequence[str]]:
        return self._keypad_rows

    def wait_keypad_key(self, timeout: float) -> str | None:
        """One key pressed on the pad within ``timeout`` s, through its keypad-test gate.

        The test is open only for this wait and never during a PIN prompt (the
        pad refuses it then; a prompt opening ends it). The keyboard pad's keys
        reach the diagnostics screen as terminal keys, so it is not asked here.
        """
        pad = self._pin_pad
        if isinstance(pad, KeyboardFed) or not hasattr(pad, "open_key_test"):
            time.sleep(timeout)
            return None
        heard: queue.Queue[str] = queue.Queue(maxsize=1)

        def listen(event: Any) -> None:
            if event.pressed:
                with contextlib.suppress(queue.Full):  # one key per wait
                    heard.put_nowait(event.key)

        if not pad.open_key_test(listen):
            time.sleep(timeout)  # a PIN prompt has the pad
            return None
        try:
            return heard.get(timeout=timeout)
        except queue.Empty:
            return None
        finally:
            pad.close_key_test(listen)

    # -- helpers ------------------------------------------------------------------------

    def _reader_name(self) -> str:
        try:
            return self.reader.name
        except ReaderError:
            return ""

    def _atr_hex(self) -> str:
        try:
            with self._card_lock, self.reader.connect() as transport:
                return transport.atr.hex(" ").upper()
        except ReaderError:
            return ""

    def close(self) -> None:
        """Release the reader, the PIN pad (its scan thread, pins, socket) and the databases."""
        self.reader.close()
        close_pad = getattr(self._pin_pad, "close", None)
        if close_pad is not None:
            close_pad()
        if self._indicators is not None:
            self._indicators.close()
        self.store.close()
        self.operators.close()


def identity_error_kind(exc: MadoguchiError) -> str:
    """What kind of failure ended an identity check (``fallback.errors.*``)."""
    from device.card.errors import PinCounterUnknownError
    from madoguchi.errors import CardError, CardRemovedError, ReaderError

    if isinstance(exc, CardRemovedError):
        return "card_removed"
    if isinstance(exc, ReaderError):
        return "reader"
    if isinstance(exc, PinCounterUnknownError):
        return "counter_unknown"
    if isinstance(exc, CardError):
        return "card"
    return "other"


def verify_failure(exc: MadoguchiError) -> tuple[str, int | None, str]:
    """A refused VERIFY (PIN or 照合番号B) as ``(outcome code, tries left, detail)``."""
    from device.card.errors import (
        LastTryNotConfirmedError,
        PinExhaustedError,
        PinNotSetError,
        WrongPinError,
    )

    if isinstance(exc, WrongPinError):
        return ("blocked" if exc.remaining == 0 else "wrong"), exc.remaining, ""
    if isinstance(exc, LastTryNotConfirmedError):
        return "needs_confirmation", 1, ""
    if isinstance(exc, PinExhaustedError):
        return "blocked", 0, ""
    if isinstance(exc, PinNotSetError):
        return "not_set", None, ""
    return "error", None, type(exc).__name__


def engine_procedures(language: str) -> Sequence[tuple[str, str]]:
    """Every procedure of the engine's catalogue, ``(id, title)`` in ``language``."""
    from device.procedures import PROCEDURES

    return [(info.id, info.title(language)) for info in PROCEDURES.values()]


def demo_mode(config: Config) -> bool:
    """Whether ``madoguchi demo`` on ``config`` is the demo: the virtual card and a
    stand-in PIN pad.

    The demo account (with its published password), its hint on the login screen,
    the card-profile menu and the local server exist only then: never with a ``pcsc``
    reader or the ``gpio`` keypad, which only a counter has, and never in
    ``madoguchi counter`` (「fail closed」, issue 13).
    """
    return config.reader.backend == "sim" and config.keypad.backend != "gpio"


class CounterOperatorStore(OperatorStore):
    """The operator accounts of a counter: the demo account never signs in here.

    A counter that once ran the demo may still hold the account with its published
    password (or someone may plant it); :func:`refuses_demo_account` keeps it out.
    """

    def sign_in(self, operator_id: str, password: str | bytes | bytearray) -> OperatorSession:
        if refuses_demo_account(operator_id):
            log.warning("sign-in refused: the demo account is not valid on a counter")
            # The same words and the same scrypt work as an id that does not exist:
            # the screen does not tell the demo account apart from a typo.
            return super().sign_in(_NO_OPERATOR, password)
        return super().sign_in(operator_id, password)


#: An operator id no account can have (ids are 1-32 characters): the unknown-id path.
_NO_OPERATOR = ""


def refuses_demo_account(operator_id: str) -> bool:
    """The sign-in hook of a counter (not the demo): whether ``operator_id`` is the
    demo account, whose password is published and which therefore never signs in on
    a counter (「fail closed」, issue 13), even when present in its operators database."""
    return operator_id.strip().casefold() == DEMO_OPERATOR_ID


def ensure_demo_operator(operators: OperatorStore) -> None:
    """Create the demo operator unless it exists."""
    if DEMO_OPERATOR_ID in operators.operator_ids():
        return  # skip the hash: it costs a second on a Pi
    with contextlib.suppress(OperatorExistsError):  # another process just made it
        operators.add(DEMO_OPERATOR_ID, DEMO_PASSWORD, display_name="デモ職員")


def build_services(
    config: Config,
    *,
    state_dir: Path,
    profile: str | None = None,
    demo: bool,
    clock: Clock | None = None,
) -> ApplianceServices:
    """Open the configured reader, store, PIN pad and operator accounts for the UI.

    With ``demo`` the demo operator is created on first run and the login screen
    shows its credentials; see :func:`demo_mode`.
    """
    from device.store import Store
    from drivers import open_reader
    from drivers.keypad import resolve_keymap
    from sync.protocol import is_office_code

    office = config.sync.office_code or (DEMO_OFFICE_CODE if local_server(config) else "")
    if not is_office_code(office):
        raise ConfigError("[sync] office_code must be at most 16 printable characters")
    private_dir(state_dir)  # 0700 whatever the umask: accounts and records live here
    clock = clock if clock is not None else SystemClock()
    # Outside the demo the demo account is refused at sign-in (a counter's store).
    operators = (OperatorStore if demo else CounterOperatorStore)(
        open_operator_db(str(state_dir / OPERATORS_FILE)),
        clock=clock,
        max_failures=config.ui.operator_max_failures,
        lockout_s=config.ui.operator_lockout_s,
        idle_timeout_s=config.ui.idle_sign_out_s,
        central_only=config.operators.central and not demo,
    )
    if demo:
        ensure_demo_operator(operators)
    # The simulator keeps its generated test PKI with the rest of the state.
    pki_dir = state_dir / "sim-pki" if config.reader.backend == "sim" else None
    options: dict[str, Any] = {}
    if config.reader.backend == "sim":
        options = {"profile": profile or config.reader.profile, "pki_dir": pki_dir}
    elif config.reader.name:
        options = {"name": config.reader.name}
    store_path = (
        Path(config.store.path) if config.store.path else state_dir / "madoguchi.sqlite3"
    )
    # Settings that can still be wrong are read before any device is opened.
    zone = time_zone(config.ui.timezone)
    effective_date = _effective_date(config)
    keypad_rows = resolve_keymap(config.keypad.layout)
    with contextlib.ExitStack() as in_case_of_failure:
        reader = open_reader(config.reader.backend, **options)
        in_case_of_failure.callback(reader.close)
        if config.reader.backend == "sim" and reader.presence() is not CardPresence.PRESENT:
            sim: Any = reader
            sim.insert()
        store = Store(store_path)
        in_case_of_failure.callback(store.close)
        pin_pad = _open_pin_pad(config)
        close_pad = getattr(pin_pad, "close", None)
        if close_pad is not None:
            in_case_of_failure.callback(close_pad)
        indicators = _open_indicators(config)
        # Everything opened: the services own it from here on.
        in_case_of_failure.pop_all()
    return ApplianceServices(
        reader=reader,
        operators=operators,
        store=store,
        clock=clock,
        keypad_rows=keypad_rows,
        keypad_backend=config.keypad.backend,
        pin_pad=pin_pad,
        indicators=indicators,
        pin_timeouts=(config.keypad.pin_overall_timeout_s, config.keypad.pin_inter_key_timeout_s),
        effective_date=effective_date,
        rules=config.rules,
        office_code=office,
        demo=demo,
        pki_dir=pki_dir,
        zone=zone,
        test_terminal=config.reader.test_terminal,
        new_pins_at_issuance=config.ui.new_pins_at_issuance,
    )


def _effective_date(config: Config) -> dt.date:
    try:
        return dt.date.fromisoformat(config.rules.amended_effective_date)
    except ValueError as exc:
        raise ConfigError(
            f"[rules] amended_effective_date must be YYYY-MM-DD: {exc}"
        ) from exc


def _open_pin_pad(config: Config) -> Any:
    """The configured PIN pad: the keyboard stand-in, or the GPIO matrix and its pins
    (``virtual-matrix``: the same driver on mock pins, pressed through its socket)."""
    from drivers import open_keypad
    from drivers.keypad.pins import counter_pin_factory

    pad = config.keypad
    if pad.control_socket and pad.backend != "virtual-matrix":
        raise ConfigError('[keypad] control_socket applies to backend = "virtual-matrix" only')
    if pad.pin_factory and pad.backend != "gpio":
        raise ConfigError('[keypad] pin_factory applies to backend = "gpio" only')
    if pad.backend == "keyboard":
        return open_keypad("keyboard")
    options: dict[str, Any] = {}
    if pad.backend == "gpio":
        # never the mock or native factory on a counter: refused here, saying what is missing
        options["pin_factory"] = counter_pin_factory(pad.pin_factory).factory
    if pad.backend == "virtual-matrix":
        options["control_socket"] = pad.resolved_control_socket()
    return open_keypad(
        pad.backend, rows=pad.row_pins, cols=pad.col_pins, layout=pad.layout,
        debounce_time=pad.debounce_ms / 1000.0, **options,
    )


def _open_indicators(config: Config) -> Any:
    """The pad's LEDs and buzzer (``[indicators]``), or ``None`` when none is fitted.

    They sit on the counter's GPIO header beside the matrix pad, so they take the
    same real pin factory (never the mock one on a counter).
    """
    from drivers import open_indicators
    from drivers.keypad.pins import counter_pin_factory

    fitted = config.indicators
    if not fitted.fitted:
        return None
    return open_indicators(
        "gpio", ok_led_pin=fitted.ok_led_pin, error_led_pin=fitted.error_led_pin,
        buzzer_pin=fitted.buzzer_pin, key_click=fitted.key_click, sound=fitted.sound,
        volume=float(fitted.volume), patterns=fitted.patterns,
        pin_factory=counter_pin_factory(config.keypad.pin_factory).factory, owns_factory=True,
    )


def register(sub: Any) -> None:
    """Add ``madoguchi demo``."""
    parser = sub.add_parser(
        "demo",
        help="run the whole appliance on embedded defaults (virtual card, keyboard pad)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--profile", help="virtual-card profile to start with (default: standard)")
    parser.add_argument("--language", choices=("ja", "en"), help="UI language (default: ja)")
    parser.add_argument(
        "--check", action="store_true",
        help="only check the configuration (as the kiosk unit's ExecStartPre= does)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from madoguchi.cli import config_from
    from madoguchi.lifecycle import leave, require_terminal

    # Embedded defaults, or a file named with --config / $MADOGUCHI_CONFIG; never a
    # counter's /etc/madoguchi/madoguchi.toml, which is `madoguchi counter`'s.
    config = config_from(args, system=False)
    if args.check:
        print(f"madoguchi demo: configuration ok (reader {config.reader.backend},"
              f" state {demo_state_dir()})")
        return 0
    require_terminal("madoguchi demo")
    leave(run_screen(
        config, state_dir=demo_state_dir(), demo=demo_mode(config),
        profile=args.profile, language=args.language, log_name="demo.log",
    ))


def run_screen(
    config: Config,
    *,
    state_dir: Path,
    demo: bool,
    language: str | None = None,
    profile: str | None = None,
    log_name: str,
    guard: StopGuard | None = None,
) -> int:
    """Run the counter's screen until it is quit or stopped; the process's exit code.

    The one start-up and exit path of ``madoguchi demo`` and ``madoguchi counter``: a
    :class:`~madoguchi.lifecycle.StopGuard` hears SIGTERM/SIGHUP/SIGINT and the
    terminal's hang-up from the first line on, the app hears them on its event loop,
    and whatever is stuck, the process is gone within the guard's deadline (with the
    demo's local server). ``guard``: one the caller installed already (the counter's
    first boot ran the provisioning screen under it).
    """
    from madoguchi import sdnotify

    # Textual owns the terminal: log to a file in the state dir, never to the screen.
    state_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(state_dir / log_name)
    # Then at once: from here on a stop request is heard, and honoured within the
    # guard's deadline, whatever the start-up is doing.
    if guard is None:
        guard = StopGuard(terminal_fd=sys.stdin.fileno(), notify=sdnotify.notify).install()
    from tui.app import CounterApp
    from tui.widgets.card_photo import probe_terminal

    if guard.requested() is not None:
        log.info("asked to stop while starting: the screen is not opened")
        return 0
    # How the terminal can draw the chip's photo: asked while the devices open, answered
    # before the app takes the terminal's input (tui/widgets/card_photo.py).
    probe = probe_terminal()
    services = build_services(config, state_dir=state_dir, profile=profile, demo=demo)
    sync: DemoSync | None = None
    try:
        if guard.requested() is not None:
            log.info("asked to stop while the devices were opened: the screen is not shown")
            return 0
        sync = demo_sync(services, state_dir, config) if demo and local_server(config) else None
        if sync is not None:
            guard.on_last_resort(sync.kill_server)
        app = CounterApp(
            services=services,
            language=language or config.ui.language,
            timezone=config.ui.timezone,
            notify=notify_then_sync(sdnotify.notify, sync),
            # The kiosk unit runs us as cage's grandchild with NotifyAccess=all.
            watchdog_interval=sdnotify.watchdog_interval(any_pid=True),
            exit_control=guard,
        )
        probe.join()
        app.run()
    finally:
        # The clean-up has the deadline too (a second SIGTERM meanwhile changes nothing).
        guard.request(guard.requested() or 0)
        log.info("the screen is closed: closing the devices (and the demo's local server)")
        if sync is not None:
            sync.stop()
        services.close()
        log.info("stopped")
    return 0


def demo_state_dir() -> Path:
    """The demo's state: ``$MADOGUCHI_STATE_DIR``, else ``$STATE_DIRECTORY/demo`` (a unit
    running the demo), else ``~/.local/state/madoguchi``.

    Never a counter's own state (``/var/lib/madoguchi``): the demo account must not
    land among the operator accounts a counter reads.
    """
    explicit = os.environ.get("MADOGUCHI_STATE_DIR")
    if explicit:
        return Path(explicit)
    unit = os.environ.get("STATE_DIRECTORY")
    if unit:
        return Path(unit.split(":")[0]) / "demo"
    return user_state_dir()


#: The demo's own central server keeps its database, its PKI and this device's key
#: and certificate here, inside the state dir (made on first run, never committed).
DEMO_SERVER_DIR = "demo-server"
#: The id the demo device is enrolled under on its local server.
DEMO_DEVICE_ID = "demo-device"
#: The office the demo records under and is enrolled for, unless ``[sync] office_code``
#: names one (131016: 東京都千代田区, the virtual card's address).
DEMO_OFFICE_CODE = "131016"
#: Beside the demo device's key: the office it was last enrolled for.
DEMO_OFFICE_FILE = "office"


def local_server(config: Config) -> bool:
    """Whether the demo runs its own central server: only in the demo (sim card) and
    only while ``[sync] server_url`` is the embedded default. A ``server_url`` set to
    anything else names a real server, which ``madoguchi sync run`` talks to."""
    return demo_mode(config) and config.sync.server_url == SyncConfig().server_url


def notify_then_sync(
    notify: Callable[[str], bool], sync: DemoSync | None
) -> Callable[[str], bool]:
    """``notify`` that also starts ``sync`` at ``READY=1``, i.e. once the first screen
    is drawn: the server's start and the first run's key generation never delay it."""

    def wrapped(state: str) -> bool:
        if sync is not None and state.startswith("READY=1"):
            sync.start()
        return notify(state)

    return wrapped


def demo_sync(services: ApplianceServices, state_dir: Path, config: Config) -> DemoSync:
    """The demo's local server and uploader for ``services``, which then issue the
    certificates of an issuance through its simulated issuing authority."""
    sync = DemoSync(
        services.store.path, state_dir, config.sync,
        office_code=services.office_code or DEMO_OFFICE_CODE,
    )
    services.issuer = sync.issue_certificate
    services.card_registry = sync.set_card_status
    return sync


class DemoSync:
    """The demo's local central server (a child process) and the real uploader (a thread).

    :meth:`start` returns at once; a thread starts ``madoguchi server run`` on a
    free loopback port with SQLite and the simulated issuing authority
    (:class:`sync.localserver.LocalServer`), enrols this device through the real
    enrolment endpoint unless it already holds a certificate of that server's CA,
    then runs :class:`sync.uploader.Uploader` until :meth:`stop`. The uploader
    writes its state into the store, where the home screen reads it.

    Args:
        store_path: the device store the UI writes (the uploader opens its own
            connection to it).
        state_dir: the demo's state dir; everything lives in ``demo-server/`` there.
        sync_config: ``[sync]``: batch size, backoff, timeouts, queue bound.
        office_code: the office the device is enrolled for.
    """

    def __init__(
        self,
        store_path: Path,
        state_dir: Path,
        sync_config: SyncConfig,
        *,
        office_code: str = DEMO_OFFICE_CODE,
    ) -> None:
        self.store_path = store_path
        self.state_dir = state_dir
        self.directory = state_dir / DEMO_SERVER_DIR
        self.config = sync_config
        self.office_code = office_code
        self.server: Any = None  # sync.localserver.LocalServer once started
        self._enrolled = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the server, the enrolment and the uploader in a thread (once)."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._main, name="demo-sync", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the server, then the uploader; no orphan, quickly.

        The server goes first (SIGTERM, SIGKILL after 3 s): the uploader's requests and
        a start-up still waiting for the server then end at once, so the thread is
        joined within ``timeout``. A server the thread started meanwhile is stopped
        after the join.
        """
        with self._lock:
            self._stop.set()
            thread = self._thread
        self._stop_server()
        if thread is not None:
            thread.join(timeout)
        self._stop_server()

    def _stop_server(self) -> None:
        with self._lock:
            server = self.server
        if server is not None:
            server.stop()

    def kill_server(self) -> None:
        """Last resort (the process is exiting hard): SIGKILL the server, no waiting."""
        server = self.server
        proc = server.proc if server is not None else None
        if proc is not None:
            proc.kill()

    def issue_certificate(self, kind: str) -> str:
        """Blocking: one ``kind`` certificate from the local server's simulated issuing
        authority, as this device; its serial. A clear
        :class:`~sync.errors.IssuingAuthorityError` while the server is not (yet) up."""
        from sync.errors import IssuingAuthorityError
        from sync.issuing import SimulatedIssuingAuthority

        url = self._server_url(
            IssuingAuthorityError, "issuing authority (its local central server)"
        )
        authority = SimulatedIssuingAuthority(
            url, self.directory / "device", timeout_s=self.config.request_timeout_s
        )
        return authority.issue(kind)

    def set_card_status(self, card_id: str, status: str, reason: str) -> None:
        """Blocking: set a card's 運用状況 on the local central server, as this device."""
        from sync.client import SyncClient
        from sync.errors import ServerUnreachableError

        url = self._server_url(ServerUnreachableError, "central server")
        with SyncClient(url, self.directory / "device",
                        timeout_s=self.config.request_timeout_s) as client:
            client.set_card_status(card_id, status, reason)

    def _server_url(self, error: type[Exception], what: str) -> str:
        """The running, enrolled local server's URL, else ``error`` saying to wait."""
        with self._lock:
            server = self.server
        if server is None or not self._enrolled.is_set():
            raise error(
                f"the demo's {what} is not running yet;"
                " wait until the home screen shows the server connected, then record again"
            )
        return str(server.url)

    def _main(self) -> None:
        try:
            self._serve()
        except Exception:  # a demo without sync still serves the counter
            if not self._stop.is_set():
                log.exception("the demo's local server or uploader stopped")

    def _serve(self) -> None:
        from device.store import Store
        from sync import pki
        from sync.client import DEVICE_CERT, SERVER_CA, SyncClient
        from sync.localserver import LocalServer
        from sync.uploader import Backoff, Uploader

        database = self.directory / "server.sqlite3"
        fresh_db = not database.exists()
        server = LocalServer(str(database), self.directory / "pki")
        with self._lock:
            if self._stop.is_set():
                return
            self.server = server
        server.start()  # the child makes the server's PKI on first run
        log.info("demo central server listening on %s", server.url)
        tls_dir = self.directory / "device"
        ca = (self.directory / "pki" / pki.CA_CERT).read_bytes()
        enrolled = (tls_dir / DEVICE_CERT).exists() and (
            tls_dir / SERVER_CA
        ).exists() and (tls_dir / SERVER_CA).read_bytes() == ca
        # The server refuses records of another office: enrol again when the
        # [sync] office_code changed since the last run.
        office_file = tls_dir / DEMO_OFFICE_FILE
        same_office = office_file.exists() and office_file.read_text() == self.office_code
        if fresh_db or not enrolled or not same_office:
            device_id = server.enrol(tls_dir, DEMO_DEVICE_ID, office=self.office_code)
            office_file.write_text(self.office_code)
            log.info("demo device enrolled as %s for office %s", device_id, self.office_code)
        self._enrolled.set()
        cfg = self.config
        store = Store(self.store_path, queue_bound=cfg.queue_bound)
        client = SyncClient(server.url, tls_dir, timeout_s=cfg.request_timeout_s)
        # The demo's accounts are local; its sign-in attempts still reach the server's
        # console (sync/clerks.py), on a connection of this thread's own.
        from sync.clerks import ClerkSync

        operators = OperatorStore(open_operator_db(str(self.state_dir / OPERATORS_FILE)))
        clerks = ClerkSync.connect(
            operators, server.url, tls_dir, central=False, timeout_s=cfg.request_timeout_s
        )
        try:
            Uploader(
                store, client, batch_size=cfg.batch_size,
                backoff=Backoff(cfg.backoff_base_s, cfg.backoff_cap_s),
                on_contact=clerks.sync_once,
            ).run(self._stop, poll_interval_s=cfg.poll_interval_s)
        finally:
            clerks.close()
            operators.close()
            client.close()
            store.close()


def _log_to_file(path: Path) -> None:
    # The journal when the kiosk's unit started the screen, else the file (rotated).
    from madoguchi.logs import log_to_file_or_journal

    log_to_file_or_journal(path)
