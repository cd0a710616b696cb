"""``madoguchi counter``: the counter's screen, on the counter's own configuration.

What the kiosk unit runs (``systemd/madoguchi-tui.service``). Unlike ``madoguchi
demo`` it never falls back to embedded defaults: without ``/etc/madoguchi/madoguchi.toml``
(or ``--config PATH`` / ``$MADOGUCHI_CONFIG``, or the configuration provisioning wrote
into the state directory) it shows the **provisioning screen** (first boot,
``madoguchi/provisioning.py``): it enrols with the server, writes the configuration
and then opens the sign-in screen in the same process. It never comes up as the demo
with its published account (issue 13). It has no demo account, no demo hint, no
virtual-card menu and no local server, and refuses the demo account at sign-in even
when an operators database holds it. Its state is the system state directory
(``/var/lib/madoguchi``, see :func:`madoguchi.config.default_state_dir`), where
``madoguchi operator add`` on the counter writes.
"""

from __future__ import annotations

import argparse
from typing import Any

#: What the refusal names when there is no configuration.
WHAT = "the counter's screen (madoguchi counter)"


def register(sub: Any) -> None:
    """Add ``madoguchi counter``."""
    parser = sub.add_parser(
        "counter",
        help="the counter's screen on its configuration (what the kiosk runs)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--language", choices=("ja", "en"), help="UI language (default: [ui])")
    parser.add_argument(
        "--check", action="store_true",
        help="only check that the configuration is there and valid (the kiosk unit's"
        " ExecStartPre=, whose refusal lands in the journal)",
    )
    parser.set_defaults(func=_run)


def _check_pin_pad(config: Any) -> None:
    """A GPIO pad needs a real pin factory (lgpio on a Pi): say so in the journal before
    the screen starts, not after the clerk signs in. Other pads have nothing to check."""
    if config.keypad.backend != "gpio":
        return
    from drivers.keypad.pins import close_factory, counter_pin_factory

    close_factory(counter_pin_factory(config.keypad.pin_factory))  # KeypadError: one line


def _check_pin_writer(config: Any) -> None:
    """A counter hands every PIN write without the current PIN to the J-LIS terminal: the
    virtual card's test terminal is refused here, fail closed (one sentence, exit 2)."""
    from madoguchi.errors import ConfigError

    if config.reader.pin_writer != "jlis":
        raise ConfigError("[reader] pin_writer = \"test-terminal\" writes PINs on the virtual"
                          " card only; a counter hands that step to the J-LIS terminal"
                          " (pin_writer = \"jlis\")")


def unprovisioned(args: argparse.Namespace) -> bool:
    """No configuration anywhere the counter reads one: first boot."""
    import os

    from madoguchi import config as config_module

    return (
        getattr(args, "config", None) is None
        and not os.environ.get("MADOGUCHI_CONFIG")
        and not config_module.SYSTEM_CONFIG.exists()
        and not config_module.provisioned_config().exists()
    )


def _provision(args: argparse.Namespace) -> tuple[int, Any]:
    """Run the provisioning screen; ``(exit code, guard)``, code ``-1`` once provisioned."""
    import sys

    from madoguchi import sdnotify
    from madoguchi.commands.demo import _log_to_file
    from madoguchi.config import provisioned_config
    from madoguchi.lifecycle import StopGuard
    from madoguchi.provisioning import Provisioner
    from tui.provision_app import ProvisionApp

    state_dir = provisioned_config().parent
    state_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(state_dir / "counter.log")
    guard = StopGuard(terminal_fd=sys.stdin.fileno(), notify=sdnotify.notify).install()
    if guard.requested() is not None:
        return 0, guard
    app = ProvisionApp(
        provisioner=Provisioner(state_dir), language=args.language or "ja",
        notify=sdnotify.notify, watchdog_interval=sdnotify.watchdog_interval(any_pid=True),
        exit_control=guard,
    )
    written = app.run()
    if written is None or guard.requested() is not None:
        guard.request(guard.requested() or 0)
        return 0, guard
    return -1, guard


def _run(args: argparse.Namespace) -> int:
    from madoguchi.cli import config_from
    from madoguchi.commands.demo import run_screen
    from madoguchi.config import default_state_dir
    from madoguchi.lifecycle import leave, require_terminal

    guard = None
    if unprovisioned(args):
        if args.check:
            # The kiosk's ExecStartPre=: first boot is not an error, the screen asks.
            print("madoguchi counter: no configuration yet: the provisioning screen asks for"
                  " the server and a one-time enrolment token (first boot, docs/kiosk.md)")
            return 0
        require_terminal("madoguchi counter")
        code, guard = _provision(args)
        if code >= 0:
            leave(code)
    config = config_from(args, required_for=WHAT)
    _check_pin_writer(config)
    if args.check:
        _check_pin_pad(config)
        print(f"madoguchi counter: configuration ok (reader {config.reader.backend},"
              f" keypad {config.keypad.backend}, state {default_state_dir()})")
        return 0
    require_terminal("madoguchi counter")
    leave(run_screen(
        config, state_dir=default_state_dir(), demo=False, language=args.language,
        log_name="counter.log", guard=guard,
    ))
