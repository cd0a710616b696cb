"""``madoguchi sim``: the virtual My Number card as a process.

- ``madoguchi sim card --profile NAME [--port 35963]`` connects a virtual card to vpcd, so
  pcscd (and pyscard, OpenSC, the PC/SC backend) sees it in a reader slot, until SIGINT/SIGTERM.
- ``madoguchi sim anchors DIR`` writes the test PKI's trust anchors (CA certificates and the CV
  issuer key) as PEM files, for configuring a verifier.
- ``madoguchi sim profiles`` lists the profiles.

See docs/virtual-card.md.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any


def register(sub: Any) -> None:
    """Add ``sim`` and its subcommands."""
    from drivers.simcard.names import BLOCKABLE_PINS, PROFILES

    parser = sub.add_parser("sim", help="virtual My Number card (vpcd client, test PKI)")
    sim_sub = parser.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)

    card = sim_sub.add_parser("card", help="attach a virtual card to vpcd until stopped")
    card.add_argument("--profile", default="standard", choices=PROFILES)
    card.add_argument("--host", default="127.0.0.1", help="vpcd address (loopback only)")
    card.add_argument("--port", type=int, default=35963, help="vpcd port (35963 = 00 00)")
    card.add_argument("--pki-dir", type=Path, help="test PKI cache directory")
    card.add_argument("--expired-days", type=int, help="expired: expiry N days ago")
    card.add_argument("--blocked-pin", choices=tuple(BLOCKABLE_PINS), help="pin-blocked: which")
    card.add_argument("--apdu-delay", type=float, help="slow: seconds per APDU")
    card.add_argument("--drop-after", type=int, help="flaky: drop the link after N APDUs")
    card.set_defaults(func=run_card)

    anchors = sim_sub.add_parser("anchors", help="export the test PKI trust anchors (PEM)")
    anchors.add_argument("directory", type=Path)
    anchors.add_argument("--pki-dir", type=Path, help="test PKI cache directory")
    anchors.set_defaults(func=run_anchors)

    profiles = sim_sub.add_parser("profiles", help="list the card profiles")
    profiles.set_defaults(func=run_profiles)


def _card_options(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "expired_days": args.expired_days,
        "blocked_pin": args.blocked_pin,
        "apdu_delay_s": args.apdu_delay,
        "drop_after": args.drop_after,
    }
    return {key: value for key, value in given.items() if value is not None}


def run_card(args: argparse.Namespace) -> int:
    """Serve a virtual card on vpcd in the foreground until SIGINT or SIGTERM."""
    from drivers.simcard import make_card
    from drivers.simcard.vpcd import VpcdCardClient
    from madoguchi.errors import ConfigError

    if args.host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError("vpcd listens on every interface; connect to it on loopback only")
    card = make_card(args.profile, pki_dir=args.pki_dir, **_card_options(args))
    client = VpcdCardClient(card, host=args.host, port=args.port)
    done = threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, finish) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        client.start()
        print(
            f"virtual card {args.profile!r} on vpcd {args.host}:{args.port} "
            "(Ctrl-C to remove it)",
            file=sys.stderr,
        )
        if not client.connected.wait(3.0) and not done.is_set():
            print(
                f"still waiting for vpcd on port {args.port}: is pcscd running with "
                "vsmartcard-vpcd? (scripts/pcscd start)",
                file=sys.stderr,
            )
        done.wait()
    finally:
        client.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def run_anchors(args: argparse.Namespace) -> int:
    """Write the trust anchors of the test PKI into a directory."""
    from drivers.simcard.pki import TestPki

    for path in TestPki.load_or_create(args.pki_dir).export_trust_anchors(args.directory):
        print(path)
    return 0


def run_profiles(args: argparse.Namespace) -> int:
    """Print the profile names, one a line."""
    from drivers.simcard.names import PROFILES

    print("\n".join(PROFILES))
    return 0
