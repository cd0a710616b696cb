"""``madoguchi server``: the central server and its administration."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from madoguchi.config import Config, default_state_dir

if TYPE_CHECKING:
    from updater.server import UpdateDelivery


def _config(args: argparse.Namespace) -> Config:
    from madoguchi.cli import config_from

    return config_from(args)


def _database(args: argparse.Namespace, config: Config) -> str:
    if args.db:
        return str(args.db)
    return config.sync.server_database or str(default_state_dir() / "server.sqlite3")


def _pki_dir(args: argparse.Namespace, config: Config) -> Path:
    if args.pki_dir:
        return Path(args.pki_dir)
    return Path(config.sync.server_pki_dir or default_state_dir() / "server-pki")


def _updates(args: argparse.Namespace, config: Config) -> UpdateDelivery | None:
    """IT's update delivery under ``/updates``, when IT's public keys are configured."""
    keys = args.update_keys or config.sync.server_update_keys
    if not keys:
        return None
    from madoguchi.errors import ConfigError
    from updater.server import UpdateDelivery

    token_file = args.publish_token_file or config.sync.server_publish_token_file
    if not token_file:
        raise ConfigError(
            "update delivery needs IT's publish token: set [sync] server_publish_token_file"
        )
    data_dir = args.updates_dir or config.sync.server_updates_dir
    return UpdateDelivery(
        data_dir=Path(data_dir) if data_dir else default_state_dir() / "updates",
        keys=Path(keys),
        token_file=Path(token_file),
    )


def _run(args: argparse.Namespace) -> int:
    from madoguchi.cli import config_from
    from sync.server.run import serve

    # A daemon never runs on the embedded demo defaults (fail closed, issue 13): it
    # needs a configuration file, or its database and PKI named on the command line
    # (how the demo and the tests start their own).
    explicit = bool(args.db and args.pki_dir)
    config = config_from(
        args, required_for=None if explicit else "the central server (madoguchi server run)"
    )
    database, pki_dir = _database(args, config), _pki_dir(args, config)
    console = None
    console_listen = args.console_listen or config.sync.server_console_listen
    if console_listen:
        from sync.server.console.serve import ConsoleListener

        console = ConsoleListener.from_options(
            database,
            console_listen,
            pki_dir,
            args.console_cert or config.sync.server_console_cert,
            args.console_key or config.sync.server_console_key,
            workers=args.console_workers,
        )
    serve(
        database,
        args.listen or config.sync.server_listen,
        pki_dir,
        simulate=args.simulate or config.sync.server_simulate,
        workers=args.workers,
        updates=_updates(args, config),
        pool_size=config.sync.server_pool_size,
        console=console,
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from sync.server.repository import open_repository

    repo = open_repository(_database(args, _config(args)), pool_size=1)
    try:
        before, after = repo.migrate(grant=args.grant)
    finally:
        repo.close()
    if before == after:
        print(f"schema already at version {after}")
    else:
        print(f"schema migrated from version {before or 0} to {after}")
    if args.grant:
        print(f"{args.grant} may now read and write the tables (no DDL)")
    return 0


def _partitions(args: argparse.Namespace) -> int:
    from sync.server.partitions import business_today, run_maintenance

    repo = _open_current(args)
    try:
        made = run_maintenance(repo, business_today(), args.ahead)
    finally:
        repo.close()
    if repo.dialect.name != "postgresql":
        print("SQLite keeps one table per kind: no partitions to make")
    for table, month, moved in made:
        print(f"{table} {month}: partition made ({moved} rows moved from the default partition)")
    if not made and repo.dialect.name == "postgresql":
        print("every month has its partition")
    return 0


def _retention(args: argparse.Namespace) -> int:
    import getpass

    from sync.server.partitions import business_today, months_text, run_retention

    config = _config(args)
    months = args.months or config.sync.server_retention_months
    repo = _open_current(args)
    try:
        done = run_retention(
            repo, business_today(), months, actor=f"server-cli:{getpass.getuser()}",
            dry_run=args.dry_run,
        )
    finally:
        repo.close()
    verb = "would remove" if done.dry_run else "removed"
    print(f"retention {months} months: keeping {done.first_kept_month} and later")
    for line in [*months_text(done.removed), *done.received_text()]:
        print(f"{verb} {line}")
    if not done.removed and not any(done.received_removed.values()):
        print("nothing is past the retention period")
    return 0


def _open_current(args: argparse.Namespace) -> Any:
    """The repository for an administration command, refused when its schema is not
    this code's (one line: what to run)."""
    from sync.errors import RepositoryError
    from sync.server.repository import open_repository

    repo = open_repository(_database(args, _config(args)), pool_size=1)
    reason = repo.readiness()
    if reason is not None:
        repo.close()
        raise RepositoryError(reason)
    return repo


