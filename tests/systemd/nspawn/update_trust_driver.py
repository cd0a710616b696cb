"""Runs *inside* the nspawn container for ``tests/systemd/test_update_trust.py``.

Stdlib only. The app user (``madoguchi``) plants what issue 13 found — a traversal
``pending.json``, a ``bad-versions.json``, symlinks for every file root used to
write — and the server is made to hand out a replayed and an expired channel
pointer; the real ``madoguchi-update.service`` runs each time. Everything is
recorded in a JSON file the host-side test asserts on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEV = str(Path(sys.executable).parent / "madoguchi")
PYTHON = "/opt/madoguchi/current/bin/python"
UPDATE = "madoguchi-update.service"
ENV = {**os.environ, "MADOGUCHI_STATE_DIR": "/var/lib/madoguchi"}
APP = Path("/var/lib/madoguchi")
OLD = APP / "update"  # where the updater used to keep its state
MINE = Path("/var/lib/madoguchi-update")
IT_DATA = Path("/var/lib/it-updates")
PORT = int(sys.argv[2])
SERVER = f"http://127.0.0.1:{PORT}"
TOKEN = "/etc/madoguchi/publish.token"
#: Where a root that followed a planted link would have written (root-writable for the unit).
TRAPS = "/opt/madoguchi/pwned-"

results: dict[str, Any] = {}

PLANT = r"""
import json, os, sys
from pathlib import Path
app, old, traps = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
done = {}
evil = app / "evil"
(evil / "bin").mkdir(parents=True, exist_ok=True)
script = evil / "bin" / "madoguchi"
script.write_text(
    "#!/bin/sh\nid -u > /var/lib/madoguchi/evil-ran-as\ntouch /opt/madoguchi/EVIL-RAN\n"
)
script.chmod(0o755)
(evil / "bin" / "python").symlink_to("/usr/bin/python3")
(evil / ".madoguchi-release.json").write_text('{"version": "6.6.6"}')
(old / "downloads").mkdir(parents=True, exist_ok=True)
(old / "pending.json").write_text(json.dumps(
    {"phase": "rollback", "version": "1.1.0", "previous": "../../../var/lib/madoguchi/evil"}))
(old / "bad-versions.json").write_text(json.dumps(["1.1.0", "1.2.0"]))
links = {
    old / "status.json": "status",
    old / "reports.jsonl": "reports",
    old / "downloads" / "madoguchi-1.1.0.bundle.part": "part-110",
    old / "downloads" / "madoguchi-1.2.0.bundle.part": "part-120",
}
last = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
for pid in range(last, last + 300):
    links[old / f".status.json.tmp-{pid}"] = f"tmp-{pid}"
    links[old / f".pending.json.tmp-{pid}"] = f"tmp-{pid}"
for path, name in links.items():
    path.unlink(missing_ok=True)
    path.symlink_to(traps + name)
lock = app / "update.lock"
lock.unlink(missing_ok=True)
lock.symlink_to(traps + "lock")
# and the updater's own directory is out of reach
for name in ("pending.json", "bad-versions.json", "probe"):
    try:
        Path("/var/lib/madoguchi-update", name).write_text("{}")
        done[name] = "written"
    except OSError as exc:
        done[name] = type(exc).__name__
