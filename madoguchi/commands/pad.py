"""``madoguchi pad status``: the applicant's PIN pad as configured, for IT on a new counter.

Shows the backend (``[keypad] backend``), the layout and pins, the gpiozero pin factory
(what ``[keypad] pin_factory`` asked for, what is in use, why others were passed over) and
the pad's state: for ``gpio`` the pins are claimed and the matrix scanned once (no key is
named: a key held now may be part of a PIN). A ``gpio`` pad on the mock or native factory,
or on none, is the refusal a counter would start with: it is printed and the exit code is 2.
Run it while the appliance is stopped; a running one holds the pins.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from drivers.keypad.pins import (
    PinFactoryChoice,
    check_factory_name,
    choose_pin_factory,
    close_factory,
    refusal,
)
from madoguchi.config import KeypadConfig
from madoguchi.errors import MadoguchiError


def register(sub: Any) -> None:
    """Add ``pad status``."""
    parser = sub.add_parser("pad", help="the applicant's PIN pad: backend, pin factory, pins")
    commands = parser.add_subparsers(dest="pad_command", metavar="ACTION", required=True)
    status = commands.add_parser(
        "status", help="backend, gpiozero pin factory, pins and their state (no key named)"
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(func=run_status)


def pad_report(pad: KeypadConfig) -> dict[str, Any]:
    """What ``pad status`` prints, as one JSON-able dict; ``problem`` is ``None`` when fine."""
    check_factory_name(pad.pin_factory)
    gpio = pad.backend in ("gpio", "virtual-matrix")
    report: dict[str, Any] = {
        "backend": pad.backend,
        "layout": pad.layout,
        "row_pins": list(pad.row_pins) if gpio else None,
        "col_pins": list(pad.col_pins) if gpio else None,
        "pin_factory": {
            "requested": pad.pin_factory,
            "in_use": None,
            "tried": [],
            "counter_ready": None,
        },
        "state": None,
        "problem": None,
    }
    factory = report["pin_factory"]
    if pad.backend == "keyboard":
        report["state"] = "the keyboard stands in for the pad (demo and tests)"
    elif pad.backend == "virtual-matrix":
        factory["in_use"] = "mock"
        socket = pad.resolved_control_socket()
        report["state"] = (
            f"virtual pad, pressed through {socket}"
            + (" (listening)" if socket.exists() else " (no appliance running)")
        )
    elif pad.backend == "gpio":
        choice = choose_pin_factory(pad.pin_factory)
        factory.update(
            requested=choice.requested, in_use=choice.name or None, tried=list(choice.tried),
            counter_ready=choice.counter_ready,
        )
        try:
            report["problem"] = refusal(choice)
            if report["problem"] is None:
                report["state"] = _scan_once(pad, choice)
        except MadoguchiError as exc:
            report["problem"] = str(exc)
        finally:
            close_factory(choice)
    else:
        report["problem"] = f"unknown keypad backend {pad.backend!r}"
    return report


def _scan_once(pad: KeypadConfig, choice: PinFactoryChoice) -> str:
    """Claim the pad's pins on ``choice`` and scan the matrix once: how many keys are down."""
    from drivers import open_keypad

    keypad = open_keypad(
        "gpio", rows=pad.row_pins, cols=pad.col_pins, layout=pad.layout,
        keymap=pad.keymap, start=False, pin_factory=choice.factory,
    )
    try:
        down = sum(bin(mask).count("1") for mask in keypad.scan())
    finally:
        keypad.close()
    if down:
        return f"pins claimed; {down} key contact(s) closed now (a key held, or a short)"
    return "pins claimed; every key open"


def run_status(args: argparse.Namespace) -> int:
    """``madoguchi pad status``."""
    from madoguchi.cli import config_from

    report = pad_report(config_from(args).keypad)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        factory = report["pin_factory"]
        pins = (
            f"rows {report['row_pins']}, columns {report['col_pins']}"
            if report["row_pins"] is not None else "-"
        )
        print(f"backend:      {report['backend']} ({report['layout']})")
        print(f"pins:         {pins}")
        asked = factory["requested"] or "gpiozero's choice"
        print(f"pin factory:  {factory['in_use'] or '-'} (asked for: {asked})")
        for line in factory["tried"]:
            print(f"  passed over {line}")
        print(f"state:        {report['state'] or '-'}")
    if report["problem"] is not None:
        print(f"madoguchi: {report['problem']}", file=sys.stderr)
        return 2
    return 0