def _init_pki(args: argparse.Namespace) -> int:
    from sync import pki

    directory = _pki_dir(args, _config(args))
    if pki.init_server_pki(directory, args.host or ("127.0.0.1", "localhost")):
        print(f"CA made: {directory / pki.CA_KEY} signs enrolments (keep it on this host only)")
    else:
        print(f"{directory} already has a CA: nothing made (a second CA would split the fleet)")
    print(directory / pki.CA_CERT)
    return 0


def _host_cert(args: argparse.Namespace) -> int:
    from sync import pki

    out = Path(args.out)
    pki.issue_host_pki(_pki_dir(args, _config(args)), args.host or (), out)
    print(
        f"{out}: {pki.CA_CERT}, {pki.SERVER_CERT} and {pki.SERVER_KEY} for"
        f" {', '.join(args.host)}: copy them into that host's PKI directory (no CA key:"
        " it verifies devices and ingests, and does not sign enrolments)"
    )
    return 0


def _enrol_token(args: argparse.Namespace) -> int:
    from sync.server.app import enrolment_expiry, new_enrolment_token, token_hash

    repo = _open_current(args)
    token = new_enrolment_token()
    try:
        repo.add_enrolment_token(
            token_hash(token),
            args.device_id,
            args.office,
            enrolment_expiry(datetime.now(UTC), args.hours),
        )
    finally:
        repo.close()
    print(token)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    repo = _open_current(args)
    try:
        repo.revoke_device(args.device_id, datetime.now(UTC).isoformat())
    finally:
        repo.close()
    print(f"device {args.device_id} revoked")
    return 0


def _report(args: argparse.Namespace) -> int:
    from sync.server.report import report_csv, report_json

    repo = _open_current(args)
    try:
        rows = repo.daily_report(args.date, args.office)
    finally:
        repo.close()
    if args.format == "csv":
        sys.stdout.write(report_csv(rows))
    else:
        json.dump(report_json(args.date, rows), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    return 0


def _staff_add(args: argparse.Namespace) -> int:
    import getpass

    from madoguchi.errors import ConfigError
    from sync.server.authz import Role
    from sync.server.console.serve import open_console_store

    if args.password_file:
        password = Path(args.password_file).read_text(encoding="utf-8").rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.staff_id}: ")
        if getpass.getpass("again: ") != password:
            raise ConfigError("the two passwords differ")
    else:
        raise ConfigError("no terminal to ask the password on: give --password-file")
    store = open_console_store(_database(args, _config(args)))
    try:
        added = store.add_staff(
            args.staff_id, args.name, Role(args.role), password, args.office or [],
            actor="server-cli",
        )
    finally:
        store.close()
    # Shown this once: the secret is what the authenticator app enrols from.
    print(f"staff account {added.staff_id} added ({args.role})")
    print(f"TOTP secret: {added.totp_secret}")
    print(f"otpauth URI: {added.totp_uri}")
    return 0


def _staff_unlock(args: argparse.Namespace) -> int:
    from sync.server.console.serve import open_console_store

    store = open_console_store(_database(args, _config(args)))
    try:
        store.unlock(args.staff_id, actor="server-cli")
    finally:
        store.close()
    print(f"staff account {args.staff_id} unlocked")
    return 0


def _office_name(args: argparse.Namespace) -> int:
    from sync.server.console.serve import open_console_store

    store = open_console_store(_database(args, _config(args)))
    try:
        store.set_office_name(args.office, args.name, actor="server-cli")
    finally:
        store.close()
    print(f"office {args.office} is {args.name}")
    return 0


def _register_console(actions: Any, common: Any) -> None:
    staff = actions.add_parser("staff", help="office console accounts")
    staff_actions = staff.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    add = staff_actions.add_parser("add", help="add an account; prints its TOTP secret once")
    common(add)
    add.add_argument("staff_id")
    add.add_argument("--name", required=True, help="the name the console shows")
    add.add_argument(
        "--role", choices=("staff", "administrator", "it"), default="staff",
        help="office staff, municipality administrator, or IT",
    )
    add.add_argument("--office", action="append", help="an office of the account (repeatable)")
    add.add_argument("--password-file", help="read the password from this file (else asked)")
    add.set_defaults(func=_staff_add)
    unlock = staff_actions.add_parser("unlock", help="lift a lock-out")
    common(unlock)
    unlock.add_argument("staff_id")
    unlock.set_defaults(func=_staff_unlock)
    office = actions.add_parser("office-name", help="the name the console shows for an office")
    common(office)
    office.add_argument("office")
    office.add_argument("name")
    office.set_defaults(func=_office_name)


