"""A card session: every card operation the counter needs, in the fewest round trips, PIN-safe.

:class:`CardSession` sits on a :class:`~drivers.transport.base.CardTransport`.
It remembers which application and EF are selected so it never sends a
redundant SELECT, reads files by short EF id when the card takes it (one APDU
instead of SELECT + READ), asks for exact lengths, and reads a whole file with
one extended-length READ BINARY when the card advertises extended Le (card
capabilities in the ATR, or the 入力補助 AP's basic-info byte, reference §9.1);
otherwise in 256-byte chunks. A refusal of either shortcut falls back for good.

PIN safety lives in :meth:`CardSession.verify` and, for a reader with its own PIN
pad, :meth:`CardSession.verify_on_reader` — the only places a VERIFY with data is
sent:

- the tries left are queried immediately before (the query spends nothing);
- no VERIFY at 0 tries, and at 1 only with ``confirm_last_try=True``;
- one VERIFY per call, never repeated;
- if the exchange fails (card pulled, timeout), the counter of that key is marked
  unknown and every later operation re-reads it first;
- the PIN ``bytearray`` and the command carrying it are wiped on every path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from device.card import apdu
from device.card.atr import Capabilities, parse_capabilities
from device.card.errors import (
    CardFileNotFoundError,
    LastTryNotConfirmedError,
    PinChangeUncertainError,
    PinCounterUnknownError,
    PinEntryCancelledError,
    PinExhaustedError,
    PinNotSetError,
    WrongPinError,
    status_error,
)
from device.card.layout import Application, PinKind
from device.card.pins import (
    PinState,
    PinStatus,
    check_form,
    check_reader_structure,
    status_from_query,
    unset_or_blocked,
)
from device.card.tlv import children_by_tag, parse_file, read_header
from drivers.transport.base import CardTransport, RApdu
from madoguchi.errors import MalformedResponseError, ReaderError, StatusWordError

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Largest file this layer reads (READ BINARY offsets are 15 bits).
MAX_FILE_SIZE = 0x7FFF
#: Status words that mean "this card does not do READ BINARY by SFI".
_SFI_REFUSED = frozenset({0x6A86, 0x6A81, 0x6D00, 0x6B00, 0x6981})
#: Status words that mean "this card does not take an extended Le".
_EXTENDED_REFUSED = frozenset({0x6700, 0x6D00, 0x6E00, 0x6A86})


class CardSession:
    """One card, one transport; not thread-safe (one procedure drives it).

    ``capabilities`` overrides what the ATR says (tests, or a reader known to
    mangle ATRs). ``probe_capabilities`` lets the session read the 入力補助 AP's
    basic-info byte when nothing else advertised extended length.
    """

    def __init__(
        self,
        transport: CardTransport,
        *,
        capabilities: Capabilities | None = None,
        probe_capabilities: bool = True,
    ) -> None:
        self._transport = transport
        caps = capabilities if capabilities is not None else parse_capabilities(transport.atr)
        self._sfi: bool | None = caps.short_ef_ids
        self._extended: bool | None = caps.extended_length
        self._probe = probe_capabilities
        self._app: Application | None = None
        self._ef: int | None = None
        self._verified: set[PinKind] = set()
        self._stale: set[PinKind] = set()
        self._refreshing = False
        self._last_status: dict[PinKind, PinStatus] = {}

    def __repr__(self) -> str:
        app = self._app.name if self._app is not None else "-"
        ef = f"{self._ef:04X}" if self._ef is not None else "-"
        stale = ",".join(sorted(k.value for k in self._stale)) or "-"
        return (
            f"CardSession({self._transport.reader_name!r}, app={app}, ef={ef}, "
            f"stale={stale}, apdus={self.apdus})"
        )

    # ------------------------------------------------------------------ state

    @property
    def transport(self) -> CardTransport:
        return self._transport

    @property
    def apdus(self) -> int:
        """APDUs sent on the current transport."""
        return self._transport.stats.apdus

    @property
    def extended_length(self) -> bool | None:
        """Whether extended-length reads are in use (``None``: not advertised yet)."""
        return self._extended

    @property
    def stale_counters(self) -> frozenset[PinKind]:
        """Keys whose try counter must be re-read before anything else."""
        return frozenset(self._stale)

    def last_status(self, kind: PinKind) -> PinStatus | None:
        """The counter as last read in this session (``None`` if never, or unknown now)."""
        return None if kind in self._stale else self._last_status.get(kind)

    def reattach(self, transport: CardTransport) -> None:
        """Continue on a new transport after the card came back (it was reset meanwhile).

        Counters marked unknown stay unknown: the next operation re-reads them first.
        """
        self._transport = transport
        self._forget_selection()

    def _forget_selection(self) -> None:
        self._app = None
        self._ef = None
        self._verified.clear()

    # ------------------------------------------------------------ exchanging

    def _send(self, command: bytes | bytearray) -> RApdu:
        try:
            return self._transport.transmit(command)
        except ReaderError:
            # The card may have been reset or swapped: nothing selected is known.
            self._forget_selection()
            raise

    def _command(self, command: bytes, doing: str) -> RApdu:
        response = self._send(command)
        if not response.ok:
            raise status_error(response.sw, doing)
        return response

    def _ensure_fresh(self, skip: PinKind | None = None) -> None:
        """Re-read every counter a failed VERIFY left unknown, before anything else.

        Every public operation starts here, so after a card was pulled mid-VERIFY the
        first APDUs on the new connection are that key's counter query.
        """
        if self._refreshing or not self._stale - {skip}:
            return
        self._refreshing = True
        try:
            for kind in sorted(self._stale - {skip}, key=lambda k: k.value):
                self.pin_status(kind)
        finally:
            self._refreshing = False

    # -------------------------------------------------------------- selection

    def select(self, app: Application) -> None:
        """Select ``app`` unless it is already selected (selection clears VERIFY state)."""
        self._ensure_fresh()
        if self._app is app:
            return
        self._forget_selection()
        self._command(apdu.select_aid(app.aid), f"SELECT of the {app.label}")
        self._app = app

    def _select_ef(self, fid: int) -> None:
        if self._ef == fid:
            return
        self._ef = None
        self._command(apdu.select_ef(fid), f"SELECT of EF {fid:04X} in the {self._label()}")
        self._ef = fid

    def _label(self) -> str:
        return self._app.label if self._app is not None else "card"

    def logout(self) -> None:
        """Drop every verified key on the card: SELECT the current AP again (OpenSC's logout).

        For a connection that will be released without a card reset. Re-SELECT
        clearing VERIFY state is what OpenSC relies on and the virtual card does; the
        reference (§14.5) could not confirm it for every card, so a transport that can
        reset the card on release should do that as well.
        """
        app = self._app
        if app is None or not self._verified:
            return
        self._forget_selection()
        self._command(apdu.select_aid(app.aid), f"SELECT of the {app.label}")
        self._app = app

    # ---------------------------------------------------------------- reading

    def _max_le(self) -> int:
        return apdu.EXTENDED_MAX if self._extended else apdu.SHORT_MAX

    def _read_binary(self, fid: int, offset: int, le: int) -> bytes:
        """One READ BINARY (by SFI when possible); returns the data, possibly short at EOF."""
        doing = f"READ BINARY of EF {fid:04X} in the {self._label()}"
        extended = le > apdu.SHORT_MAX
        use_sfi = self._sfi is not False and self._ef != fid and offset <= 0xFF and fid <= 30
        if use_sfi:
            response = self._send(apdu.read_binary_sfi(fid, offset, le, extended=extended))
            if response.ok or response.sw == 0x6282:
                self._ef = fid
                self._sfi = True
                return self._checked(response.data, le, doing)
            if extended and (response.sw in _EXTENDED_REFUSED or response.sw >> 8 == 0x6C):
                log.debug("card refused an extended Le (%04X); reading short", response.sw)
                self._extended = False
                return self._read_binary(fid, offset, apdu.SHORT_MAX)
            if response.sw not in _SFI_REFUSED:
                raise status_error(response.sw, doing)
            log.debug("card refused READ BINARY by SFI (%04X); selecting EFs", response.sw)
            self._sfi = False
        self._select_ef(fid)
        response = self._send(apdu.read_binary(offset, le, extended=extended))
        if extended and (response.sw in _EXTENDED_REFUSED or response.sw >> 8 == 0x6C):
            log.debug("card refused an extended Le (%04X); reading 256-byte chunks", response.sw)
            self._extended = False
            response = self._send(apdu.read_binary(offset, apdu.SHORT_MAX))
            le = apdu.SHORT_MAX
        if response.sw >> 8 == 0x6C and not extended:
            # The card names the Le it wants (ISO 7816-4); resend once with it.
            le = response.sw & 0xFF or apdu.SHORT_MAX
            response = self._send(apdu.read_binary(offset, le))
        if response.sw == 0x6B00 and offset > 0:
            return b""  # offset at the end of the file: nothing more
        if not (response.ok or response.sw == 0x6282):
            raise status_error(response.sw, doing)
        return self._checked(response.data, le, doing)

    @staticmethod
    def _checked(data: bytes, le: int, doing: str) -> bytes:
        if len(data) > le:
            raise MalformedResponseError(f"{doing}: {len(data)} bytes returned, {le} asked")
        return data

    def read_exact(self, app: Application, fid: int, length: int) -> bytes:
        """Read exactly ``length`` bytes from the start of EF ``fid``."""
        self.select(app)  # re-reads unknown counters first
        data = bytearray()
        while len(data) < length:
            want = min(length - len(data), self._max_le())
            chunk = self._read_binary(fid, len(data), want)
            if not chunk:
                raise MalformedResponseError(
                    f"EF {fid:04X} ended after {len(data)} of {length} bytes"
                )
            data += chunk
        return bytes(data[:length])

    def read_tlv_file(self, app: Application, fid: int) -> bytes:
        """Read a file holding one BER-TLV object, exactly as long as the object says."""
        self.select(app)
        data = bytearray(self._read_binary(fid, 0, self._max_le()))
        try:
            header = read_header(bytes(data))
        except MalformedResponseError:
            raise MalformedResponseError(
                f"EF {fid:04X} in the {app.label} does not start with a TLV header"
            ) from None
        total = header.total_length
        if total > MAX_FILE_SIZE:
            raise MalformedResponseError(
                f"EF {fid:04X} claims {total} bytes, more than a card file can hold"
            )
        while len(data) < total:
            chunk = self._read_binary(fid, len(data), min(total - len(data), self._max_le()))
            if not chunk:
                raise MalformedResponseError(
                    f"EF {fid:04X} ended after {len(data)} bytes; its TLV claims {total}"
                )
            data += chunk
        return bytes(data[:total])

    def read_record(self, app: Application, fid: int, record: int) -> bytes:
        """READ RECORD ``record`` of record EF ``fid`` (by SFI when possible)."""
        self.select(app)
        doing = f"READ RECORD {record} of EF {fid:04X} in the {app.label}"
        if self._sfi is not False and self._ef != fid and fid <= 30:
            response = self._send(apdu.read_record(record, sfi=fid))
            if response.ok:
                self._ef = fid
                return response.data
            if response.sw not in _SFI_REFUSED:
                raise status_error(response.sw, doing)
            self._sfi = False
        self._select_ef(fid)
        return self._command(apdu.read_record(record), doing).data

    def get_data(self, tag: int) -> bytes:
        """GET DATA of ``tag`` as the card currently stands."""
        self._ensure_fresh()
        return self._command(apdu.get_data(tag), f"GET DATA {tag:04X}").data

    def probe_extended_length(self) -> bool | None:
        """Learn extended-length support from 入力補助 EF 0005 DF41 byte 2 (one short READ).

        SOL saw ``03`` there on every card and calls it the "extended Lc/Le status"
        without decoding it (reference §9.1): bit 2 set is read as "extended Le
        supported". Cards without the 入力補助 AP leave it unknown (short reads).
        """
        if self._extended is not None or not self._probe:
            return self._extended
        self._probe = False
        try:
            data = self.read_tlv_file(Application.SUPPORT, 0x0005)
            info = children_by_tag(parse_file(data, 0xFF40)).get(0xDF41, b"")
        except (StatusWordError, MalformedResponseError) as exc:
            log.debug("no extended-length advertisement: %s", exc)
            return None
        if len(info) >= 2:
            self._extended = bool(info[1] & 0x02)
        return self._extended

    # ------------------------------------------------------------------- PINs

    def pin_status(self, kind: PinKind) -> PinStatus:
        """Query the tries left of ``kind`` with an empty VERIFY (spends no try)."""
        self._ensure_fresh(skip=kind)
        # This query is the re-read of ``kind`` itself: the SELECTs below must not start
        # another one.
        outer, self._refreshing = self._refreshing, True
        try:
            return self._query(kind)
        finally:
            self._refreshing = outer

    def _query(self, kind: PinKind) -> PinStatus:
        key = kind.key
        self.select(key.app)
        try:
            self._select_ef(key.fid)
        except CardFileNotFoundError:
            status = PinStatus(kind, PinState.ABSENT, None, key.max_tries)
            self._last_status[kind] = status
            self._stale.discard(kind)
            return status
        response = self._send(apdu.verify_query())
        status = status_from_query(kind, response.sw)
        if status.state is PinState.VERIFIED and kind not in self._verified:
            # 9000 without our VERIFY: the card does not report the count (reference §8).
            status = PinStatus(kind, PinState.VERIFIED, None, status.max_tries)
        self._last_status[kind] = status
        self._stale.discard(kind)
        return status

    def verify(
        self, kind: PinKind, secret: bytearray, *, confirm_last_try: bool = False
    ) -> PinStatus:
        """VERIFY ``secret`` against ``kind``'s key, once, under the PIN-safety rules.

        ``secret`` is wiped before this returns or raises. Raises
        :class:`~device.card.errors.WrongPinError` (with ``remaining``) on a wrong
        PIN and :mod:`device.card.errors` policy errors when the rules forbid sending.
        """
        command: bytearray | None = None
        try:
            check_form(kind, secret)
            self._guard(kind, confirm_last_try)
            command = apdu.verify(secret)
            self._stale.add(kind)  # until the card answers, the counter is unknown
            response = self._send(command)
            return self._after_verify(kind, response.sw)
        finally:
            apdu.wipe(secret)
            if command is not None:
                apdu.wipe(command)

    def verify_on_reader(
        self, kind: PinKind, pin_verify_structure: bytes, *, confirm_last_try: bool = False
    ) -> PinStatus:
        """VERIFY with the PIN typed on the reader's own PIN pad (PC/SC Part 10), same rules.

        The structure's APDU must address the current key EF (``00 20 00 80``); the
        counter query right before selects it. The PIN never reaches this computer.

        Raises:
            ReaderPinStructureError: the structure does not VERIFY ``kind``'s key (another
                command or key reference, room for another PIN length, a malformed
                length field); checked before any APDU is sent.
        """
        check_reader_structure(kind, pin_verify_structure)
        self._guard(kind, confirm_last_try)
        self._stale.add(kind)
        try:
            response = self._transport.verify_pin_on_reader(pin_verify_structure)
        except ReaderError:
            self._forget_selection()
            raise
        if response.sw in (0x6400, 0x6401):
            # Reader timeout / cancel: the card never saw a PIN.
            self._stale.discard(kind)
            raise PinEntryCancelledError("PIN entry on the reader was cancelled or timed out")
        return self._after_verify(kind, response.sw)

    def _guard(self, kind: PinKind, confirm_last_try: bool) -> None:
        """Read the counter immediately before a VERIFY; raise when one may not be sent."""
        status = self.pin_status(kind)  # the last APDU before the VERIFY
        label = kind.key.label
        if status.state is PinState.VERIFIED:
            if kind in self._verified:
                # Our own VERIFY succeeded (counter back to max) and none was sent since:
                # the count the card hides is known. The new value is still checked.
                return None
            raise PinCounterUnknownError(
                f"the card does not report the tries left of the {label}; not verifying"
            )
        if status.state is PinState.NO_LIMIT and kind.key.max_tries is not None:
            # A holder PIN always has a counter; a card claiming otherwise is not trusted.
            raise PinCounterUnknownError(
                f"the card reports no try counter for the {label}; not verifying"
            )
        if status.state is PinState.ABSENT:
            raise PinNotSetError(f"this card has no {label}")
        if status.state is PinState.UNUSABLE:
            raise PinNotSetError(f"the {label} is blocked or was never set on this card")
        if status.state is PinState.BLOCKED:
            raise PinExhaustedError(f"the {label} has no tries left; not verifying")
        if status.state is PinState.LAST_TRY and not confirm_last_try:
            raise LastTryNotConfirmedError(
                f"only one try of the {label} is left; confirm before trying it"
            )
        return None

    def _after_verify(self, kind: PinKind, sw: int) -> PinStatus:
        label = kind.key.label
        max_tries = kind.key.max_tries
        if sw == 0x9000:
            self._stale.discard(kind)
            self._verified.add(kind)
            status = PinStatus(kind, PinState.VERIFIED, max_tries, max_tries)
            self._last_status[kind] = status
            return status
        self._verified.discard(kind)  # a failed VERIFY leaves the key unverified
        error = status_error(sw, f"VERIFY of the {label}")
        if isinstance(error, WrongPinError):
            self._stale.discard(kind)
            state = PinState.BLOCKED if error.remaining == 0 else (
                PinState.LAST_TRY if error.remaining == 1 else PinState.AVAILABLE
            )
            self._last_status[kind] = PinStatus(kind, state, error.remaining, max_tries)
        elif unset_or_blocked(kind, sw):
            # 6984, or 6A88 from a holder PIN: not set or blocked, and no try was spent.
            self._stale.discard(kind)
            self._last_status[kind] = PinStatus(kind, PinState.UNUSABLE, 0, max_tries)
            if sw != 0x6984:
                raise PinNotSetError(
                    f"the {label} is blocked or was never set on this card (SW {sw:04X})"
                ) from error
        # Any other answer leaves the counter unknown (stays stale).
        raise error

    def change_pin(
        self,
        kind: PinKind,
        current: bytearray,
        new: bytearray,
        *,
        confirm_last_try: bool = False,
    ) -> PinStatus:
        """Change a holder PIN: VERIFY ``current`` then send ``new``, once each (both wiped).

        CHANGE REFERENCE DATA ``00 24 01 80`` for the JPKI and 入力補助 keys, CHANGE
        KEY ``80 32 00 80`` for the 住基 keys (reference §8). The same rules as
        :meth:`verify`, since the VERIFY of ``current`` is that method: the new PIN's
        form is checked before any APDU, the tries left are read right before the
        VERIFY, the last try needs ``confirm_last_try``, a wrong ``current`` spends
        one try and sends nothing more. 照合番号 keys cannot be changed.

        Returns the key's counter after the change (back at its maximum). Raises
        :class:`~device.card.errors.PinChangeUncertainError` when the link fails with
        the change on its way (never resent).
        """
        command: bytearray | None = None
        label = kind.key.label
        try:
            if not kind.holder_pin and kind is not PinKind.JUKI_LEGACY:
                raise PinNotSetError(f"the {label} cannot be changed")
            check_form(kind, new)
            self.verify(kind, current, confirm_last_try=confirm_last_try)
            build = apdu.change_key if kind.key.app in (
                Application.JUKI, Application.COMMON
            ) else apdu.change_reference_data
            command = build(new)
            try:
                response = self._send(command)
            except ReaderError as exc:
                self._stale.add(kind)
                raise PinChangeUncertainError(
                    f"the card went away while the {label} was being changed; "
                    "try the new PIN to learn which one it holds"
                ) from exc
            if not response.ok:
                raise status_error(response.sw, f"changing the {label}")
            log.info("changed the %s", label)
            return self._last_status[kind]
        finally:
            apdu.wipe(current)
            apdu.wipe(new)
            if command is not None:
                apdu.wipe(command)

    def write_pin_as_terminal(
        self, kind: PinKind, new: bytearray, prove: Callable[[bytes], bytes]
    ) -> PinStatus:
        """Write ``new`` to ``kind`` without the current PIN, as a terminal would (wiped).

        MODELLED: on a real card this needs J-LIS's terminal keys, which are not public
        (a counter hands the step to the J-LIS terminal instead). Here the terminal
        answers the card's challenge with ``prove(challenge)`` (EXTERNAL AUTHENTICATE
        ``00 82 00 80``), then RESET RETRY COUNTER ``00 2C 02 80`` sets the value and the
        counter back to its maximum: 初期化・再設定 of a blocked or forgotten PIN, or the
        first PIN of a new certificate. The new value's form is checked before any APDU;
        nothing is retried; a link failure with the write on its way is
        :class:`~device.card.errors.PinChangeUncertainError`.
        """
        command: bytearray | None = None
        key = kind.key
        label = key.label
        try:
            if not kind.holder_pin and kind is not PinKind.JUKI_LEGACY:
                raise PinNotSetError(f"the {label} cannot be written")
            check_form(kind, new)
            self.select(key.app)
            self._select_ef(key.fid)
            challenge = self._command(apdu.get_challenge(8), "GET CHALLENGE").data
            self._command(
                apdu.external_authenticate(prove(challenge)),
                f"terminal authentication for the {label}",
            )
            command = apdu.reset_retry_counter(new)
            self._stale.add(kind)  # until the card answers, the counter is unknown
            try:
                response = self._send(command)
            except ReaderError as exc:
                raise PinChangeUncertainError(
                    f"the card went away while the {label} was being written; "
                    "try the new PIN to learn which one it holds"
                ) from exc
            if not response.ok:
                raise status_error(response.sw, f"writing the {label}")
            self._stale.discard(kind)
            self._verified.discard(kind)
            status = PinStatus(kind, PinState.AVAILABLE, key.max_tries, key.max_tries)
            self._last_status[kind] = status
            log.info("wrote the %s as a terminal", label)
            return status
        finally:
            apdu.wipe(new)
            if command is not None:
                apdu.wipe(command)

    # -------------------------------------------------------- other commands

    def get_challenge(self, length: int = 8) -> bytes:
        """GET CHALLENGE: ``length`` fresh random bytes (also proves the card answers)."""
        self._ensure_fresh()
        data = self._command(apdu.get_challenge(length), "GET CHALLENGE").data
        if len(data) != length:
            raise MalformedResponseError(f"GET CHALLENGE returned {len(data)} of {length} bytes")
        return data

    def internal_sign(self, app: Application, digest_info: bytes) -> bytes:
        """Have an AP sign ``digest_info`` with its own key (``80 2A 00 00``, no credential)."""
        self.select(app)  # re-reads unknown counters first
        return self._command(
            apdu.compute_signature(digest_info, p2=0x00), f"signature by the {app.label}"
        ).data

    def run(self, body: Callable[[], _T]) -> _T:
        """Run a caller's multi-step read after re-reading unknown counters."""
        self._ensure_fresh()
        return body()

