"""``madoguchi config schema`` and ``madoguchi config check``: the configuration file's
JSON Schema, from the msgspec Structs that load it, and a file checked the way every
command loads it (a key of the wrong type or an unknown key is refused, naming the key).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from madoguchi.config import json_schema


def register(sub: Any) -> None:
    """Add ``config schema`` and ``config check``."""
    parser = sub.add_parser("config", help="the configuration file: its schema, a check")
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    schema = actions.add_parser("schema", help="print the configuration's JSON Schema")
    schema.set_defaults(func=_schema)
    check = actions.add_parser(
        "check", help="load the file --config (or $MADOGUCHI_CONFIG, the system file) names"
    )
    check.set_defaults(func=_check)


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=1, ensure_ascii=False))
    return 0


def _check(args: argparse.Namespace) -> int:
    from madoguchi.cli import config_from

    config_from(args, required_for="madoguchi config check")
    print("the configuration loads")
    return 0
