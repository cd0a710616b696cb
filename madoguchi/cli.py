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

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "madoguchi.commands.demo",
    "madoguchi.commands.operator",
    "madoguchi.commands.card",
    "madoguchi.commands.sim",
    "madoguchi.commands.rules",
    "madoguchi.commands.sync",
    "madoguchi.commands.server",
    "madoguchi.commands.device",
    "madoguchi.commands.update",
    "madoguchi.commands.bench",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every area's subcommands."""
    parser = argparse.ArgumentParser(
        prog="madoguchi",
        description="JPKI counter appliance (公的個人認証サービス 窓口端末)",
    )
    parser.add_argument("--config", type=Path, help="configuration file (TOML)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def config_from(args: argparse.Namespace) -> Config:
    """The configuration selected by ``--config`` (or the defaults)."""
    path: Path | None = getattr(args, "config", None)
    return load_config(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
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
