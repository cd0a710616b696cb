"""What the clerk's UI needs from the rest of the appliance, as one injected object.

:class:`CounterServices` is a structural protocol in harlequin's style (the app
takes its adapter as an argument): the composition root (``madoguchi demo``,
the counter's service) builds one from the real reader, store and operator
accounts, and :class:`~tui.app.CounterApp` never constructs parts itself.

Every method that can block (card I/O, waiting for a reader event, a server
round-trip, the operator password hash) is called by the app from a thread
worker, never on the event loop; their results reach the screens as messages.
The value types below are plain frozen data so that screens render them without
knowing which driver or card layer produced them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from device.operators import Clock, OperatorSession

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage
from device.procedures import Session
from device.records import CertificateAction, TransactionRecord


class Presence(enum.Enum):
    """What the reader slot holds, as the home screen shows it."""

    UNKNOWN = "unknown"
    ABSENT = "absent"
    PRESENT = "present"
    READER_GONE = "reader_gone"


@dataclass(frozen=True, slots=True)
class ReaderState:
    """One observation of the reader slot."""

    reader: str
    presence: Presence
    atr_hex: str = ""


@dataclass(frozen=True, slots=True)
class PinView:
    """One PIN's try counter as the card reported it (never the PIN itself).

    ``pin`` and ``state`` are codes the catalogue translates (``card.pins.*``,
    ``card.pin_states.*``): ``state`` is one of ``available``, ``last_try``,
    ``blocked``, ``unusable``, ``verified``, ``no_limit``, ``absent``.
    """

    pin: str
    state: str
    remaining: int | None = None


@dataclass(frozen=True, slots=True)
class CardStatus:
    """Whatever the card layer could tell about the card on the reader.

    Codes (``kind``, ``conditions``) are translated by the panel through the
    catalogue (``card.kinds.*``, ``card.conditions.*``); fields the layer did not
    provide stay empty and the panel leaves them out. ``notes`` are catalogue keys
    under ``card.notes``; ``uncertain`` counts what the classifier could not decide.
    """

    presence: Presence
    atr_hex: str = ""
    kind: str | None = None
    token_name: str | None = None
    expiry: str | None = None
    conditions: tuple[str, ...] = ()
    pins: tuple[PinView, ...] = ()
    signature_checks: dict[str, bool] = field(default_factory=dict)
    uncertain: int = 0
    error: str | None = None
    notes: tuple[str, ...] = ()
    identity: str | None = None
    """Which card this is, read without a PIN (a digest of its certificate serials, or of
    the JPKI token and expiry): another card on the reader has another identity. Only
    compared, never shown, stored or synced."""

    @property
    def counterfeit_warning(self) -> bool:
        """Whether the chip's signatures suggest a counterfeit card."""
        return "counterfeit_suspect" in self.conditions


@dataclass(frozen=True, slots=True)
class SyncState:
    """The outbox and the central server as the home screen shows them."""

    queued: int | None
    quarantined: int | None = None
    server_reachable: bool | None = None
    last_success: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class HealthItem:
    """One line of device health: a catalogue key for the name, ok or not, a detail."""

    name_key: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One stored transaction as the history lists it: no personal data, by construction.

    ``sync`` is the outbox state: ``pending``, ``acked``, ``quarantined`` (or
    ``unknown`` for a row the outbox no longer holds).
    """

    seq: int
    completed_at: str
    procedure: str
    decision: str
    operator_id: str
    sync: str
    abandonment_reason: str = ""
    """For an abandonment (``decision`` ``abandoned``): the reason's code."""


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """A page of the local history, newest first, and how many transactions are stored."""

    entries: tuple[HistoryEntry, ...]
    total: int


