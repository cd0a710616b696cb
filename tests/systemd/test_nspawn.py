"""The units under real systemd: systemd-nspawn boots the host's own systemd in a container.

One boot runs every scenario (``nspawn/driver.py``, a oneshot unit started through
``systemd.wants=`` on the kernel command line), then powers off. The real unit
files from ``systemd/`` run the real daemons (``madoguchi sync run``,
``madoguchi server run``); drop-ins only shorten their watchdogs. The central
server also delivers the updates (``/updates``): IT publishes its bundles there
with ``madoguchi update publish`` and its token, and the counter's update unit
pulls them over mutual TLS with the device's enrolment.

Scenarios: the first install (``madoguchi update apply``) brings the central
server up; it is ready only once it listens and answers over mutual TLS; the
uploader is not ready before the device is enrolled (enrolment happens in the
container, keys made there), and is after; ``kill -9`` and a hang (SIGSTOP: the
watchdog fires) end in a restart for both daemons; a transaction written to the
device store reaches the server's daily report; the timer's service pulls,
applies and commits 1.1.0; a broken 1.2.0 is rolled back by itself; an open
counter transaction defers 1.3.0 until it closes. The central server's fleet view
(``madoguchi update fleet``) shows what the counter reported.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from madoguchi.bench.nspawn import BootLockTimeoutError, boot_to_the_end, one_boot_at_a_time
from madoguchi.bench.update import make_release_set

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
UNITS = (
    "madoguchi-sync.service",
    "madoguchi-update.service",
    "madoguchi-update.timer",
    "madoguchi-tui.service",
    "madoguchi-server.service",
)
BOOT_TIMEOUT_S = 300
#: One container at a time on this host (madoguchi/bench/nspawn.py says why).
BOOT_LOCK_WAIT_S = 600
PUBLISH_TOKEN = "nspawn-it-publish-token"
#: The module's first test sets up the boot: waiting for the lock, then booting. Its
#: limit covers both, so pytest's default (300 s) never stops a boot half-way.
pytestmark = pytest.mark.timeout(BOOT_LOCK_WAIT_S + BOOT_TIMEOUT_S + 120)


@dataclass
class Boot:
    results: dict[str, Any]
    console: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(sync_port: int, channel: str, units: str = "madoguchi-sync.service") -> str:
    return f"""
[sync]
device_id = "counter-01"
# The central server runs in the container, on loopback (shared with the host: a free port).
server_url = "https://127.0.0.1:{sync_port}"
server_listen = "127.0.0.1:{sync_port}"
# ... and delivers IT's updates under /updates, which is where the counter polls
# ([update] server_url left empty: [sync] server_url + /updates, over the device's mTLS).
server_update_keys = "/etc/madoguchi/update-keys"
server_publish_token_file = "/etc/madoguchi/publish.token"

