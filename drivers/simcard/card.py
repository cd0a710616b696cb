"""The virtual My Number card: answers C-APDUs the way the reference says a real card does.

One :class:`VirtualCard` is one physical card: its files come from a :class:`CardImage`, and it
keeps the state a card keeps — retry counters (across power cycles), and until the next power
cycle the selected AP and EF, the keys verified in this AP session, and the last challenge.
``docs/virtual-card.md`` is the specification of every answer.

:meth:`VirtualCard.process` never raises for any input (the fuzz test holds it to that), except
:class:`LinkDropped` on the ``flaky`` profile. Logs name the command header and lengths only:
VERIFY and CHANGE REFERENCE DATA carry PINs in their data field.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from drivers.simcard.apdu import MAX_RESPONSE_DATA, Command, parse_command
from drivers.simcard.facts import CardFacts
from drivers.simcard.filesystem import (
    Application,
    AppName,
    BinaryFile,
    CardImage,
    PinFormat,
    PinSpec,
    PrivateKeyFile,
    RecordFile,
)
from drivers.simcard.layout import ISD_AID
from drivers.simcard.signing import (
    PaddingError,
    sha256_digest_info,
    sign_padded,
    sign_pss_prehashed,
)
from drivers.transport.base import describe_command

log = logging.getLogger(__name__)

#: retry_counter() name -> (application, key FID).
COUNTER_KEYS: dict[str, tuple[AppName, int]] = {
    "juki": (AppName.JUKI, 0x1C),
    "juki_common": (AppName.COMMON, 0x1C),
    "jpki_auth": (AppName.JPKI, 0x18),
    "jpki_sign": (AppName.JPKI, 0x1B),
    "support": (AppName.SUPPORT, 0x11),
    "support_a": (AppName.SUPPORT, 0x14),
    "support_b": (AppName.SUPPORT, 0x15),
    "face_a": (AppName.FACE, 0x13),
    "face_b": (AppName.FACE, 0x12),
    "face_birth": (AppName.FACE, 0x11),
}

_ISO_INS = frozenset({0xA4, 0xB0, 0xB2, 0x20, 0x24, 0x84, 0x88, 0xCA, 0x82, 0x2C})

#: MODELLED, not J-LIS's: the key a *test* terminal proves itself with before it may write
#: a PIN without the current one (EXTERNAL AUTHENTICATE = HMAC-SHA256 of the last GET
#: CHALLENGE under this key, then RESET RETRY COUNTER). Real cards take J-LIS's terminal
#: keys, which are not public (docs/card-driver.md, docs/virtual-card.md).
TEST_TERMINAL_KEY = b"madoguchi virtual card: test terminal key, not J-LIS's"
_PROPRIETARY_INS = frozenset({0x2A, 0x32, 0xAE, 0xFC})


class LinkDropped(ConnectionError):
    """The contactless link broke in the middle of a command (``flaky`` profile only)."""


class _Refused(Exception):
    """A command handler's refusal, carrying the status word the card answers."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"SW {sw:04X}")
        self.sw = sw


def _sw(code: int) -> bytes:
    return code.to_bytes(2, "big")


def _ok(data: bytes = b"") -> bytes:
    return data + b"\x90\x00"


def _tries(remaining: int) -> bytes:
    return _sw(0x63C0 | min(remaining, 0x0F))


@dataclass
class _PinState:
    spec: PinSpec
    value: bytes | None
    remaining: int


def _valid_new_value(fmt: PinFormat, value: bytes) -> bool:
    if fmt is PinFormat.DIGITS4:
        return len(value) == 4 and value.isdigit()
    if fmt is PinFormat.ALPHANUMERIC:
        text = value.decode("ascii", errors="replace")
        return (
            6 <= len(value) <= 16
            and all(c.isdigit() or ("A" <= c <= "Z") for c in text)
            and any(c.isdigit() for c in text)
            and any(c.isalpha() for c in text)
        )
    return False