@dataclass(frozen=True, slots=True)
class ReaderTestResult:
    """What the diagnostics reader test found."""

    ok: bool
    reader: str
    presence: Presence
    atr_hex: str = ""
    round_trip_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PinVerifyResult:
    """How one VERIFY ended; never holds the PIN.

    ``outcome`` is a code the catalogue translates (``pin.outcomes.*``):
    ``verified``, ``wrong``, ``blocked``, ``not_set``, ``needs_confirmation``,
    ``cancelled``, ``timed_out``, ``card_removed`` or ``error``; a PIN change
    (:meth:`CounterServices.change_pin`) also ``changed``, ``uncertain`` and
    ``abandoned`` (Esc / 中止 on the pad); a PIN written without the current one
    (:meth:`CounterServices.initialise_pin`) ``written`` or ``handed_to_jlis``.
    """

    pin: str
    outcome: str
    remaining: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class IdentityView:
    """How one 照合番号B identity check ended, and what the chip holds (never the My Number).

    ``outcome`` is a code the catalogue translates (``fallback.outcomes.*``):
    ``read``, ``wrong``, ``blocked``, ``needs_confirmation``, ``not_set`` or
    ``error``; ``remaining`` is the 照合番号B tries left the card reported.
    The personal fields are filled only for ``read``: the 基本4情報 (``name``,
    ``address``, ``birth_date``, ``sex``), then the 券面AP's own ``face_birth_date``,
    ``face_sex``, ``expiry`` and ``endorsement``. Dates are ISO, sex the card's
    ISO 5218 code. ``checks`` are the chip signature checks ``(name, ok, reason)``,
    ``ok`` ``None`` when the card cannot be shown genuine, ``reason`` a code of
    ``device.card.reading.CheckReason`` (``fallback.reasons.*``). ``unreadable`` names
    the pieces the card did not give (``basic4``, ``card_face``, ``name_image``,
    ``address_image``, ``photo``): the rest is still shown. ``repr`` hides the
    personal data.
    """

    outcome: str
    remaining: int | None = None
    name: str = ""
    address: str = ""
    birth_date: str = ""
    sex: str = ""
    face_birth_date: str = ""
    face_sex: str = ""
    expiry: str = ""
    endorsement: str | None = None
    checks: tuple[tuple[str, bool | None, str], ...] = ()
    test_card: bool = False
    detail: str = ""
    unreadable: tuple[str, ...] = ()
    photo: PILImage | None = field(default=None, repr=False, compare=False)
    name_image: PILImage | None = field(default=None, repr=False, compare=False)
    """The card face's name as the issuer drew it (1-bit), when it decoded."""
    address_image: PILImage | None = field(default=None, repr=False, compare=False)
    """The card face's address as the issuer drew it (1-bit), when it decoded."""

    def __repr__(self) -> str:
        return f"IdentityView(outcome={self.outcome!r}, <personal data hidden>)"

    @property
    def genuine(self) -> bool | None:
        """``False`` if a chip check failed, ``None`` if one was undecided, else ``True``."""
        results = [ok for _, ok, _ in self.checks]
        if False in results:
            return False
        return None if None in results or not results else True


class PinPad(Protocol):
    """The applicant's PIN pad as PIN entry uses it (``drivers.keypad`` backends)."""

    @property
    def simulated(self) -> bool:
        """True for the keyboard standing in for a pad (the prompt says so)."""
        ...

    @property
    def label(self) -> str:
        """What the prompt shows about the pad."""
        ...

    @property
    def pin_factory_name(self) -> str:
        """gpiozero's pin factory under the pad (``"lgpio"`` on a counter, ``"mock"`` for the
        virtual pad); empty when the keyboard stands in."""
        ...

    def add_listener(self, listener: Callable[[Any], None]) -> None:
        """Receive key events (only while a prompt is active)."""
        ...

    def remove_listener(self, listener: Callable[[Any], None]) -> None:
        """Stop receiving key events."""
        ...

    def set_prompt_active(self, active: bool) -> None:
        """Open or close the pad's gate."""
        ...


@runtime_checkable
class KeyboardFed(Protocol):
    """A pad whose keys come from the clerk's keyboard (the demo's pad)."""

    def feed(self, key: str) -> bool:
        """Offer one keyboard key; True if the pad took it."""
        ...


