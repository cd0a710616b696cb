"""First boot (issue 15): the provisioning screen against a real server on loopback.

A real ``madoguchi server run`` (SQLite, mutual TLS, its own CA) in a child process;
one-time tokens made in its database as ``madoguchi server enrol-token`` makes them. The
screen runs headless (Textual Pilot) with the real provisioner
(``madoguchi/provisioning.py``): typed URL and token, the USB stick's enrolment file
(a tmp folder stands for the mount root, ``$MADOGUCHI_USB_ROOTS``'s seam), every
refusal in one Japanese sentence with nothing written, and a kill -9 between the
enrolment and the write.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import tomllib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from madoguchi import config as config_module
from madoguchi.config import load_config
from madoguchi.provisioning import Provisioner, fingerprint
from sync import pki
from sync.localserver import LocalServer
from sync.server.app import enrolment_expiry, token_hash
from sync.server.repository import open_repository
from sync.tls import enrolled_device_id
from tests.tui.helpers import wait_for
from tui.i18n import Strings
from tui.provision_app import ProvisionApp
from tui.screens.provision import ProvisionScreen, Step

ROOT = Path(__file__).resolve().parents[2]
JA = Strings("ja")


class Server:
    """A running server and a way to make its one-time tokens."""

    def __init__(self, proc: LocalServer) -> None:
        self.proc = proc
        self.url = proc.url
        self.ca_pem = (proc.pki_dir / pki.CA_CERT).read_bytes()

    def token(self, *, office: str = "131016", expired: bool = False) -> tuple[str, str]:
        """A fresh token and the device id it enrols."""
        device_id = f"dev-{uuid.uuid4().hex[:8]}"
        token = uuid.uuid4().hex
        now = datetime.now(UTC)
        expiry = (now - timedelta(hours=1)).isoformat() if expired else enrolment_expiry(now)
        repo = open_repository(self.proc.db_url)
        try:
            repo.add_enrolment_token(token_hash(token), device_id, office, expiry)
        finally:
            repo.close()
        return token, device_id


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("provision-server")
    pki.init_server_pki(directory / "pki")
    proc = LocalServer(str(directory / "server.sqlite3"), directory / "pki", simulate=False)
    proc.start()
    try:
        yield Server(proc)
    finally:
        proc.stop()


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An unprovisioned counter's state dir (and no /etc configuration)."""
    directory = tmp_path / "state"
    monkeypatch.setenv("MADOGUCHI_STATE_DIR", str(directory))
    monkeypatch.delenv("MADOGUCHI_CONFIG", raising=False)
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", tmp_path / "etc-madoguchi.toml")
    return directory


@pytest.fixture
def usb(tmp_path: Path) -> Path:
    """The mount root a stick appears under (``/media`` on the appliance)."""
    root = tmp_path / "media"
    root.mkdir()
    return root


def _app(state: Path, usb: Path) -> ProvisionApp:
    return ProvisionApp(provisioner=Provisioner(state, roots=[str(usb)], timeout_s=5.0))


def _message(app: ProvisionApp) -> str:
    return str(app.screen.query_one("#provision-message", Static).render()).replace("\n", "")


def _nothing_written(state: Path) -> None:
    assert not (state / "madoguchi.toml").exists()
    assert not (state / "sync").exists()
    leftovers = [p.name for p in state.iterdir()] if state.exists() else []
    assert not [n for n in leftovers if n.startswith(".")], leftovers


async def _type(pilot: object, url: str, token: str) -> None:
    app = pilot.app  # type: ignore[attr-defined]
    screen = app.screen
    assert isinstance(screen, ProvisionScreen)
    screen.query_one("#server-url", Input).value = ""
    screen.query_one("#token", Input).value = ""
    screen.query_one("#server-url", Input).focus()
    await pilot.press(*url, "tab", *token, "enter")  # type: ignore[attr-defined]


def _written(state: Path, server: Server, device_id: str) -> None:
    config_path = state / "madoguchi.toml"
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "sync" / "device.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "sync").stat().st_mode) == 0o700
    assert (state / "sync" / "ca.crt").read_bytes() == server.ca_pem
    assert enrolled_device_id(state / "sync") == device_id
    config = load_config(required_for="the test")  # the loader finds the provisioned file
    assert config.sync.server_url == server.url
    assert config.sync.device_id == device_id
    assert config.sync.office_code == "131016"
    assert config.sync.resolved_tls_dir() == state / "sync"
    assert config.reader.backend == "pcsc"  # never the virtual card
    assert config.keypad.backend in ("keyboard", "gpio")
    tomllib.loads(config_path.read_text(encoding="utf-8"))


