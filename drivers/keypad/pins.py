"""Which gpiozero pin factory drives the PIN pad's pins, and whether a counter may use it.

gpiozero picks a pin factory by itself (``$GPIOZERO_PIN_FACTORY``, else lgpio, RPi.GPIO,
pigpio, then its pure-Python ``native`` one). On a Raspberry Pi the only right outcome is a
factory backed by a GPIO library: ``native`` is experimental and cannot drive a Pi 5, and
``mock`` drives nothing. A counter therefore refuses both, and says which package is
missing, instead of starting a PIN pad that cannot hear a key (``[keypad] pin_factory``,
docs/raspberry-pi.md). Tests and the virtual pad pass a ``MockFactory`` object directly and
never come here.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

from madoguchi.errors import ConfigError, KeypadError

#: gpiozero's pin factories by the names its entry points use: "module:Class", and the
#: Python package the factory stands on (``None``: pure Python, nothing to install).
PIN_FACTORIES: dict[str, tuple[str, str | None]] = {
    "lgpio": ("gpiozero.pins.lgpio:LGPIOFactory", "lgpio"),
    "rpigpio": ("gpiozero.pins.rpigpio:RPiGPIOFactory", "RPi.GPIO"),
    "pigpio": ("gpiozero.pins.pigpio:PiGPIOFactory", "pigpio"),
    "native": ("gpiozero.pins.native:NativeFactory", None),
    "mock": ("gpiozero.pins.mock:MockFactory", None),
}

#: The order gpiozero 2 tries when nothing is configured (``Device._default_pin_factory``).
DEFAULT_ORDER: tuple[str, ...] = ("lgpio", "rpigpio", "pigpio", "native")

#: Factories that drive a Raspberry Pi's pins through a GPIO library: the only ones a
#: counter's PIN pad (``[keypad] backend = "gpio"``) starts on.
COUNTER_FACTORIES: frozenset[str] = frozenset({"lgpio", "rpigpio", "pigpio"})

#: What ``./scripts/demo`` installs on arm64 (pyproject.toml), named in every refusal.
RECOMMENDED = "lgpio"


@dataclass(frozen=True)
class PinFactoryChoice:
    """The outcome of choosing a pin factory.

    ``name`` is the factory in use (``""`` if none could be made), ``factory`` the gpiozero
    object, ``requested`` what ``[keypad] pin_factory`` (else ``$GPIOZERO_PIN_FACTORY``)
    asked for (``""``: gpiozero's own choice), and ``tried`` one line per factory that
    failed, saying why.
    """

    name: str
    factory: Any
    requested: str
    tried: tuple[str, ...] = ()

    @property
    def counter_ready(self) -> bool:
        """Whether a counter's PIN pad may run on this factory."""
        return self.name in COUNTER_FACTORIES


def check_factory_name(name: str) -> None:
    """Refuse a ``[keypad] pin_factory`` gpiozero does not have (``""`` is its default)."""
    if name and name not in PIN_FACTORIES:
        valid = ", ".join(f'"{n}"' for n in PIN_FACTORIES)
        raise ConfigError(
            f'[keypad] pin_factory {name!r} is not a gpiozero pin factory; valid: "" '
            f"(gpiozero's choice), {valid}"
        )


def _not_installed(package: str) -> str:
    return f"the Python package {package!r} is not installed"


def _make(name: str) -> Any:
    """Import and construct factory ``name``; a missing package says which one."""
    target, package = PIN_FACTORIES[name]
    module_name, _, class_name = target.partition(":")
    try:
        if package is not None:
            importlib.import_module(package)
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise KeypadError(_not_installed(package or exc.name or module_name)) from exc
    try:
        return getattr(module, class_name)()
    except Exception as exc:
        # lgpio without a GPIO chip, RPi.GPIO off a Pi, pigpio without its daemon ...
        raise KeypadError(f"{type(exc).__name__}: {exc}") from exc


def choose_pin_factory(configured: str = "") -> PinFactoryChoice:
    """Make the pin factory ``configured`` names, or gpiozero's own choice for ``""``.

    gpiozero's choice honours ``$GPIOZERO_PIN_FACTORY``; without it the factories are tried
    in :data:`DEFAULT_ORDER` and the reasons the earlier ones failed are kept in ``tried``.
    Never raises for a factory that cannot be made: the result then has ``name == ""``.
    """
    check_factory_name(configured)
    env = os.environ.get("GPIOZERO_PIN_FACTORY", "").strip().lower()
    if configured:
        order: tuple[str, ...] = (configured,)
    elif env:
        check_factory_name(env)
        order = (env,)
    else:
        order = DEFAULT_ORDER
    requested = configured or env
    tried: list[str] = []
    for name in order:
        try:
            return PinFactoryChoice(name, _make(name), requested, tuple(tried))
        except KeypadError as exc:
            tried.append(f"{name}: {exc}")
    return PinFactoryChoice("", None, requested, tuple(tried))


def refusal(choice: PinFactoryChoice) -> str | None:
    """Why a counter's PIN pad must not start on ``choice`` (one sentence), or ``None``."""
    if choice.counter_ready:
        return None
    why = f" ({'; '.join(choice.tried)})" if choice.tried else ""
    prefix = f"{RECOMMENDED}: "
    tried_it = next((line for line in choice.tried if line.startswith(prefix)), None)
    if tried_it is None or tried_it == prefix + _not_installed(RECOMMENDED):
        install = (
            f"install the Python package {RECOMMENDED!r} into the appliance's venv "
            "(./scripts/demo does it on arm64; see docs/raspberry-pi.md)"
        )
    else:
        # lgpio is there but could not open the GPIO chip: not a Pi, or no access to it
        install = (
            f"{RECOMMENDED} is installed but cannot drive this machine's GPIO: check that it "
            "is a Raspberry Pi and that the appliance's user may open /dev/gpiochip* "
            "(group gpio; see docs/raspberry-pi.md)"
        )
    asked = choice.name or choice.requested
    if asked == "mock":
        return (
            "the PIN pad is set to gpiozero's \"mock\" pin factory, which drives no pins: "
            f'set [keypad] pin_factory = "{RECOMMENDED}" (or leave it empty) and {install}'
        )
    if asked == "native":
        return (
            "the PIN pad would run on gpiozero's experimental \"native\" pin factory, which "
            f"a counter does not use (it cannot drive a Raspberry Pi 5){why}: {install}"
        )
    return f"the PIN pad has no GPIO pin factory{why}: {install}"


def counter_pin_factory(configured: str = "") -> PinFactoryChoice:
    """The pin factory for a counter's PIN pad, or :class:`KeypadError` saying what is missing."""
    choice = choose_pin_factory(configured)
    reason = refusal(choice)
    if reason is not None:
        close_factory(choice)
        raise KeypadError(reason)
    return choice


def close_factory(choice: PinFactoryChoice) -> None:
    """Release what the factory holds (the GPIO chip handle)."""
    if choice.factory is not None:
        choice.factory.close()


def factory_name(factory: Any) -> str:
    """The entry-point name of a gpiozero pin factory object (``"mock"`` for its subclasses)."""
    for name, (target, _) in PIN_FACTORIES.items():
        module_name, _, class_name = target.partition(":")
        for cls in type(factory).__mro__:
            if cls.__module__ == module_name and cls.__name__ == class_name:
                return name
    return type(factory).__name__