print(json.dumps({"links": len(links) + 1, "own_dir": done}))
"""


def run(
    *argv: str, env: dict[str, str] | None = None, user: str | None = None, timeout: float = 300
) -> dict[str, Any]:
    as_user: dict[str, Any] = {}
    if user is not None:
        as_user = {"user": user, "group": user, "extra_groups": [], "cwd": "/"}
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or ENV,
        check=False,
        **as_user,
    )
    return {"rc": proc.returncode, "out": proc.stdout[-20000:], "err": proc.stderr[-4000:]}


def status() -> dict[str, Any]:
    result = run(DEV, "update", "status", "--json")
    try:
        data: dict[str, Any] = json.loads(result["out"])
    except ValueError:
        return {"error": result}
    return data


def traps() -> list[str]:
    """Anything written where only a followed link or planted code would write."""
    found = sorted(str(p) for p in Path("/opt/madoguchi").glob("pwned-*"))
    found += [
        p
        for p in ("/opt/madoguchi/EVIL-RAN", "/var/lib/madoguchi/evil-ran-as")
        if os.path.exists(p)
    ]
    return found


def root_owned_in_app_dir() -> list[str]:
    return sorted(str(p) for p in APP.rglob("*") if p.lstat().st_uid == 0)


def start_update() -> dict[str, Any]:
    started = run("systemctl", "start", UPDATE)
    journal = run("journalctl", "--no-pager", "-o", "cat", "-u", UPDATE, "-n", "40")
    return {
        "start": started,
        "status": status(),
        "traps": traps(),
        "current": os.readlink("/opt/madoguchi/current"),
        "journal": journal["out"],
    }


def publish(bundle: str, channel: str, *extra: str) -> dict[str, Any]:
    return run(
        DEV,
        "update",
        "publish",
        f"/bundles/{bundle}",
        "--server",
        SERVER,
        "--token-file",
        TOKEN,
        "--channel",
        channel,
        *extra,
    )


def serve_pointer(name: str | None) -> None:
    """The server hands out this pointer from now on (as a stale or compromised one would),
    planted in its database (``updater/store.py``); None takes the planted one away."""
    import sqlite3

    doc = Path(f"/bundles/{name}").read_text() if name else None
    with sqlite3.connect(IT_DATA / "updates.sqlite3") as db:
        db.execute("UPDATE update_releases SET pointer = ? WHERE channel = 'stable'", [doc])
        # the generation row tells the server's cache the channel changed
        db.execute(
            "UPDATE update_generations SET generation = generation + 1 WHERE channel = 'stable'"
        )


def scenario(name: str) -> Callable[[Callable[[], dict[str, Any]]], None]:
    def wrap(func: Callable[[], dict[str, Any]]) -> None:
        try:
            results[name] = {"ok": True, **func()}
        except Exception:
            results[name] = {"ok": False, "error": traceback.format_exc()}
        save()

    return wrap


def save() -> None:
    Path(sys.argv[1]).write_text(json.dumps(results, indent=1, sort_keys=True))


def main() -> None:
    server: subprocess.Popen[str] | None = None

    @scenario("install")
    def _() -> dict[str, Any]:
        nonlocal server
        applied = run(DEV, "update", "apply", "/bundles/madoguchi-1.0.0.bundle")
        server = subprocess.Popen(
            [
                DEV,
                "update",
                "serve",
                "--data",
                str(IT_DATA),
                "--keys",
                "/etc/madoguchi/update-keys",
                "--token-file",
                TOKEN,
                "--port",
                str(PORT),
            ],
            env=ENV,
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{SERVER}/keys", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        # IT: the key list (signed by the root key) and 1.1.0 behind a signed pointer
        first = publish(
            "madoguchi-1.1.0.bundle",
            "stable",
            "--key-list",
            "/bundles/keys.json",
            "--pointer-key",
            "/bundles/pointer.key",
        )
        security = publish("madoguchi-1.2.0.bundle", "staging")
        mode = oct(MINE.stat().st_mode & 0o777)
        return {
            "apply": applied,
            "publish": first,
            "publish_120": security,
            "own_dir_mode": mode,
            "own_dir_uid": MINE.stat().st_uid,
        }

    @scenario("planted")
    def _() -> dict[str, Any]:
        planted = run(PYTHON, "-c", PLANT, str(APP), str(OLD), TRAPS, user="madoguchi")
        result = start_update()
        result["planted"] = planted
        result["root_owned_in_app_dir"] = root_owned_in_app_dir()
        result["lock_is_link"] = (APP / "update.lock").is_symlink()
        return result

    @scenario("replayed")
    def _() -> dict[str, Any]:
        serve_pointer("pointer-replayed.json")
        return start_update()

    @scenario("expired")
    def _() -> dict[str, Any]:
        serve_pointer("pointer-expired.json")
        return start_update()

    @scenario("security_update")
    def _() -> dict[str, Any]:
        # IT takes the server back (drops the planted pointer) and ships the fix: a fresh
        # signed pointer to 1.2.0, which the app user listed "bad"
        serve_pointer(None)
        published = publish(
            "madoguchi-1.2.0.bundle", "stable", "--pointer-key", "/bundles/pointer.key"
        )
        result = start_update()
        result["publish"] = published
        result["root_owned_in_app_dir"] = root_owned_in_app_dir()
        return result

    if server is not None:
        server.terminate()
        server.wait(10)
    results["done"] = {"ok": True}
    save()


if __name__ == "__main__":
    try:
        main()
    finally:
        results["journal"] = run("journalctl", "--no-pager", "-o", "short-monotonic", "-u", UPDATE)[
            "out"
        ][-20000:]
        save()
