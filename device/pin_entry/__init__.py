"""Secure PIN entry: a per-PIN-type state machine between the pad and the card.

The pad backends (``drivers.keypad``) emit key labels; :class:`PinEntry` turns
them into a PIN held in a wiped ``bytearray`` and tells the UI only lengths,
states and problems (:class:`PinEntryEvent`). The finished PIN goes to one
consumer as a one-shot :class:`PinHandle`.
"""

from __future__ import annotations

from device.pin_entry.advice import birth_date_forms, is_easy_to_guess
from device.pin_entry.events import (
    ConsumerFailure,
    PinEntryEvent,
    PinEntryState,
    PinEventKind,
    TimeoutKind,
)
from device.pin_entry.machine import DEFAULT_KEY_ROLES, KeyAction, PinEntry, PinEntryStateError
from device.pin_entry.multitap import MULTITAP_GROUPS
from device.pin_entry.new_pin import (
    NewPin,
    NewPinEntry,
    NewPinEvent,
    NewPinEventKind,
    NewPinStep,
)
from device.pin_entry.secret import PinAlreadyUsedError, PinHandle, SecretBuffer, wipe
from device.pin_entry.spec import (
    CARD_INPUT_ASSIST_PIN,
    JUKI_PIN,
    PIN_SPECS,
    SIGNATURE_PASSWORD,
    USER_AUTH_PIN,
    PinProblem,
    PinSpec,
)
from device.pin_entry.ticker import TimeoutTicker

__all__ = [
    "CARD_INPUT_ASSIST_PIN",
    "DEFAULT_KEY_ROLES",
    "JUKI_PIN",
    "MULTITAP_GROUPS",
    "PIN_SPECS",
    "SIGNATURE_PASSWORD",
    "USER_AUTH_PIN",
    "ConsumerFailure",
    "KeyAction",
    "NewPin",
    "NewPinEntry",
    "NewPinEvent",
    "NewPinEventKind",
    "NewPinStep",
    "PinAlreadyUsedError",
    "PinEntry",
    "PinEntryEvent",
    "PinEntryState",
    "PinEntryStateError",
    "PinEventKind",
    "PinHandle",
    "PinProblem",
    "PinSpec",
    "SecretBuffer",
    "TimeoutKind",
    "TimeoutTicker",
    "birth_date_forms",
    "is_easy_to_guess",
    "wipe",
]