def _register_retention(actions: Any, common: Any) -> None:
    parts = actions.add_parser(
        "partitions",
        help="PostgreSQL: make the coming months' partitions and move rows out of the default"
        " one (as the schema's owner)",
    )
    common(parts)
    parts.add_argument("--ahead", type=int, default=3, help="months ahead (default 3)")
    parts.set_defaults(func=_partitions)

    retention = actions.add_parser(
        "retention",
        help="remove the months past the retention period (第4-4; as the schema's owner)",
    )
    common(retention)
    retention.add_argument(
        "--dry-run", action="store_true", help="say what would go, change nothing"
    )
    retention.add_argument(
        "--months", type=int, help="the period (default [sync] server_retention_months)"
    )
    retention.set_defaults(func=_retention)


def _register_pki(actions: Any, common: Any) -> None:
    pki_parser = actions.add_parser("pki", help="the CA (one signer) and the hosts' certificates")
    pki_actions = pki_parser.add_subparsers(dest="pki_command", metavar="ACTION", required=True)
    pki_init = pki_actions.add_parser(
        "init", help="make the CA once, on the host that signs enrolments, and its certificate"
    )
    common(pki_init)
    pki_init.add_argument("--host", action="append", help="server name or IP (repeatable)")
    pki_init.set_defaults(func=_init_pki)
    host_cert = pki_actions.add_parser(
        "host-cert", help="on the signer: another server host's certificate and the CA's"
    )
    common(host_cert)
    host_cert.add_argument(
        "--host", action="append", required=True, help="that host's name or IP (repeatable)"
    )
    host_cert.add_argument("--out", required=True, help="directory to write the files to")
    host_cert.set_defaults(func=_host_cert)


def register(sub: Any) -> None:
    """Add ``madoguchi server``."""
    parser = sub.add_parser("server", help="the central server (ingest, reports, status)")
    actions = parser.add_subparsers(dest="server_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", help="sqlite path, sqlite:///path or postgresql://… URL")
        p.add_argument("--pki-dir", help="CA and server TLS files")

    run = actions.add_parser("run", help="serve HTTPS with mutual TLS")
    common(run)
    run.add_argument("--listen", help="HOST:PORT")
    run.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    run.add_argument(
        "--simulate", action="store_true", help="enable the simulated issuing authority"
    )
    run.add_argument("--update-keys", help="IT's public key(s): deliver updates under /updates")
    run.add_argument("--publish-token-file", help="IT's publish token (with --update-keys)")
    run.add_argument("--updates-dir", help="where published bundles are kept")
    run.add_argument("--console-listen", help="HOST:PORT of the office console (browsers)")
    run.add_argument("--console-cert", help="the console's TLS certificate (default: the server's)")
    run.add_argument("--console-key", help="the console's TLS key (with --console-cert)")
    run.add_argument("--console-workers", type=int, default=1, help="console processes (default 1)")
    run.set_defaults(func=_run)
    _register_console(actions, common)

    migrate = actions.add_parser(
        "migrate",
        help="bring the database's schema to this version (as the schema's owner; the"
        " running server needs no DDL)",
    )
    common(migrate)
    migrate.add_argument(
        "--grant", metavar="ROLE",
        help="PostgreSQL: give ROLE (the server's runtime role) SELECT, INSERT, UPDATE and"
        " DELETE on the tables, and nothing more",
    )
    migrate.set_defaults(func=_migrate)

    _register_retention(actions, common)

    init = actions.add_parser("init-pki", help="the same as `pki init`")
    common(init)
    init.add_argument("--host", action="append", help="server name or IP (repeatable)")
    init.set_defaults(func=_init_pki)
    _register_pki(actions, common)

    token = actions.add_parser("enrol-token", help="a one-time token to enrol a device")
    common(token)
    token.add_argument("--device-id", required=True)
    token.add_argument("--office", required=True, help="municipality/office code")
    token.add_argument("--hours", type=int, default=72, help="validity")
    token.set_defaults(func=_enrol_token)

    revoke = actions.add_parser("revoke-device", help="refuse a device from now on")
    common(revoke)
    revoke.add_argument("device_id")
    revoke.set_defaults(func=_revoke)

    report = actions.add_parser("report", help="the daily 交付状況 report")
    common(report)
    report.add_argument("--date", required=True, help="YYYY-MM-DD (JST business date)")
    report.add_argument("--office")
    report.add_argument("--format", choices=("json", "csv"), default="json")
    report.set_defaults(func=_report)

    openapi = actions.add_parser(
        "openapi", help="print the server's OpenAPI 3.1 document (as /openapi.json serves it)"
    )
    openapi.set_defaults(func=_openapi)


def _openapi(args: argparse.Namespace) -> int:
    from sync.server.openapi import openapi_document

    print(json.dumps(openapi_document(), indent=1, ensure_ascii=False))
    return 0