class VirtualCard:
    """A My Number card in memory. Thread-safe: one command at a time."""

    def __init__(
        self,
        image: CardImage,
        facts: CardFacts,
        *,
        apdu_delay_s: float = 0.0,
        drop_after: int | None = None,
        unset_pin_sw: int = 0x6984,
    ) -> None:
        self._image = image
        self.facts = facts
        self._apdu_delay_s = apdu_delay_s
        self._drop_after = drop_after
        self._unset_pin_sw = unset_pin_sw
        self._lock = threading.RLock()
        self._apps_by_aid = {app.aid: app for app in image.applications}
        self._pins: dict[tuple[AppName, int], _PinState] = {
            (app.name, fid): _PinState(spec, spec.value, spec.remaining)
            for app in image.applications
            for fid, spec in app.files.items()
            if isinstance(spec, PinSpec)
        }
        self._handlers: dict[tuple[int, int], Callable[[Command], bytes]] = {
            (0x00, 0xA4): self._select,
            (0x00, 0xB0): self._read_binary,
            (0x00, 0xB2): self._read_record,
            (0x00, 0x20): self._verify,
            (0x00, 0x24): self._change_reference_data,
            (0x00, 0x84): self._get_challenge,
            (0x00, 0x88): self._internal_authenticate,
            (0x00, 0xCA): self._get_data,
            (0x80, 0x2A): self._compute_signature,
            (0x80, 0x32): self._change_key,
            (0x00, 0x82): self._external_authenticate,
            (0x00, 0x2C): self._reset_retry_counter,
            (0x80, 0xAE): self._set_session_key,
            (0x80, 0xFC): lambda _cmd: _sw(0x6700),
        }
        self._app: Application | None = None
        self._ef: int | None = None
        self._verified: set[int] = set()
        #: The last GET CHALLENGE answer (the terminal signs its digest with 80 2A 00 00).
        self._challenge: bytes | None = None
        #: A test terminal authenticated in this AP session (one PIN write each).
        self._terminal = False
        self._since_power_on = 0
        self._dropped = False

    # -- public API ----------------------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        """The answer to reset the reader reports."""
        return self._image.atr

    @property
    def profile(self) -> str:
        """The profile this card was made as."""
        return self.facts.profile

    def reset(self) -> None:
        """Power cycle: back to the ISD (MF level); nothing selected, nothing verified."""
        with self._lock:
            self._app = None
            self._ef = None
            self._verified.clear()
            self._challenge = None
            self._terminal = False
            self._since_power_on = 0
            self._dropped = False

    def retry_counter(self, name: str) -> int:
        """Tries left on a key, by counter name (test introspection; see COUNTER_KEYS)."""
        try:
            app, fid = COUNTER_KEYS[name]
        except KeyError:
            raise KeyError(f"unknown counter {name!r}; valid: {', '.join(COUNTER_KEYS)}") from None
        with self._lock:
            state = self._pins.get((app, fid))
            if state is None:
                raise KeyError(f"the {self.profile} card has no {name} key ({app.value})")
            return state.remaining

    def process(self, apdu: bytes) -> bytes:
        """Answer one C-APDU with data + SW1 SW2."""
        with self._lock:
            if self._dropped:
                raise LinkDropped("the link to the card is down until it is powered again")
            if self._apdu_delay_s > 0:
                time.sleep(self._apdu_delay_s)
            try:
                response = self._dispatch(bytes(apdu))
            except Exception:  # the card must answer; 6F00 is what a real one says
                log.exception("virtual card failed on %s", describe_command(bytes(apdu)))
                response = _sw(0x6F00)
            self._since_power_on += 1
            if self._drop_after is not None and self._since_power_on > self._drop_after:
                # The command ran (a VERIFY has cost its try), the answer is lost.
                self._dropped = True
                raise LinkDropped(f"link dropped after {self._drop_after} APDUs")
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s -> SW %s", describe_command(bytes(apdu)), response[-2:].hex())
            return response

    # -- dispatch ------------------------------------------------------------------------------

    def _dispatch(self, raw: bytes) -> bytes:
        parsed = parse_command(raw)
        if isinstance(parsed, int):
            return _sw(parsed)
        try:
            return self._handler_for(parsed)(parsed)
        except _Refused as refused:
            return _sw(refused.sw)

    def _handler_for(self, cmd: Command) -> Callable[[Command], bytes]:
        family = cmd.cla & 0xF0
        if family not in (0x00, 0x80):
            raise _Refused(0x6E00)
        if cmd.cla & 0x0C:
            raise _Refused(0x6882)  # secure messaging is not offered
        if cmd.cla & 0x10:
            raise _Refused(0x6884)  # command chaining is not offered
        if cmd.cla & 0x03:
            raise _Refused(0x6881)  # logical channels are not offered
        handler = self._handlers.get((family, cmd.ins))
        if handler is None:
            raise _Refused(0x6E00 if cmd.ins in _ISO_INS | _PROPRIETARY_INS else 0x6D00)
        return handler

    # -- SELECT --------------------------------------------------------------------------------

    def _select(self, cmd: Command) -> bytes:
        if cmd.p2 not in (0x00, 0x0C):
            raise _Refused(0x6A86)
        if cmd.p1 == 0x04:
            if not cmd.data:
                raise _Refused(0x6700)
            if cmd.data == ISD_AID:
                self._enter_df(None)
                return _ok()
            app = self._apps_by_aid.get(cmd.data)
            if app is None:
                raise _Refused(0x6A82)
            self._enter_df(app)
            return _ok()
        if cmd.p1 == 0x02:
            if len(cmd.data) != 2:
                raise _Refused(0x6700)
            fid = int.from_bytes(cmd.data, "big")
            if self._app is None or fid not in self._app.files:
                raise _Refused(0x6A82)
            self._ef = fid
            return _ok()
        if cmd.p1 == 0x00:
            if not cmd.data:
                # SOL: 6A86 right after reset, "9000 without change" once an AP is selected.
                if self._app is None:
                    raise _Refused(0x6A86)
                return _ok()
            if len(cmd.data) != 2:
                raise _Refused(0x6700)
            raise _Refused(0x6A82)  # 3F00 and any other FID: the MF has no selectable files
        raise _Refused(0x6A86)

    def _enter_df(self, app: Application | None) -> None:
        """Make ``app`` current (None = MF level): a new AP session, nothing verified."""
        self._app = app
        self._ef = None
        self._verified.clear()
        self._terminal = False

    # -- reading -------------------------------------------------------------------------------

    def _read_binary(self, cmd: Command) -> bytes:
        if cmd.data or cmd.ne is None:
            raise _Refused(0x6700)
        if cmd.p1 & 0x80:
            if cmd.p1 & 0x60 or not cmd.p1 & 0x1F:
                raise _Refused(0x6A86)
            fid = cmd.p1 & 0x1F
            if self._app is None or fid not in self._app.files:
                raise _Refused(0x6A82)
            self._ef = fid
            offset = cmd.p2
        else:
            if self._app is None or self._ef is None:
                raise _Refused(0x6986)
            offset = (cmd.p1 << 8) | cmd.p2
        file = self._app.files[self._ef]
        if not isinstance(file, BinaryFile):
            raise _Refused(0x6981)
        if file.access and not file.access & self._verified:
            raise _Refused(0x6982)
        if file.refuse_sw is not None:
            raise _Refused(file.refuse_sw)
        if offset >= len(file.data):
            raise _Refused(0x6B00)
        count = min(cmd.ne, MAX_RESPONSE_DATA)
        return _ok(file.data[offset:offset + count])

    def _read_record(self, cmd: Command) -> bytes:
        if cmd.data or cmd.ne is None:
            raise _Refused(0x6700)
        mode = cmd.p2 & 0x07
        if mode in (0x05, 0x06):
            raise _Refused(0x6A81)  # several records at once: not supported (SOL)
        if mode != 0x04 or cmd.p1 == 0:
            raise _Refused(0x6A86)
        sfi = cmd.p2 >> 3
        if sfi:
            if self._app is None or sfi not in self._app.files:
                raise _Refused(0x6A82)
            self._ef = sfi
        elif self._app is None or self._ef is None:
            raise _Refused(0x6986)
        file = self._app.files[self._ef]
        if not isinstance(file, RecordFile):
            raise _Refused(0x6981)
        if file.access and not file.access & self._verified:
            raise _Refused(0x6982)
        if cmd.p1 > len(file.records):
            raise _Refused(0x6A83)
        return _ok(file.records[cmd.p1 - 1][: min(cmd.ne, MAX_RESPONSE_DATA)])

    def _get_data(self, cmd: Command) -> bytes:
        if cmd.data or cmd.ne is None:
            raise _Refused(0x6700)
        tag = (cmd.p1 << 8) | cmd.p2
        value: bytes | None = None
        if tag == 0x5F51:
            value = self._image.contact_atr
        elif self._app is None:
            value = self._image.mf_objects.get(tag)
        if value is None:
            raise _Refused(0x6A88)
        if not cmd.extended and len(value) > cmd.ne:
            raise _Refused(0x6700)
        return _ok(value)

    # -- PINs ----------------------------------------------------------------------------------

    def _key_for(self, p2: int) -> tuple[int, _PinState] | None:
        if self._app is None:
            return None
        fid = self._ef if p2 == 0x80 else p2 & 0x1F
        if fid is None:
            return None
        state = self._pins.get((self._app.name, fid))
        if state is None:
            return None
        if p2 != 0x80:
            self._ef = fid
        return fid, state

    def _verify(self, cmd: Command) -> bytes:
        if cmd.ne is not None:
            raise _Refused(0x6700)
        if cmd.p1 != 0x00 or not (cmd.p2 == 0x80 or 0x81 <= cmd.p2 <= 0x9E):
            raise _Refused(0x6A86)
        found = self._key_for(cmd.p2)
        if found is None:
            raise _Refused(0x6A88)
        fid, state = found
        if state.value is None:
            # Not set on this card (face-auth): 6984, or 6A88 on cards that answer so.
            raise _Refused(self._unset_pin_sw)  # no try counted
        if not cmd.data:
            return _tries(state.remaining)  # the query costs nothing
        if state.remaining == 0:
            raise _Refused(0x6984)
        if cmd.data == state.value:
            state.remaining = state.spec.max_tries
            self._verified.add(fid)
            return _ok()
        state.remaining -= 1
        self._verified.discard(fid)
        return _tries(state.remaining)

    def _change(self, cmd: Command, ins: int, p1: int) -> bytes:
        if self._app is None or self._app.change_ins != ins:
            raise _Refused(0x6D00)
        if cmd.p1 != p1 or cmd.p2 != 0x80:
            raise _Refused(0x6A86)
        if not cmd.data or cmd.ne is not None:
            raise _Refused(0x6700)
        found = self._key_for(0x80)
        if found is None:
            raise _Refused(0x6A88)
        fid, state = found
        if state.spec.fmt is PinFormat.FIXED:
            raise _Refused(0x6986)
        if state.value is None:
            raise _Refused(self._unset_pin_sw)
        if fid not in self._verified:
            raise _Refused(0x6982)
        if not _valid_new_value(state.spec.fmt, cmd.data):
            raise _Refused(0x6A80)
        state.value = bytes(cmd.data)
        return _ok()

    def _change_reference_data(self, cmd: Command) -> bytes:
        return self._change(cmd, 0x24, 0x01)

    def _change_key(self, cmd: Command) -> bytes:
        return self._change(cmd, 0x32, 0x00)

    # -- the modelled terminal write (初期化・再設定 on a J-LIS terminal) ------------------------

    def _external_authenticate(self, cmd: Command) -> bytes:
        """``00 82 00 80 20 mac``: HMAC-SHA256(TEST_TERMINAL_KEY, last challenge). Modelled."""
        if cmd.p1 != 0x00 or cmd.p2 != 0x80:
            raise _Refused(0x6A86)
        if len(cmd.data) != 32 or cmd.ne is not None:
            raise _Refused(0x6700)
        challenge, self._challenge = self._challenge, None  # one answer per challenge
        if challenge is None:
            raise _Refused(0x6985)
        expected = hmac.new(TEST_TERMINAL_KEY, challenge, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, bytes(cmd.data)):
            self._terminal = False
            raise _Refused(0x6982)
        self._terminal = True
        return _ok()

    def _reset_retry_counter(self, cmd: Command) -> bytes:
        """``00 2C 02 80 Lc new``: a PIN written without the current one, counter to max.

        Only after the test terminal authenticated in this AP session, once per
        authentication; also sets a PIN never set (a new certificate's first PIN).
        """
        if cmd.p1 != 0x02 or cmd.p2 != 0x80:
            raise _Refused(0x6A86)
        if not cmd.data or cmd.ne is not None:
            raise _Refused(0x6700)
        found = self._key_for(0x80)
        if found is None:
            raise _Refused(0x6A88)
        fid, state = found
        if state.spec.fmt is PinFormat.FIXED:
            raise _Refused(0x6986)
        if not self._terminal:
            raise _Refused(0x6982)
        if not _valid_new_value(state.spec.fmt, cmd.data):
            raise _Refused(0x6A80)
        self._terminal = False
        state.value = bytes(cmd.data)
        state.remaining = state.spec.max_tries
        self._verified.discard(fid)
        return _ok()

    # -- challenge and signatures --------------------------------------------------------------

    def _get_challenge(self, cmd: Command) -> bytes:
        if cmd.data or cmd.ne is None:
            raise _Refused(0x6700)
        if cmd.extended:
            raise _Refused(0x6985)
        if cmd.p1 or cmd.p2:
            raise _Refused(0x6A86)
        self._challenge = os.urandom(cmd.ne)
        return _ok(self._challenge)

    def _internal_authenticate(self, cmd: Command) -> bytes:
        if not cmd.data:
            raise _Refused(0x6700)
        if self._app is not None and self._app.name is AppName.JPKI:
            raise _Refused(0x6982)
        raise _Refused(0x6985)

    def _set_session_key(self, cmd: Command) -> bytes:
        if self._app is None:
            raise _Refused(0x6985)
        name = self._app.name
        if name in (AppName.FACE, AppName.COMMON):
            raise _Refused(0x66F1)
        if name is AppName.SUPPORT and 0x11 in self._verified:
            raise _Refused(0x6A80)  # secure messaging is not implemented: nothing decrypts
        raise _Refused(0x6982)

    def _compute_signature(self, cmd: Command) -> bytes:
        app = self._app
        if app is None:
            raise _Refused(0x6985)
        if not cmd.data:
            raise _Refused(0x6700)
        if app.name is AppName.JPKI:
            return self._jpki_sign(app, cmd)
        if app.own_key is not None:
            if cmd.p1 != 0x00 or cmd.p2 != 0x00:
                raise _Refused(0x6A86)
            try:
                return _ok(sign_padded(app.own_key, cmd.data))
            except PaddingError:
                raise _Refused(0x6700) from None
        raise _Refused(0x6D00)

    def _jpki_sign(self, app: Application, cmd: Command) -> bytes:
        scheme = _SIGNING_SCHEMES.get(cmd.p1)
        if scheme is None:
            raise _Refused(0x6A86)
        if cmd.p2 == 0x80:
            fid = self._ef
        elif cmd.p2 in (0x97, 0x9A):
            fid = cmd.p2 & 0x1F
        else:
            raise _Refused(0x6A86)
        key_file = app.files.get(fid) if fid is not None else None
        if not isinstance(key_file, PrivateKeyFile) or key_file.pin_fid not in self._verified:
            raise _Refused(0x6982)
        try:
            signature = scheme(key_file.key, cmd.data)
        except PaddingError:
            raise _Refused(0x6700) from None
        return _ok(signature)


def _given_hash(data: bytes) -> bytes:
    if len(data) != 32:
        raise PaddingError("a SHA-256 hash is 32 bytes")
    return data


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


#: ``80 2A`` P1 -> how the JPKI-AP signs the data field (SOL's matrix, reference §10).
_SIGNING_SCHEMES: dict[int, Callable[[rsa.RSAPrivateKey, bytes], bytes]] = {
    0x00: sign_padded,
    0x01: lambda key, data: sign_padded(key, _sha256(data)),
    0x02: lambda key, data: sign_padded(key, sha256_digest_info(_given_hash(data))),
    0x03: lambda key, data: sign_padded(key, sha256_digest_info(_sha256(data))),
    0x04: lambda key, data: sign_pss_prehashed(key, _given_hash(data)),
    0x05: lambda key, data: sign_pss_prehashed(key, _sha256(data)),
}