class OperatorAuthority(Protocol):
    """Signs operators in (blocking: runs the password hash)."""

    def sign_in(self, operator_id: str, password: str | bytes | bytearray) -> OperatorSession:
        """A session, or :class:`~device.operators.OperatorAuthError`."""
        ...

    @property
    def lockout_s(self) -> float:
        """Seconds an account stays locked after too many wrong passwords."""
        ...


class CounterServices(Protocol):
    """Everything the UI consumes. Blocking methods are marked; call them from workers."""

    @property
    def clock(self) -> Clock:
        """Time for the idle sign-out and the header clock."""
        ...

    @property
    def operators(self) -> OperatorAuthority:
        """Operator accounts (``sign_in`` blocks for the hash)."""
        ...

    @property
    def demo_password(self) -> str | None:
        """The demo operator's id and password to show on the login screen, demo only.

        ``None`` on a real counter: the login screen then shows no hint at all.
        """
        ...

    @property
    def demo_profiles(self) -> Sequence[str]:
        """Virtual-card profiles the demo menu offers (empty on a real counter)."""
        ...

    def reader_state(self) -> ReaderState:
        """One quick look at the reader slot (does not wait)."""
        ...

    def wait_reader_change(self, timeout: float) -> ReaderState | None:
        """Blocking: the next change of the slot, or ``None`` after ``timeout`` seconds."""
        ...

    def read_card_status(self) -> CardStatus:
        """Blocking: read what the card layer reports about the card on the reader."""
        ...

    def reader_test(self) -> ReaderTestResult:
        """Blocking: diagnostics: connect, exchange one APDU, time it."""
        ...

    def sync_state(self) -> SyncState:
        """Blocking (a database read): the outbox and server reachability."""
        ...

    def device_health(self) -> Sequence[HealthItem]:
        """Blocking: the health lines of the home screen."""
        ...

    def procedures(self, language: str) -> Sequence[tuple[str, str]]:
        """``(procedure id, title in language)`` for the picker, from the procedure engine."""
        ...

    def procedure_actors(self, procedure_id: str) -> Sequence[str]:
        """Who may stand at the counter for the procedure (``"self"``, ``"proxy"``...)."""
        ...

    def start_procedure(self, procedure_id: str, actor: str, *, operator_id: str) -> Session:
        """An engine session for the procedure, dated today, attributed to the operator."""
        ...

    def record_transaction(self, record: TransactionRecord) -> None:
        """Blocking: store a decided procedure's record and its outbox row."""
        ...

    def certificate_actions(
        self, session: Session, *, issued: dict[str, str]
    ) -> Sequence[CertificateAction]:
        """Blocking: the certificates the decided procedure issues or revokes, for its record.

        An issuance gets its certificates from the issuing authority (the demo's
        simulated one; none where they are issued outside this appliance); a revocation
        lists the card's own. ``issued`` (kind -> serial) keeps what was already issued
        for this transaction, so a retry never issues twice. Raises a
        :class:`~madoguchi.errors.MadoguchiError` when the authority or the card fails.
        """
        ...

    def set_operation_status(
        self, session: Session, certificates: Sequence[CertificateAction]
    ) -> bool:
        """Blocking: carry out the decided procedure's 運用状況 change on the central server.

        第4-3 under 改正後 sets the found card back to 運用中; the card is named by
        the certificates the record revokes. Returns True once the server holds the
        new status, False when there is nothing to set or no server client here (the
        clerk then changes it on the 統合端末). Raises a
        :class:`~madoguchi.errors.MadoguchiError` when the server refuses or is away.
        """
        ...

    def today_records(self) -> Sequence[TransactionRecord]:
        """Blocking: the transactions recorded today on this device, oldest first."""
        ...

    def history_page(self, *, offset: int, limit: int) -> HistoryPage:
        """Blocking: stored transactions, newest first, ``limit`` from ``offset``."""
        ...

    def switch_profile(self, profile: str) -> None:
        """Blocking, demo only: put a card of another profile on the virtual reader."""
        ...

    @property
    def pin_pad(self) -> PinPad:
        """The applicant's PIN pad."""
        ...

    @property
    def pin_timeouts(self) -> tuple[float, float]:
        """PIN entry limits in seconds: ``(overall, between keys)`` (``[keypad]``)."""
        ...

    def tell_applicant(self, state: str | None) -> None:
        """Show applicant state ``state`` on the pad's LEDs and buzzer; ``None`` = dark.

        The states are ``drivers.indicators.APPLICANT_STATES`` (``key``, ``accepted``,
        ``refused``, ``last_try``, ``remove_card``, ``wait``). Returns at once: the
        pattern runs in gpiozero's background threads. Only the state's name is
        passed: nothing about the PIN.
        """
        ...

    def pin_status(self, pin: str) -> PinView:
        """Blocking: read the tries left of ``pin`` (``"juki"``...) without spending one."""
        ...

    def verify_pin(
        self, pin: str, secret: bytearray, *, confirm_last_try: bool
    ) -> PinVerifyResult:
        """Blocking: one VERIFY of ``secret`` (wiped before this returns).

        The card layer reads the tries left right before sending and refuses the
        last try unless ``confirm_last_try`` is True (the clerk confirmed it).
        """
        ...

    def change_pin(
        self, pin: str, current: bytearray, new: bytearray, *, confirm_last_try: bool
    ) -> PinVerifyResult:
        """Blocking: change ``pin`` on the card from ``current`` to ``new`` (both wiped).

        Through the card-write seam (``device.card.pin_writer``): the tries left are
        read right before the VERIFY of ``current``, the last try is refused unless
        ``confirm_last_try``, then one CHANGE REFERENCE DATA (CHANGE KEY for 住基).
        Outcome ``changed`` on success, ``uncertain`` when the card went away with the
        change on its way, else as :meth:`verify_pin`.
        """
        ...

    @property
    def pin_writer_kind(self) -> str:
        """Who writes a PIN without the current one: ``"jlis"`` (a counter: the J-LIS
        terminal, the clerk confirms) or ``"test_terminal"`` (the virtual card: this
        appliance writes it under the card's modelled test key)."""
        ...

    @property
    def new_pins_at_issuance(self) -> bool:
        """Whether an issuance the engine continues sets its new PINs here first
        (``[ui] new_pins_at_issuance``)."""
        ...

    def initialise_pin(self, pin: str, new: bytearray | None) -> PinVerifyResult:
        """Blocking: write ``pin`` without its current value (暗証番号の初期化・再設定).

        Through the card-write seam (``device.card.pin_writer``): ``written`` when this
        appliance wrote ``new`` (the virtual card's test terminal), ``handed_to_jlis``
        when the step belongs to the J-LIS terminal (nothing sent; ``new`` may be
        ``None``), ``uncertain`` when the card went away with the write on its way,
        else ``error``. ``new`` is wiped before this returns.
        """
        ...

    def identity_check(
        self, collation_b: bytearray, *, confirm_last_try: frozenset[str]
    ) -> IdentityView:
        """Blocking: 基本4情報 and the card face through 照合番号B, with the chip checks.

        ``collation_b`` (14 digits typed from the card face) is wiped before this
        returns. It is verified against two keys, each with its own counter
        (``support_collation_b`` and ``card_face_collation_b``); the card layer reads
        each counter right before its VERIFY and refuses a key's last try unless that
        key is in ``confirm_last_try`` (the clerk confirmed it by name). The My Number
        is never read.
        """
        ...

    def keypad_layout(self) -> Sequence[Sequence[str]]:
        """The PIN pad's keys, row by row as they sit on the pad (for the keypad test)."""
        ...

    def wait_keypad_key(self, timeout: float) -> str | None:
        """Blocking: the next key pressed on a hardware PIN pad, outside any PIN prompt.

        Returns ``None`` on timeout and always with the keyboard pad, whose keys
        arrive through the terminal instead.
        """
        ...