def test_a_provisioned_counter_reads_its_state_dir_configuration_and_etc_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the kiosk (unprivileged, /etc read-only) writes, the CLI run by IT finds it:
    the provisioned file makes the system state dir the state dir; IT's /etc file wins."""
    monkeypatch.delenv("MADOGUCHI_STATE_DIR", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.delenv("MADOGUCHI_CONFIG", raising=False)
    etc, system_state = tmp_path / "etc.toml", tmp_path / "var-lib-madoguchi"
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", etc)
    monkeypatch.setattr(config_module, "SYSTEM_STATE_DIR", system_state)
    assert config_module.default_state_dir() != system_state
    system_state.mkdir()
    (system_state / "madoguchi.toml").write_text('[reader]\nbackend = "pcsc"\n', "utf-8")
    assert config_module.provisioned_config() == system_state / "madoguchi.toml"
    assert config_module.default_state_dir() == system_state
    assert load_config(required_for="x").reader.backend == "pcsc"
    assert load_config(system=False).reader.backend == "sim"  # the demo never reads it
    etc.write_text('[reader]\nbackend = "pcsc"\nname = "IT"\n', "utf-8")
    assert load_config().reader.name == "IT"


async def test_typed_url_and_token_enrol_after_the_fingerprint_is_confirmed(
    server: Server, state: Path, usb: Path
) -> None:
    token, device_id = server.token()
    app = _app(state, usb)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProvisionScreen)
        await _type(pilot, server.url, token)
        await wait_for(pilot, lambda: screen.step is Step.CONFIRM)
        shown = str(screen.query_one("#fingerprint", Static).render()).replace("\n", ":")
        assert shown == fingerprint(server.ca_pem)  # what IT compares with
        assert JA("provision.confirm_typed")[:20] in str(
            screen.query_one("#confirm-lead", Static).render()).replace("\n", "")
        _nothing_written(state)  # nothing sent or written before the person confirms
        await pilot.press("enter")  # 一致する・登録する (focused)
        await wait_for(pilot, lambda: app.return_value is not None or not app.is_running)
    assert app.return_value == state / "madoguchi.toml"
    _written(state, server, device_id)


async def test_an_enrolment_file_on_a_usb_stick_enrols(
    server: Server, state: Path, usb: Path
) -> None:
    token, device_id = server.token()
    app = _app(state, usb)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProvisionScreen)
        await pilot.pause(0.3)
        stick = usb / "MADOGUCHI"
        stick.mkdir()
        ca = textwrap.indent(server.ca_pem.decode(), "")
        (stick / "madoguchi-enrol.toml").write_text(
            f'server_url = "{server.url}"\ntoken = "{token}"\noffice_code = "131016"\n'
            f'ca_pem = """{ca}"""\n\n[config.keypad]\nbackend = "keyboard"\n',
            encoding="utf-8",
        )
        await pilot.press("f5")
        await wait_for(pilot, lambda: screen.step is Step.CONFIRM)
        lead = str(screen.query_one("#confirm-lead", Static).render()).replace("\n", "")
        assert "madoguchi-enrol.toml" in lead
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_value == state / "madoguchi.toml"
    _written(state, server, device_id)
    assert load_config().keypad.backend == "keyboard"


async def test_a_usb_file_with_the_ca_fingerprint_is_checked_against_the_server(
    server: Server, state: Path, usb: Path, tmp_path: Path
) -> None:
    token, device_id = server.token()
    other = tmp_path / "other-pki"
    pki.init_server_pki(other)
    stick = usb / "stick"
    stick.mkdir()
    enrolment = stick / "madoguchi-enrol.toml"
    enrolment.write_text(
        f'server_url = "{server.url}"\ntoken = "{token}"\n'
        f'ca_sha256 = "{fingerprint((other / pki.CA_CERT).read_bytes())}"\n', encoding="utf-8")
    app = _app(state, usb)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProvisionScreen)
        # Found by the screen's own look (on mount), refused: another CA's fingerprint.
        await wait_for(pilot, lambda: "error" in screen.query_one("#provision-message").classes)
        assert _message(app) == JA("provision.error.fingerprint_mismatch")
        assert screen.step is Step.ENTRY
        _nothing_written(state)
        # IT fixes the file (the server's own CA, lower case, no colons): F5 reads it again.
        enrolment.write_text(
            f'server_url = "{server.url}/"\ntoken = "{token}"\n'
            f'ca_sha256 = "{fingerprint(server.ca_pem).replace(":", "").lower()}"\n',
            encoding="utf-8")
        await pilot.press("f5")
        await wait_for(pilot, lambda: screen.step is Step.CONFIRM)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.is_running)
    _written(state, server, device_id)


