"""``madoguchi sync``: the uploader daemon and its status.

The daemon also keeps the clerks' accounts (``sync/clerks.py``): at every contact it
uploads the counter's sign-in attempts and, with ``[operators] source = "central"``,
fetches the office's clerk accounts into the counter's operator store.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import asdict
from typing import Any

#: How often the uploader's ``STATUS=`` (its backlog) is looked up at most.
STATUS_EVERY_S = 1.0


def _notify(state: str) -> None:
    try:
        from madoguchi import sdnotify
    except ImportError:  # pragma: no cover - the helper lands separately
        return
    sdnotify.notify(state)


def _run(args: argparse.Namespace) -> int:
    from device.store import Store
    from madoguchi.cli import config_from
    from madoguchi.logs import log_fields
    from sync.client import SyncClient
    from sync.uploader import Backoff, Uploader, backlog_status

    # A daemon never runs on the embedded demo defaults (fail closed, issue 13).
    config = config_from(args, required_for="the uploader (madoguchi sync run)")
    sync = config.sync
    store = Store(config.store.resolved_path(), queue_bound=sync.queue_bound)
    client = SyncClient(sync.server_url, sync.resolved_tls_dir(), timeout_s=sync.request_timeout_s)
    clerks = _clerk_sync(config)
    uploader = Uploader(
        store,
        client,
        batch_size=sync.batch_size,
        backoff=Backoff(sync.backoff_base_s, sync.backoff_cap_s),
        on_contact=clerks.sync_once,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.once:
        try:
            count = uploader.drain()
            clerked = clerks.sync_once()
        finally:
            clerks.close()
            clerks.operators.close()
        print(f"{count} record(s) acknowledged; {store.queue_length()} waiting")
        if clerked.error is None:
            print(f"clerk accounts at generation {clerked.generation};"
                  f" {clerked.sign_ins_sent} sign-in event(s) sent")
        else:
            print(f"clerk accounts not synchronised: {clerked.error}")
        ok = store.uploader_status().last_error is None and clerked.error is None
        return 0 if ok else 1

    def ready() -> None:
        _notify("READY=1")
        print("madoguchi sync: uploader running", file=sys.stderr, flush=True)

    shown, looked = "", float("-inf")

    def tick() -> None:
        # The watchdog ping, and the backlog in `systemctl status` when it changed (looked
        # up at most once a second: a tick comes every poll interval).
        nonlocal shown, looked
        if time.monotonic() - looked < STATUS_EVERY_S:
            _notify("WATCHDOG=1")
            return
        looked = time.monotonic()
        status = backlog_status(store.uploader_status())
        _notify("WATCHDOG=1" if status == shown else f"WATCHDOG=1\nSTATUS={status}")
        shown = status

    try:
        with log_fields(device_id=sync.device_id or None):
            uploader.run(stop, poll_interval_s=sync.poll_interval_s, on_ready=ready, on_tick=tick)
    finally:
        client.close()
        clerks.close()
        clerks.operators.close()
        store.close()
    return 0


def _clerk_status(config: Any) -> dict[str, Any]:
    """Where the clerks' accounts come from, the generation held, the sign-ins waiting."""
    from device.operators import OperatorStore, open_operator_db
    from madoguchi.commands.operator import OPERATORS_FILE
    from madoguchi.config import default_state_dir

    operators = OperatorStore(open_operator_db(str(default_state_dir() / OPERATORS_FILE)))
    try:
        return {
            "source": config.operators.source,
            "generation": operators.central_generation(),
            "accounts": len(operators.operator_ids()),
            "sign_ins_waiting": len(operators.pending_sign_ins(10_000)),
        }
    finally:
        operators.close()


def _clerk_sync(config: Any) -> Any:
    """The clerk accounts' sync on the counter's operator store (``sync/clerks.py``)."""
    from device.operators import OperatorStore, open_operator_db
    from madoguchi.commands.operator import OPERATORS_FILE
    from madoguchi.config import default_state_dir
    from sync.clerks import ClerkSync

    operators = OperatorStore(
        open_operator_db(str(default_state_dir() / OPERATORS_FILE)),
        central_only=config.operators.central,
    )
    sync = config.sync
    return ClerkSync.connect(
        operators, sync.server_url, sync.resolved_tls_dir(), timeout_s=sync.request_timeout_s,
        central=config.operators.central,
    )


def _status(args: argparse.Namespace) -> int:
    from device.store import Store
    from madoguchi.cli import config_from

    config = config_from(args)
    with Store(config.store.resolved_path(), queue_bound=config.sync.queue_bound) as store:
        status = store.uploader_status()
        doc = asdict(status)
        doc["date_needs_confirmation"] = status.date_needs_confirmation(
            config.sync.clock_skew_bound_s
        )
        doc["quarantined_records"] = [
            {"seq": s, "transaction_id": t, "error": e} for s, t, e in store.quarantined()
        ]
    doc["clerk_accounts"] = _clerk_status(config)
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


def register(sub: Any) -> None:
    """Add ``madoguchi sync``."""
    parser = sub.add_parser("sync", help="upload completed transactions to the central server")
    actions = parser.add_subparsers(dest="sync_command", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="run the uploader daemon")
    run.add_argument("--once", action="store_true", help="drain the queue once and exit")
    run.set_defaults(func=_run)
    status = actions.add_parser("status", help="queue length, last success, last error, clock")
    status.set_defaults(func=_status)
