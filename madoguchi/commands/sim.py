"""``madoguchi sim``: the virtual My Number card as a process.

- ``madoguchi sim card --profile NAME [--port 35963]`` connects a virtual card to vpcd, so
  pcscd (and pyscard, OpenSC, the PC/SC backend) sees it in a reader slot, until SIGINT/SIGTERM.
- ``madoguchi sim anchors DIR`` writes the test PKI's trust anchors (CA certificates and the CV
  issuer key) as PEM files, for configuring a verifier.
- ``madoguchi sim profiles`` lists the profiles.
- ``madoguchi sim pad [--keys 1234#]`` presses keys on the demo's virtual PIN pad (``[keypad]
  backend = "virtual-matrix"``): the given keys, else those typed on this terminal (no echo).

See docs/virtual-card.md and docs/pinpad.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drivers.keypad.control import PadControl


def register(sub: Any) -> None:
    """Add ``sim`` and its subcommands."""
    from drivers.simcard.names import BLOCKABLE_PINS, DEFECTS, PROFILES, UNSET_PIN_ANSWERS

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
    card.add_argument("--defect", choices=tuple(DEFECTS), help="defective: what is wrong")
    card.add_argument("--unset-pin-answer", choices=tuple(UNSET_PIN_ANSWERS),
                      help="face-auth, under-15: the SW of a PIN that was never set")
    card.set_defaults(func=run_card)

    anchors = sim_sub.add_parser("anchors", help="export the test PKI trust anchors (PEM)")
    anchors.add_argument("directory", type=Path)
    anchors.add_argument("--pki-dir", type=Path, help="test PKI cache directory")
    anchors.set_defaults(func=run_anchors)

    profiles = sim_sub.add_parser("profiles", help="list the card profiles")
    profiles.set_defaults(func=run_profiles)

    pad = sim_sub.add_parser(
        "pad", help="press keys on the virtual PIN pad of a running madoguchi demo"
    )
    pad.add_argument(
        "--keys", help="keys to tap in order, e.g. 1234# (else: typed here, or read from stdin)"
    )
    pad.add_argument(
        "--socket", type=Path,
        help="control socket (default: [keypad] control_socket, else <state dir>/keypad.sock)",
    )
    pad.add_argument("--hold", type=float, default=30.0, help="ms each key is held at least")
    pad.add_argument("--gap", type=float, default=30.0, help="ms between two keys")
    pad.add_argument("--bounce", action="store_true", help="1-5 ms of contact chatter per change")
    pad.add_argument("--status", action="store_true", help="print the pad's counters and exit")
    pad.add_argument(
        "--wait", type=float, default=10.0,
        help="seconds to wait for the demo's pad to appear (default 10)",
    )
    pad.set_defaults(func=run_pad)


def _card_options(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "expired_days": args.expired_days,
        "blocked_pin": args.blocked_pin,
        "apdu_delay_s": args.apdu_delay,
        "drop_after": args.drop_after,
        "defect": args.defect,
        "unset_pin_answer": args.unset_pin_answer,
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


#: what the terminal sends -> the pad key it stands for (as on the keyboard stand-in)
_TERMINAL_KEYS = {"\r": "#", "\n": "#", "\x7f": "*", "\b": "*"}
#: bytes that end the interactive mode (q, Ctrl-D)
_QUIT = {"q", "\x04"}


def run_pad(args: argparse.Namespace) -> int:
    """Tap keys on the virtual matrix pad: ``--keys``, stdin, or this terminal's keys."""
    from madoguchi.cli import config_from

    path = args.socket or config_from(args).keypad.resolved_control_socket()
    with _connect(path, args.wait) as pad:
        if args.status:
            print(" ".join(f"{name}={value}" for name, value in pad.status().items()))
            return 0

        def tap(key: str) -> None:
            pad.tap(key, hold_s=args.hold / 1000.0, bounce=args.bounce)
            time.sleep(args.gap / 1000.0)

        if args.keys is None and sys.stdin.isatty():
            return _type_on_terminal(tap)
        keys = args.keys if args.keys is not None else sys.stdin.read()
        if not pad.status()["prompt"]:
            print("no PIN prompt is open: the pad drops keys until one is", file=sys.stderr)
        for key in "".join(keys.split()):
            tap(key)
    return 0


def _connect(path: Path, wait_s: float) -> PadControl:
    """Connect to the pad, waiting up to ``wait_s`` for a demo that is still starting."""
    from drivers.keypad.control import PadControl, PadGoneError

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return PadControl(path)
        except PadGoneError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _type_on_terminal(tap: Callable[[str], None]) -> int:
    """Interactive: each key typed here (without echo) is tapped on the pad."""
    import termios
    import tty

    from drivers.keypad.control import PadControlError, PadGoneError

    print(
        "Type the applicant's keys (digits, * #; Enter = #, Backspace = *); q ends. "
        "Keys are not shown.",
        file=sys.stderr,
    )
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)  # one key at a time, no echo
        while True:
            char = os.read(fd, 1).decode("ascii", "ignore")
            if not char or char in _QUIT:
                break
            key = _TERMINAL_KEYS.get(char, char.upper())
            try:
                tap(key)
            except PadGoneError:
                raise  # the demo has gone: nothing left to press
            except PadControlError as exc:
                print(f"\n{exc}", file=sys.stderr)  # e.g. a key this pad does not have
                continue
            # a dot per key so the typist sees it went through; never the key itself
            print("●", end="", flush=True, file=sys.stderr)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        print(file=sys.stderr)
    return 0