[update]
root = "/opt/madoguchi"
keys = "/etc/madoguchi/update-keys"
channel = "{channel}"
units = ["{units}"]
health_timeout_s = 45
extra_site = "{CONTAINER_SITE}"
# Debian's interpreter, not this venv's base: the units' ProtectHome= hides /root (pyenv).
python = "/usr/bin/python3.11"
"""


#: Where the container sees this venv's site-packages, which app-only bundles run
#: against (``extra_site``). Not the host path: wherever CI cloned the checkout,
#: PrivateTmp= (under /tmp) or ProtectHome= and /root's mode (under /root) would hide
#: it from the units' users.
CONTAINER_SITE = "/srv/madoguchi-dev-site"


def sysconfig_purelib() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def _interpreter_binds() -> list[str]:
    # The dev venv's interpreter may live outside /usr (e.g. pyenv under /root); the
    # driver and the first install run with it, as root, so make it visible.
    base = Path(sys.base_prefix).resolve()
    if base.is_relative_to(Path("/usr")):
        return []
    return [f"--bind-ro={base}"]


def _prepare_etc(etc: Path, sync_port: int, public_key: Path) -> None:
    system = etc / "systemd" / "system"
    system.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(ROOT / "systemd" / unit, system / unit)
    # The real daemons under the real units; the drop-ins only shorten the watchdog.
    for name in ("sync", "server"):
        dropin = system / f"madoguchi-{name}.service.d"
        dropin.mkdir()
        shutil.copy(HERE / "nspawn" / f"{name}-watchdog.conf", dropin / "watchdog.conf")
    e2e = (HERE / "nspawn" / "madoguchi-e2e.service").read_text()
    e2e = e2e.replace("@PYTHON@", sys.executable).replace("@ROOT@", str(ROOT))
    (system / "madoguchi-e2e.service").write_text(e2e)
    config = etc / "madoguchi"
    (config / "update-keys").mkdir(parents=True)
    shutil.copy(public_key, config / "update-keys" / "it.pem")
    # IT's publish token; on a real server host root:madoguchi-server 0640. World-readable
    # here only because the server's user does not exist yet on the host side.
    (config / "publish.token").write_text(PUBLISH_TOKEN + "\n")
    (config / "madoguchi.toml").write_text(_config(sync_port, "stable"))
    for channel in ("stable", "canary", "next"):
        (config / f"{channel}.toml").write_text(_config(sync_port, channel))
    # The first install health-checks the server (the sync daemon cannot be ready before
    # the device is enrolled, and enrolling needs the server installed and running).
    (config / "first.toml").write_text(
        _config(sync_port, "stable", units="madoguchi-server.service")
    )
    # The first boot of an empty /etc applies presets (Debian: "enable *"), which would
    # start the units before anything is installed; here the scenarios start them.
    (etc / "systemd" / "system-preset").mkdir()
    (etc / "systemd" / "system-preset" / "00-madoguchi-test.preset").write_text(
        "disable madoguchi-*\n"
    )
    (etc / "sysusers.d").mkdir()
    shutil.copy(ROOT / "systemd" / "madoguchi.sysusers.conf", etc / "sysusers.d" / "madoguchi.conf")
    (etc / "tmpfiles.d").mkdir()
    shutil.copy(ROOT / "systemd" / "madoguchi.tmpfiles.conf", etc / "tmpfiles.d" / "madoguchi.conf")


@contextlib.contextmanager
def _one_boot_at_a_time() -> Iterator[None]:
    try:
        with one_boot_at_a_time(BOOT_LOCK_WAIT_S):
            yield
    except BootLockTimeoutError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def boot(tmp_path_factory: pytest.TempPathFactory) -> Boot:
    work = tmp_path_factory.mktemp("nspawn")
    releases = make_release_set(work / "releases", ("1.0.0", "1.1.0", "1.3.0"), broken=("1.2.0",))
    etc = work / "etc"
    port = _free_port()
    _prepare_etc(etc, port, releases.public_key)
    # IT's bundles: 1.0.0 is the first install, the others are published to the central
    # server in the container (the driver's "publish" scenario).
    bundles = work / "bundles"
    bundles.mkdir()
    for bundle in releases.bundles.values():
        shutil.copy(bundle, bundles)
    out = work / "out"
    out.mkdir()
    with _one_boot_at_a_time():
        stdout, stderr = _boot_to_the_end(
            [
                "timeout",
                "--kill-after=10",
                str(BOOT_TIMEOUT_S),
                "systemd-nspawn",
                "-D",
                "/",
                "--volatile=yes",
                "-b",
                "--register=no",
                "--keep-unit",
                # its own name: another container booted from "/" at the same time would
                # share the default one (and its propagation directory)
                f"--machine=madoguchi-test-{port}",
                "-q",
                f"--bind-ro={ROOT}",
                f"--bind-ro={sysconfig_purelib()}:{CONTAINER_SITE}",
                f"--bind-ro={ROOT}:/srv/madoguchi-checkout",
                *_interpreter_binds(),
                f"--bind={out}:/out",
                f"--bind-ro={bundles}:/bundles",
                f"--bind={etc / 'systemd' / 'system'}:/etc/systemd/system",
                f"--bind-ro={etc / 'madoguchi'}:/etc/madoguchi",
                f"--bind-ro={etc / 'systemd' / 'system-preset'}:/etc/systemd/system-preset",
                f"--bind-ro={etc / 'sysusers.d'}:/etc/sysusers.d",
                f"--bind-ro={etc / 'tmpfiles.d'}:/etc/tmpfiles.d",
                "systemd.firstboot=off",
                "systemd.wants=madoguchi-e2e.service",
            ]
        )
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    return Boot(results, stdout[-5000:] + stderr[-3000:])


def _boot_to_the_end(argv: list[str]) -> tuple[str, str]:
    return boot_to_the_end(argv, BOOT_TIMEOUT_S + 30)


def _scenario(boot: Boot, name: str) -> dict[str, Any]:
    assert name in boot.results, f"scenario {name} did not run; console:\n{boot.console}"
    result: dict[str, Any] = boot.results[name]
    assert result["ok"], f"{result.get('error')}\njournal:\n{boot.results.get('journal')}"
    return result


def _running(state: dict[str, str]) -> tuple[str, str]:
    return state["ActiveState"], state["SubState"]


def test_first_install_brings_the_server_up_ready(boot: Boot) -> None:
    # IT made the CA first (`madoguchi server pki init`): a server never makes one itself
    pki_init = _scenario(boot, "server_pki")["init"]
    assert pki_init["rc"] == 0, pki_init
    install = _scenario(boot, "install")
    assert install["apply"]["rc"] == 0, install["apply"]
    assert install["status"]["current"] == "1.0.0"
    assert install["status"]["state"] == "committed"
    assert _running(install["server"]) == ("active", "running")


def test_the_server_is_ready_only_when_it_listens(boot: Boot) -> None:
    ready = _scenario(boot, "server_ready")
    assert ready["restart"]["rc"] == 0, ready
    # connected at once after READY=1, without a retry
    assert ready["connected_at_ready"] is True, ready
    assert _running(ready["server"]) == ("active", "running")
    # its own user, not root, and the versioned interpreter behind "current"
    assert ready["process"]["uid"] != 0
    assert "/opt/madoguchi/versions/1.0.0/bin/python" in ready["process"]["cmdline"][0]
    assert ready["process"]["cmdline"][-2:] == ["server", "run"]


def test_the_server_answers_on_loopback_with_mutual_tls(boot: Boot) -> None:
    answer = _scenario(boot, "server_answers")["time"]
    assert answer["status"] == 401, answer
    assert answer["body"]["error"] == "client_certificate_required"


def test_the_uploader_is_not_ready_before_the_device_is_enrolled(boot: Boot) -> None:
    unenrolled = _scenario(boot, "sync_unenrolled")
    assert unenrolled["start"]["rc"] != 0, unenrolled
    assert unenrolled["sync"]["ActiveState"] != "active", unenrolled
    assert "TlsTrustError" in unenrolled["journal"] or "enrol" in unenrolled["journal"], unenrolled


def test_the_device_enrols_with_the_server_in_the_container(boot: Boot) -> None:
    enrol = _scenario(boot, "enrol")
    # The central server stayed the same process through the admin's token and the
    # device's request: were it restarted under them (its watchdog, a crash), the failure
    # below would not be the enrolment's own (its journal is in the message).
    before, after = enrol["server_before"], enrol["server_after"]
    assert (before["MainPID"], before["NRestarts"]) == (after["MainPID"], after["NRestarts"]), enrol
    assert enrol["token"]["rc"] == 0, enrol
    assert enrol["enroll"]["rc"] == 0, enrol
    assert "counter-01" in enrol["enroll"]["out"]
    assert enrol["key_mode"] == "0o600"
    assert enrol["me"]["status"] == 200, enrol
    assert enrol["me"]["body"]["device_id"] == "counter-01"


def test_the_enrolled_uploader_reports_ready(boot: Boot) -> None:
    ready = _scenario(boot, "ready")
    assert ready["start"]["rc"] == 0, ready
    assert _running(ready["sync"]) == ("active", "running")
    assert ready["process"]["uid"] != 0
    assert "/opt/madoguchi/versions/1.0.0/bin/python" in ready["process"]["cmdline"][0]
    assert ready["process"]["cmdline"][-2:] == ["sync", "run"]


@pytest.mark.parametrize("name", ["kill9", "server_kill9"])
def test_kill_9_is_restarted(boot: Boot, name: str) -> None:
    kill = _scenario(boot, name)
    assert kill["recovered_after_s"] is not None, kill
    assert int(kill["after"]["NRestarts"]) == int(kill["before"]["NRestarts"]) + 1


@pytest.mark.parametrize("name", ["watchdog", "server_watchdog"])
def test_a_missed_watchdog_is_restarted(boot: Boot, name: str) -> None:
    watchdog = _scenario(boot, name)
    assert watchdog["recovered_after_s"] is not None, watchdog
    assert watchdog["watchdog_logged"]
    assert int(watchdog["after"]["NRestarts"]) > int(watchdog["before"]["NRestarts"])
    # WatchdogSec= 3-6 s in the drop-ins: noticed well before a start timeout could
    assert watchdog["recovered_after_s"] < 20


def test_a_hung_server_worker_is_replaced_without_restarting_the_service(boot: Boot) -> None:
    # `server run --workers 2` under the unit, WatchdogSec=3s: one worker SIGSTOPped
    result = _scenario(boot, "server_workers")
    assert result["restart"]["rc"] == 0, result
    assert result["replaced_after_s"] is not None, result  # the supervisor replaced it
    assert result["other_kept"] is True
    assert result["logged"] is True
    # ... while systemd saw a service that kept its watchdog fed: no restart
    assert result["after"]["MainPID"] == result["before"]["MainPID"]
    assert result["after"]["NRestarts"] == result["before"]["NRestarts"]
    assert _running(result["after"]) == ("active", "running")
    assert result["answers"] == [200, 200, 200, 200]


def test_the_daemons_keep_their_watchdog_fed(boot: Boot) -> None:
    # From the last deliberate hang to the end of the boot (the update scenarios, tens of
    # seconds, many times WatchdogSec=3s) the server was never restarted: it pings from
    # its event loop. The uploader likewise since the updater last restarted it.
    hung = _scenario(boot, "server_watchdog")["after"]
    end = _scenario(boot, "done")
    assert (end["server"]["MainPID"], end["server"]["NRestarts"]) == (
        hung["MainPID"],
        hung["NRestarts"],
    ), end
    assert end["sync"]["ActiveState"] == "active"
    assert end["sync"]["NRestarts"] == "0", end


def test_a_recorded_transaction_reaches_the_daily_report(boot: Boot) -> None:
    upload = _scenario(boot, "upload")
    assert upload["written"]["rc"] == 0, upload["written"]
    assert upload["drained_after_s"] is not None, upload["status"]
    assert upload["status"]["queue_length"] == 0
    assert upload["status"]["last_success"], upload["status"]
    # The clock check is stored with the boot id the daemon reads (with ProcSubset=pid it
    # was "unknown-boot", so the clerk would always be asked to confirm the date). What
    # counts is that the counter screen, in the same boot and under its own unit's
    # sandbox, reads the same id and so trusts the check. Not the host's id: which id a
    # sandboxed process sees depends on the container (nspawn fakes one per container,
    # the sandbox's read-only /proc/sys can show the kernel's or an outer container's).
    tui = upload["tui_view"]
    assert tui["rc"] == 0, tui
    assert upload["status"]["clock_checked_boot"] not in (None, "unknown-boot"), upload["status"]
    assert upload["status"]["clock_checked_boot"] == tui["boot_id"], (upload["status"], tui)
    assert tui["status"]["date_needs_confirmation"] is False, tui
    for report in (upload["report"], upload["report_http"]["body"]):
        rows = {row["certificate_type"]: row for row in report["rows"]}
        assert set(rows) == {"auth", "sign"}, report
        assert all(row["issued"] == 1 and row["office_code"] == "131016" for row in rows.values())
    # both daemons stayed up through it (no watchdog kill while idle or serving)
    assert upload["sync"]["ActiveState"] == upload["server"]["ActiveState"] == "active"


def test_journal_carries_structured_fields(boot: Boot) -> None:
    entries = _scenario(boot, "journal_fields")["entries"]
    assert entries
    assert all(e["MADOGUCHI_COMPONENT"] == "sync" for e in entries)
    assert all(e["SYSLOG_IDENTIFIER"] in ("madoguchi-sync", "systemd") for e in entries)


def test_the_journal_has_priorities_fields_and_the_uploaders_backlog(boot: Boot) -> None:
    journal = _scenario(boot, "journal_fields")
    by_message = {e["MESSAGE"]: e for e in journal["probes"]}
    info, error = by_message["probe info"], by_message["probe error"]
    assert (info["PRIORITY"], error["PRIORITY"]) == ("6", "3"), journal
    assert info["MADOGUCHI_DEVICE_ID"] == error["MADOGUCHI_DEVICE_ID"] == "counter-01"
    assert error["MADOGUCHI_TRANSACTION_ID"] == "t-1"
    assert info["_SYSTEMD_UNIT"] == "madoguchi-log-probe.service"
    assert info["SYSLOG_IDENTIFIER"] == "madoguchi-sync"
    # the screen under a unit logs to the journal, not to a file
    assert journal["screen_log_file"] == "None", journal
    screen = by_message["screen probe"]
    assert (screen["PRIORITY"], screen["MADOGUCHI_COMPONENT"]) == ("4", "tui")
    # systemctl status madoguchi-sync shows the backlog (sd_notify STATUS=)
    assert journal["status_text"].startswith("0 waiting, 0 quarantined; last upload 20"), journal


def test_timer_service_pulls_applies_and_commits(boot: Boot) -> None:
    update = _scenario(boot, "update_ok")
    assert update["start"]["rc"] == 0, update
    assert update["update"]["Result"] == "success"
    assert update["status"]["current"] == "1.1.0"
    assert update["status"]["state"] == "committed"
    assert update["sync"]["ActiveState"] == "active"
    assert "/opt/madoguchi/versions/1.1.0/bin/python" in update["process"]["cmdline"][0]


def test_a_bad_update_rolls_back_by_itself(boot: Boot) -> None:
    bad = _scenario(boot, "update_bad")
    why = f"{bad}\njournal:\n{boot.results.get('journal', '')[-6000:]}"
    assert bad["start"]["rc"] != 0, why  # exit 3: rolled back, the unit shows it failed
    assert bad["status"]["current"] == "1.1.0", why
    assert bad["status"]["state"] == "rolled_back", why
    assert bad["status"]["reason"] == "health-check-failed", why
    assert bad["sync"]["ActiveState"] == "active", why
    assert "/opt/madoguchi/versions/1.1.0/bin/python" in bad["process"]["cmdline"][0], why


def test_an_open_transaction_defers_activation_not_download(boot: Boot) -> None:
    deferred = _scenario(boot, "deferred")
    assert deferred["holding"] == "holding"
    assert deferred["while_open"]["rc"] == 0  # exit 75 counts as success for the unit
    assert deferred["status_open"]["state"] == "deferred"
    assert deferred["status_open"]["current"] == "1.1.0"
    assert "madoguchi-1.3.0.bundle" in deferred["downloads"]
    assert deferred["after_close"]["rc"] == 0
    assert deferred["status_after"]["current"] == "1.3.0"
    assert deferred["status_after"]["state"] == "committed"


def test_it_publishes_to_the_central_server(boot: Boot) -> None:
    publish = _scenario(boot, "publish")
    assert publish["without_token"]["rc"] == 2, publish
    assert "refused (401)" in publish["without_token"]["err"], publish
    for channel, version in (("stable", "1.1.0"), ("canary", "1.2.0"), ("next", "1.3.0")):
        result = publish[channel]
        assert result["rc"] == 0, result
        assert json.loads(result["out"])["version"] == version
    # the update endpoints want the device's certificate like the rest of the server
    assert publish["latest_without_cert"]["status"] == 401, publish
    assert publish["latest_with_cert"]["status"] == 200, publish
    assert publish["latest_with_cert"]["body"]["version"] == "1.1.0"


def test_the_server_shows_the_counter_version(boot: Boot) -> None:
    done = _scenario(boot, "done")
    assert done["fleet"]["rc"] == 0, done["fleet"]
    counters = {d["device_id"]: d for d in json.loads(done["fleet"]["out"])}
    # filed under the certificate's id, from the update unit's reports over mutual TLS
    assert counters["counter-01"]["running"] == "1.3.0"
    assert counters["counter-01"]["state"] == "committed"


def test_the_kiosk_refuses_to_start_without_a_configuration(boot: Boot) -> None:
    """Fail closed (issue 13): the kiosk unit whose configuration is missing refuses in
    ExecStartPre, one sentence in its journal, and never starts the screen on the demo
    defaults. (Here the unit is pointed at a file never written: /etc/madoguchi is bound
    read-only; the absent system file itself is tests/tui/test_fail_closed.py's.)"""
    kiosk = _scenario(boot, "kiosk_without_config")
    assert kiosk["start"]["rc"] != 0, kiosk
    why = json.dumps(kiosk, indent=1, ensure_ascii=False)
    assert kiosk["state"]["ActiveState"] == "failed", why
    assert kiosk["state"]["Result"] == "exit-code", why
    journal = kiosk["journal"]
    assert (
        "madoguchi: configuration file /etc/madoguchi/never-written.toml does not exist" in journal
    ), journal
    assert "configuration ok" not in journal
    assert "Traceback" not in journal