@pytest.mark.parametrize("case", ["wrong", "used", "expired"])
async def test_a_refused_token_says_so_and_the_right_one_then_enrols(
    case: str, server: Server, state: Path, usb: Path, tmp_path: Path
) -> None:
    good, device_id = server.token()
    if case == "wrong":
        bad = uuid.uuid4().hex
    elif case == "used":
        bad, _ = server.token()
        Provisioner(tmp_path / "elsewhere").enrol_and_commit(
            Provisioner(tmp_path).typed(server.url, bad), server.ca_pem)
    else:
        bad, _ = server.token(expired=True)
    app = _app(state, usb)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProvisionScreen)
        await _type(pilot, server.url, bad)
        await wait_for(pilot, lambda: screen.step is Step.CONFIRM)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.step is Step.ENTRY)
        assert _message(app) == JA("provision.error.token_refused")
        assert "error" in screen.query_one("#provision-message").classes
        assert screen.focused is screen.query_one("#token")  # to correct it
        assert screen.query_one("#server-url", Input).value == server.url  # kept
        _nothing_written(state)
        await _type(pilot, server.url, good)
        await wait_for(pilot, lambda: screen.step is Step.CONFIRM)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.is_running)
    _written(state, server, device_id)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:1", "url_invalid"),
        ("https://127.0.0.1:port", "url_invalid"),
        ("https://127.0.0.1:1", "server_unreachable"),  # the server is down
        ("https://no-such-host.invalid", "server_unreachable"),
    ],
)
async def test_a_wrong_url_or_a_server_that_is_down_says_so(
    url: str, reason: str, server: Server, state: Path, usb: Path
) -> None:
    token, _ = server.token()
    app = _app(state, usb)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProvisionScreen)
        await _type(pilot, url, token)
        await wait_for(pilot, lambda: "error" in screen.query_one("#provision-message").classes)
        assert _message(app) == JA(f"provision.error.{reason}")
        assert screen.step is Step.ENTRY
        assert screen.query_one("#token", Input).value == token  # kept for the retry
        _nothing_written(state)


async def test_a_url_that_is_not_the_server_says_so(
    server: Server, state: Path, usb: Path
) -> None:
    token, _ = server.token()
    app = _app(state, usb)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProvisionScreen)
        await _type(pilot, server.url + "/v1/time", token)  # a path of the server: 404
        await wait_for(pilot, lambda: "error" in screen.query_one("#provision-message").classes)
        assert _message(app) == JA("provision.error.not_a_server")
        _nothing_written(state)


async def test_they_differ_and_esc_send_nothing(
    server: Server, state: Path, usb: Path
) -> None:
    token, device_id = server.token()
    app = _app(state, usb)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProvisionScreen)
        await _type(pilot, server.url, token)
        await wait_for(pilot, lambda: screen.step is Step.CONFIRM)
        await pilot.press("escape")
        assert screen.step is Step.ENTRY
        assert _message(app) == JA("provision.cancelled")
        await _type(pilot, server.url, token)
        await wait_for(pilot, lambda: screen.step is Step.CONFIRM)
        await pilot.press("right", "enter")  # 一致しない
        assert screen.step is Step.ENTRY
        await pilot.press("escape")  # clears the message, nothing else
        assert _message(app) == ""
        _nothing_written(state)
        # The token was never sent: it still enrols.
        await _type(pilot, server.url, token)
        await wait_for(pilot, lambda: screen.step is Step.CONFIRM)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.is_running)
    _written(state, server, device_id)


