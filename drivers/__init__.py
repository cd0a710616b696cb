"""Hardware seam of madoguchi: the only package that imports pyscard and gpiozero.

Backends are chosen by name from configuration, the way python-can picks an
interface: :func:`open_reader` maps ``"pcsc"`` or ``"sim"`` to a class and
imports it only then, so the demo never loads pyscard and a counter never loads
the simulator by accident. An unknown name raises :class:`ConfigError` listing
the valid ones; nothing here ever falls back to a fake.
"""

from __future__ import annotations

import importlib
from typing import Any

from drivers.transport.base import CardReader
from madoguchi.errors import ConfigError

#: Card-reader backends: name -> "module:Class".
READER_BACKENDS: dict[str, str] = {
    "pcsc": "drivers.transport.pcsc:PcscReader",
    "sim": "drivers.transport.sim:SimReader",
}

#: Applicant PIN-pad backends: name -> "module:Class".
KEYPAD_BACKENDS: dict[str, str] = {
    "gpio": "drivers.keypad.matrix:MatrixKeypad",
    "keyboard": "drivers.keypad.keyboard:KeyboardKeypad",
    # the real matrix driver on mock pins, pressed through a socket (demo, tests)
    "virtual-matrix": "drivers.keypad.virtual:VirtualMatrixKeypad",
}

#: Status LED / buzzer backends: name -> "module:Class".
INDICATOR_BACKENDS: dict[str, str] = {
    "gpio": "drivers.indicators:GpioIndicators",
    "none": "drivers.indicators:NullIndicators",
}


def load_backend(kind: str, table: dict[str, str], name: str) -> type[Any]:
    """Import and return the class registered as ``name`` in ``table``."""
    try:
        target = table[name]
    except KeyError:
        valid = ", ".join(sorted(table))
        raise ConfigError(f"unknown {kind} backend {name!r}; valid: {valid}") from None
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    cls: type[Any] = getattr(module, class_name)
    return cls


def open_reader(backend: str, **options: Any) -> CardReader:
    """Build the card reader for ``backend`` with backend-specific ``options``."""
    cls = load_backend("reader", READER_BACKENDS, backend)
    reader: CardReader = cls(**options)
    return reader


def open_keypad(backend: str, **options: Any) -> Any:
    """Build the applicant's PIN pad for ``backend`` (``"gpio"``, ``"keyboard"`` or
    ``"virtual-matrix"``).

    ``gpio`` takes ``rows``, ``cols``, ``layout``, ``keymap``, ``debounce_time``
    (see :class:`drivers.keypad.matrix.MatrixKeypad`); ``virtual-matrix`` takes the
    same plus ``control_socket`` (:class:`drivers.keypad.virtual.VirtualMatrixKeypad`);
    ``keyboard`` takes none.
    """
    cls = load_backend("keypad", KEYPAD_BACKENDS, backend)
    return cls(**options)


def open_indicators(backend: str, **options: Any) -> Any:
    """Build the status LEDs and buzzer for ``backend`` (``"gpio"`` or ``"none"``)."""
    cls = load_backend("indicator", INDICATOR_BACKENDS, backend)
    return cls(**options)
