"""``madoguchi card``: look at the card on the reader, for operators and IT.

- ``card status`` — kind, token type, expiry, tries left per PIN, certificates (no PIN, no try);
- ``card pin-status`` — the try counters only, plus the 住基AP twin of the 住基 PIN and the
  照合番号B keys;
- ``card read --basic4 --card-face`` — 基本4情報 and the card face through 照合番号B, typed
  without echo; the My Number is never read, so it can never be printed.

The reader is the configured one (``[reader]``); ``--reader NAME`` picks a PC/SC reader by
name and implies the ``pcsc`` backend. Everything works on any card that follows the JPKI
layout; nothing here knows the virtual card.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
import time
from pathlib import Path
from typing import Any

from device.card.chip import TrustAnchors
from device.card.face_images import decode_card_face
from device.card.kind import Classification, classify
from device.card.layout import HOLDER_PINS, PinKind
from device.card.pins import PinStatus
from device.card.reading import (
    IdentityReport,
    ReadyReport,
    identity_check,
    tap_to_ready,
    try_select,
)
from device.card.session import CardSession
from drivers import open_reader
from drivers.transport.base import CardPresence, CardReader, CardTransport
from madoguchi.config import Config, default_state_dir
from madoguchi.errors import CardAbsentError

#: Counters ``card pin-status`` shows besides the four holder PINs.
EXTRA_COUNTERS = (
    PinKind.SUPPORT_COLLATION_B,
    PinKind.JUKI_LEGACY,
    PinKind.CARD_FACE_COLLATION_B,
)

#: Where ``card read`` looks for trust anchors unless ``--trust-anchors`` says otherwise.
ANCHORS_SUBDIR = "trust-anchors"


def register(sub: Any) -> None:
    """Add ``card status``, ``card pin-status`` and ``card read``."""
    parser = sub.add_parser("card", help="read the card on the reader (no PIN needed)")
    commands = parser.add_subparsers(dest="card_command", metavar="ACTION", required=True)

    status = commands.add_parser("status", help="card kind, expiry, PIN tries, certificates")
    _common(status)
    status.set_defaults(func=run_status)

    pins = commands.add_parser("pin-status", help="tries left of every PIN (spends none)")
    _common(pins)
    pins.set_defaults(func=run_pin_status)

    read = commands.add_parser("read", help="基本4情報 / card face through 照合番号B")
    _common(read)
    read.add_argument("--basic4", action="store_true", help="read the 基本4情報")
    read.add_argument("--card-face", action="store_true", help="read the 券面 card face")
    read.add_argument("--trust-anchors", type=Path, help="directory of trust-anchor PEM files")
    read.add_argument(
        "--confirm-last-try", action="store_true",
        help="allow the VERIFY when only one try of 照合番号B is left",
    )
    read.set_defaults(func=run_read)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--reader", metavar="NAME", help="PC/SC reader (substring of its name)")
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="wait this long for a card to be put on the reader",
    )


def _open(args: argparse.Namespace) -> CardReader:
    from madoguchi.cli import config_from

    config: Config = config_from(args)
    if args.reader:
        return open_reader("pcsc", name=args.reader)
    options: dict[str, Any] = {}
    if config.reader.backend == "pcsc":
        options["name"] = config.reader.name
    elif config.reader.backend == "sim":
        options["profile"] = config.reader.profile
    return open_reader(config.reader.backend, **options)


def _connect(reader: CardReader, wait: float) -> CardTransport:
    deadline = time.monotonic() + wait
    while reader.presence() is not CardPresence.PRESENT:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CardAbsentError(f"no card on {reader.name}")
        reader.wait_for_change(min(left, 1.0))
    return reader.connect()


def _pin_json(status: PinStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {"remaining": status.remaining, "max": status.max_tries, "state": status.state.value}


def status_json(ready: ReadyReport, kind: Classification) -> dict[str, Any]:
    """The ``card status --json`` object."""
    token = ready.token
    certs = ready.certificates
    return {
        "card_kind": kind.kind.value,
        "token_type": None if token is None else token.token_type.name.lower(),
        "token_name": None if token is None else token.name,
        "expiry": None if ready.expiry is None else ready.expiry.isoformat(),
        "expiry_source": ready.expiry_source,
        "pins": {k.value: _pin_json(ready.pins.get(k)) for k in HOLDER_PINS},
        "certificates": None if certs is None else {"sign": certs.sign, "auth": certs.auth},
        "conditions": [c.value for c in kind.conditions],
        "blocked_pins": [k.value for k in kind.blocked_pins],
        "uncertain": kind.uncertain,
        "extended_length": ready.extended_length,
        "apdus": ready.apdus,
    }


def _print_json(data: dict[str, Any]) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")


def _pin_line(name: str, status: PinStatus | None) -> str:
    if status is None:
        return f"  {name:<22} (no such application)"
    left = "?" if status.remaining is None else str(status.remaining)
    top = "?" if status.max_tries is None else str(status.max_tries)
    return f"  {name:<22} {left}/{top} {status.state.value}"


def run_status(args: argparse.Namespace) -> int:
    """``madoguchi card status``."""
    reader = _open(args)
    try:
        with _connect(reader, args.wait) as transport:
            session = CardSession(transport)
            ready = tap_to_ready(session)
    finally:
        reader.close()
    from madoguchi.cli import config_from
    from tui.local_time import zone

    # The office's calendar day (``[ui] timezone``), as at the counter, not the host's.
    today = dt.datetime.now(zone(config_from(args).ui.timezone)).date()
    kind = classify(ready, today=today)
    data = status_json(ready, kind)
    if args.json:
        _print_json(data)
        return 0
    print(f"card kind:    {data['card_kind']}")
    print(f"token:        {data['token_name'] or '-'}")
    print(f"expiry:       {data['expiry'] or 'unknown'}")
    certs = data["certificates"]
    if certs is not None:
        print(f"certificates: sign {'yes' if certs['sign'] else 'no'}, "
              f"auth {'yes' if certs['auth'] else 'no'}")
    print("PINs (left/max):")
    for kind_ in HOLDER_PINS:
        print(_pin_line(kind_.value, ready.pins.get(kind_)))
    for condition in data["conditions"]:
        print(f"condition:    {condition}")
    for note in data["uncertain"]:
        print(f"uncertain:    {note}")
    print(f"APDUs:        {data['apdus']}")
    return 0


def run_pin_status(args: argparse.Namespace) -> int:
    """``madoguchi card pin-status``."""
    reader = _open(args)
    statuses: dict[str, PinStatus | None] = {}
    try:
        with _connect(reader, args.wait) as transport:
            session = CardSession(transport, probe_capabilities=False)
            ready = tap_to_ready(session)
            for kind in HOLDER_PINS:
                statuses[kind.value] = ready.pins.get(kind)
            # The twin 住基 key and the 照合番号B keys (their limits are not public: max null).
            for extra in EXTRA_COUNTERS:
                if try_select(session, extra.key.app):
                    statuses[extra.value] = session.pin_status(extra)
            apdus = session.apdus
    finally:
        reader.close()
    if args.json:
        _print_json({"pins": {k: _pin_json(v) for k, v in statuses.items()}, "apdus": apdus})
        return 0
    print("PINs (left/max):")
    for name, status in statuses.items():
        print(_pin_line(name, status))
    return 0


def read_collation_b() -> bytearray:
    """Prompt for 照合番号B without echo (a line from stdin when it is not a terminal)."""
    prompt = "照合番号B (生年月日YYMMDD + 有効期限の西暦年 + セキュリティコード, 14 digits): "
    text = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline()
    # A str cannot be wiped; keep it only as long as it takes to copy it.
    secret = bytearray(text.strip().encode("ascii", errors="replace"))
    del text
    return secret


def _anchors(args: argparse.Namespace) -> TrustAnchors | None:
    directory: Path = args.trust_anchors or default_state_dir() / ANCHORS_SUBDIR
    if args.trust_anchors is None and not directory.is_dir():
        return None
    return TrustAnchors.load(directory)


#: ``card read``'s verdict line, by :attr:`IdentityReport.genuine`.
VERDICTS = {
    True: ("genuine", "真正性: 確認できました (genuine)"),
    False: ("counterfeit_suspected",
            "真正性: 偽造カードの疑い (counterfeit suspected) — 券面事項の一致として扱えません"),
    None: ("not_shown_genuine",
           "真正性: 確認できません (cannot be shown genuine) — 券面事項の一致として扱えません"),
}


def read_json(report: IdentityReport) -> dict[str, Any]:
    """The ``card read --json`` object (no My Number: it is never read)."""
    data: dict[str, Any] = {"apdus": report.apdus, "test_card": report.test_card}
    if report.basic4 is not None:
        info = report.basic4
        data["basic4"] = {
            "name": info.name, "address": info.address,
            "birth_date": info.birth_date.isoformat(), "sex": info.sex.value,
        }
    if report.card_face is not None:
        face = report.card_face
        data["card_face"] = {
            "birth_date": face.birth_date.isoformat(),
            "sex": face.sex.value,
            "expiry": None if face.expiry is None else face.expiry.isoformat(),
            "photo_bytes": None if face.photo is None else len(face.photo),
            "endorsement": face.endorsement,
        }
    data["unreadable"] = dict(report.unreadable)
    if report.card_face is not None:
        decoded = decode_card_face(report.card_face)
        data["unreadable"].update(decoded.problems)
        data["card_face"]["photo"] = None if decoded.photo is None else {
            "width": decoded.photo.width, "height": decoded.photo.height,
            "mode": decoded.photo.mode,
        }
    data["checks"] = {
        c.name: {"ok": c.ok, "reason": c.reason.value, "detail": c.detail} for c in report.checks
    }
    data["genuine"] = report.genuine
    data["verdict"] = VERDICTS[report.genuine][0]
    return data


def run_read(args: argparse.Namespace) -> int:
    """``madoguchi card read --basic4 --card-face``."""
    if not (args.basic4 or args.card_face):
        print("madoguchi card read: say --basic4, --card-face or both", file=sys.stderr)
        return 2
    anchors = _anchors(args)
    reader = _open(args)
    try:
        with _connect(reader, args.wait) as transport:
            session = CardSession(transport)
            # identity_check wipes the secret on every path.
            report = identity_check(
                session, read_collation_b(), anchors, basic4=args.basic4,
                card_face=args.card_face, confirm_last_try=args.confirm_last_try,
            )
            # Unverify before release too, whatever the backend does on release.
            session.logout()
    finally:
        reader.close()
    data = read_json(report)
    if args.json:
        _print_json(data)
        return 0 if report.genuine is not False else 1
    if "basic4" in data:
        info = data["basic4"]
        print(f"氏名:     {info['name']}")
        print(f"住所:     {info['address']}")
        print(f"生年月日: {info['birth_date']}")
        print(f"性別:     {info['sex']}")
    if "card_face" in data:
        face = data["card_face"]
        picture = face["photo"]
        photo = "-" if picture is None else (
            f"{picture['width']}x{picture['height']} JPEG 2000, {face['photo_bytes']} B")
        print(f"券面 生年月日: {face['birth_date']}  性別: {face['sex']}  "
              f"有効期限: {face['expiry'] or '-'}  写真: {photo}")
        if face["endorsement"]:
            print(f"追記欄:   {face['endorsement']}")
    for piece, why in data["unreadable"].items():
        print(f"unreadable {piece}: {why}")
    for name, check in data["checks"].items():
        verdict = {True: "OK", False: "FAILED", None: "not decided"}[check["ok"]]
        print(f"check {name}: {verdict} ({check['reason']}: {check['detail']})")
    print(VERDICTS[report.genuine][1])
    print(f"APDUs: {report.apdus}")
    return 0 if report.genuine is not False else 1
