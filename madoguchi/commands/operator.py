"""``madoguchi operator``: manage clerk accounts (add, list, unlock).

The accounts live in the state directory the counter's screen reads: on a counter
(``/etc/madoguchi/madoguchi.toml`` exists) that is ``/var/lib/madoguchi``, whoever runs
the command (:func:`madoguchi.config.default_state_dir`), so the account IT adds is the
one the kiosk sees. The command runs as the owner of that directory (the
``madoguchi`` user: ``sudo -u madoguchi madoguchi operator add NAME``); run as anyone
else it refuses, because files it created there would lock the kiosk out of them.

The password is read from the terminal without echo (``getpass``), or from
standard input with ``--password-stdin`` for provisioning scripts; it is never
a command-line argument, so it never shows in ``ps`` or a shell history.

With ``[operators] source = "central"`` the clerks' accounts come from the office
console through the sync daemon: ``add`` is refused (with the way out), ``list``
shows where each account came from, and ``unlock`` still ends a lock-out here.
"""

from __future__ import annotations

import argparse
import getpass
import os
import pwd
import sys
from pathlib import Path
from typing import Any

from device.operators import OperatorStore, open_operator_db
from device.private_files import private_dir
from madoguchi.config import default_state_dir
from madoguchi.errors import ConfigError

#: Operator accounts live beside the store, in their own file (as ``madoguchi demo`` has it).
OPERATORS_FILE = "operators.sqlite3"


def register(sub: Any) -> None:
    """Add ``madoguchi operator add|list|unlock``."""
    parser = sub.add_parser("operator", help="manage operator (clerk) accounts")
    actions = parser.add_subparsers(dest="operator_action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="create an operator account")
    add.add_argument("operator_id", help="1-32 letters, digits, '.', '_' or '-'")
    add.add_argument("--name", default="", help="name shown on screen (default: the id)")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.set_defaults(func=_add)

    listing = actions.add_parser("list", help="list operator accounts")
    listing.set_defaults(func=_list)

    unlock = actions.add_parser("unlock", help="clear a lock-out after wrong passwords")
    unlock.add_argument("operator_id")
    unlock.set_defaults(func=_unlock)


def _store(args: argparse.Namespace) -> OperatorStore:
    from madoguchi.cli import config_from

    config = config_from(args)
    state = default_state_dir()
    _check_owner(state)
    private_dir(state)  # 0700 whatever the umask of the administrator's shell
    return OperatorStore(
        open_operator_db(str(state / OPERATORS_FILE)),
        max_failures=config.ui.operator_max_failures,
        lockout_s=config.ui.operator_lockout_s,
        idle_timeout_s=config.ui.idle_sign_out_s,
        central_only=config.operators.central,
    )


def _check_owner(state: Path) -> None:
    """Refuse to write another user's state directory (root's files would lock the
    kiosk out of its own accounts: SQLite makes ``-wal``/``-shm`` files beside them)."""
    try:
        owner = state.stat().st_uid
    except FileNotFoundError:
        return  # made by us, for us
    if owner == os.geteuid():
        return
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = str(owner)
    raise ConfigError(
        f"the operator accounts in {state} belong to user {name}: run this command as that"
        f" user (sudo -u {name} madoguchi operator ...), so that the counter can still use them"
    )


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ConfigError("the two passwords differ; nothing was created")
    return first


def _add(args: argparse.Namespace) -> int:
    store = _store(args)
    info = store.add(args.operator_id, _read_password(args), display_name=args.name)
    print(f"operator {info.operator_id} ({info.display_name}) created")
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    for operator_id in store.operator_ids():
        info = store.info(operator_id)
        state = (f"locked until {info.locked_until}" if info.locked_until
                 else "locked" if info.locked else f"{info.failed_attempts} failed")
        print(f"{info.operator_id}\t{info.display_name}\t{state}\t{info.created_at}"
              f"\t{info.source}")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    _store(args).unlock(args.operator_id)
    print(f"operator {args.operator_id} unlocked")
    return 0