async def test_a_usb_file_with_another_ca_is_refused_at_the_handshake(
    server: Server, state: Path, usb: Path, tmp_path: Path
) -> None:
    token, _ = server.token()
    other = tmp_path / "other-pki"
    pki.init_server_pki(other)
    (usb / "stick").mkdir()
    (usb / "stick" / "madoguchi-enrol.toml").write_text(
        f'server_url = "{server.url}"\ntoken = "{token}"\n'
        f'ca_pem = """{(other / pki.CA_CERT).read_text()}"""\n', encoding="utf-8")
    app = _app(state, usb)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProvisionScreen)
        await wait_for(pilot, lambda: screen.step is Step.CONFIRM)  # the file's CA: trusted
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.step is Step.ENTRY)
        assert _message(app) == JA("provision.error.ca_mismatch")
        _nothing_written(state)


@pytest.mark.parametrize(
    "content",
    [
        "server_url = \"https://x\"\ntoken = [1\n",  # not TOML
        "server_url = \"https://x\"\ntoken = 5\nca_sha256 = \"00\"\n",  # a wrong type
        "server_url = \"https://x\"\ntoken = \"t\"\n",  # no CA at all
        "server_url = \"https://x\"\ntoken = \"t\"\nca_pem = \"junk\"\n",
        "server_url = \"https://x\"\ntoken = \"t\"\nca_sha256 = \"" + "ab" * 32
        + "\"\n[config.reader]\nbackend = \"sim\"\n",  # the virtual card on a counter
        "server_url = \"https://x\"\ntoken = \"t\"\nca_sha256 = \"" + "ab" * 32
        + "\"\n[config.sync]\nserver_url = \"https://y\"\n",
        b"\xff\xfe".decode("latin-1"),
    ],
)
async def test_an_unreadable_usb_file_says_so(
    content: str, state: Path, usb: Path
) -> None:
    (usb / "stick").mkdir()
    (usb / "stick" / "madoguchi-enrol.toml").write_text(content, encoding="latin-1")
    app = _app(state, usb)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProvisionScreen)
        await wait_for(pilot, lambda: "error" in screen.query_one("#provision-message").classes)
        assert _message(app) == JA("provision.error.usb_unreadable")
        assert screen.step is Step.ENTRY
        assert screen.focused is screen.query_one("#server-url")  # typing still works
        _nothing_written(state)


async def test_no_stick_and_f5_says_so(state: Path, usb: Path) -> None:
    app = _app(state, usb)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: _message(app) == JA("provision.usb_none"))


KILLED_CHILD = """
import os, sys, time
from pathlib import Path
from madoguchi.provisioning import Provisioner, commit, enrol, clean_leftovers
state, url, token, ca = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
p = Provisioner(state)
request = p.typed(url, token)
enrolled = enrol(request, ca.read_bytes())
print("enrolled", flush=True)
time.sleep(float(sys.argv[5]))
clean_leftovers(state)
commit(request, enrolled, state)
print("committed", flush=True)
"""


@pytest.mark.parametrize("delay_s", [0.0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.02, 0.05])
def test_kill_between_the_enrolment_and_the_write_leaves_nothing_or_a_whole_configuration(
    delay_s: float, server: Server, state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 after the server signed, at moments spread over the commit: either no
    configuration (the screen comes back; the next enrolment moves a lost key aside) or
    a whole one that loads and names a complete TLS folder."""
    token, device_id = server.token()
    ca = tmp_path / "ca.crt"
    ca.write_bytes(server.ca_pem)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(state), server.url, token, str(ca), "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "enrolled"
    import time

    time.sleep(delay_s)
    child.send_signal(signal.SIGKILL)
    child.wait()
    config_path = state / "madoguchi.toml"
    if config_path.exists():
        _written(state, server, device_id)
    else:
        # Not provisioned: the counter shows the screen again, and a new token enrols.
        from madoguchi.commands.counter import unprovisioned

        class Args:
            config = None

        assert unprovisioned(Args())  # type: ignore[arg-type]
        again, again_id = server.token()
        Provisioner(state).enrol_and_commit(Provisioner(state).typed(server.url, again),
                                           server.ca_pem)
        _written(state, server, again_id)
        assert not [p for p in state.iterdir() if p.name.startswith(".")]


def test_a_server_typed_without_its_scheme_is_taken_as_https_and_http_stays_refused() -> None:
    from madoguchi.provisioning import ProvisioningError, check_url

    assert check_url(" 127.0.0.1:8443/ ") == "https://127.0.0.1:8443"
    assert check_url("madoguchi.example.lg.jp") == "https://madoguchi.example.lg.jp"
    for wrong in ("http://127.0.0.1:8443", "ftp://x", "https://", "127.0.0.1:port", ""):
        with pytest.raises(ProvisioningError):
            check_url(wrong)
