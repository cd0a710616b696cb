"""``madoguchi device``: this counter device's identity (enrolment)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _enroll(args: argparse.Namespace) -> int:
    from madoguchi.cli import config_from
    from sync.enrol import enrol_device

    config = config_from(args)
    tls_dir = Path(args.tls_dir) if args.tls_dir else config.sync.resolved_tls_dir()
    device_id = enrol_device(
        args.server or config.sync.server_url, args.token, Path(args.server_ca), tls_dir
    )
    print(f"enrolled as {device_id}; key and certificate in {tls_dir}")
    return 0


def register(sub: Any) -> None:
    """Add ``madoguchi device``."""
    parser = sub.add_parser("device", help="this device's identity")
    actions = parser.add_subparsers(dest="device_command", metavar="ACTION", required=True)
    enroll = actions.add_parser("enroll", help="make a key and CSR, get a certificate")
    enroll.add_argument("--token", required=True, help="one-time token from the server admin")
    enroll.add_argument("--server-ca", required=True, help="the server's CA certificate (PEM)")
    enroll.add_argument("--server", help="server URL (default: [sync] server_url)")
    enroll.add_argument("--tls-dir", help="where to keep the key and certificate")
    enroll.set_defaults(func=_enroll)
