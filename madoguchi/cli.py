"""The ``madoguchi`` command: one entry point, one subcommand module per area.

Each module in :data:`COMMAND_MODULES` has ``register(subparsers)``, which adds
its subcommand and sets ``func`` on the parser; ``func(args)`` returns the exit
code. Errors from the tree print one clear line to stderr and exit 2 (1 for
other failures); a traceback only with ``MADOGUCHI_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from madoguchi.config import Config, load_config
from madoguchi.errors import MadoguchiError
from madoguchi.logs import setup_logging
from madoguchi.version import version_line

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "madoguchi.commands.demo",
    "madoguchi.commands.counter",
    "madoguchi.commands.operator",
    "madoguchi.commands.card",
    "madoguchi.commands.pad",
    "madoguchi.commands.sim",
    "madoguchi.commands.rules",
    "madoguchi.commands.sync",
    "madoguchi.commands.server",
    "madoguchi.commands.device",
    "madoguchi.commands.update",
    "madoguchi.commands.bench",
    "madoguchi.commands.config",
)

#: The journal's ``MADOGUCHI_COMPONENT`` of each subcommand's process (the rest: ``cli``).
COMPONENTS: dict[str, str] = {
    "counter": "tui", "demo": "tui", "sync": "sync", "server": "server", "update": "update",
}


def _named_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not a global option."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser.

    When ``argv`` names a known subcommand, only that area's module is imported:
    every area pulls in its own libraries (httpx, cryptography, the engine), and
    the kiosk's time to first frame should not pay for all of them. Otherwise
    (``--help``, a typo) every area is loaded so argparse can list them.
    """
    parser = argparse.ArgumentParser(
        prog="madoguchi",
        description="JPKI counter appliance (公的個人認証サービス 窓口端末)",
    )
    parser.add_argument("--config", type=Path, help="configuration file (TOML)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument(
        "--version", action="version", version=version_line(),
        help="print the installed version and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    by_command = {module.rsplit(".", 1)[1]: module for module in COMMAND_MODULES}
    named = _named_command(argv) if argv is not None else None
    modules = [by_command[named]] if named in by_command else list(COMMAND_MODULES)
    if named is None and "--version" in (argv or ()):
        modules = []  # argparse prints the version before it asks for a command
    for module in modules:
        importlib.import_module(module).register(sub)
    return parser


def config_from(
    args: argparse.Namespace, *, required_for: str | None = None, system: bool = True
) -> Config:
    """The configuration selected by ``--config`` (or the defaults).

    ``required_for`` names what refuses to run without a file (the counter's screen,
    the daemons: fail closed); ``system=False`` skips the system file (the demo).
    See :func:`madoguchi.config.load_config`.
    """
    path: Path | None = getattr(args, "config", None)
    return load_config(path, required_for=required_for, system=system)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    from madoguchi.lifecycle import unblock_stop_signals, watch_parent

    # Every madoguchi process can be stopped: a signal mask inherited from whatever
    # started us (a tmux server passes its own on) would keep SIGTERM pending for ever.
    # And a child of the demo (its local server) ends with it.
    unblock_stop_signals()
    watch_parent()
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    args = parser.parse_args(words)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    setup_logging(COMPONENTS.get(args.command, "cli"), level=level)
    try:
        code: int = args.func(args)
    except MadoguchiError as exc:
        if os.environ.get("MADOGUCHI_DEBUG") == "1":
            raise
        print(f"madoguchi: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
