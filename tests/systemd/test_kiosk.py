"""The kiosk drawn for real with no panel: cage + foot + Noto Sans Mono CJK + the TUI.

The command is the unit's own ``ExecStart=`` (``systemd/madoguchi-tui.service``) with
only the install paths mapped onto the checkout: ``cage -d -- foot --config=<repo
foot.ini> -- madoguchi counter``, with the unit's ``Environment=``, its own
``XDG_RUNTIME_DIR``, a ``NOTIFY_SOCKET`` this test listens on (as systemd would,
with ``NotifyAccess=all`` semantics: any descendant may send) and a counter
configuration in ``$MADOGUCHI_CONFIG`` (the virtual card and the keyboard pad: this
machine has neither reader nor keypad). Without a configuration the unit's
``ExecStartPre=`` lets the provisioning screen come (first boot), never the demo.

The panel: cage 0.1.4 on wlroots 0.15 (Debian 12) has no way to give a headless
output any size but 1280x720 (no output-management protocol, no mode option), so the
800x480 panel is a headless **sway** output of that mode, and cage runs on it through
wlroots' Wayland backend as sway's only, borderless window: cage's own output is then
800x480, as the panel's mode makes it on the Pi. Screenshots come from cage itself
(``grim`` over wlr-screencopy), not from sway.

As root (CI), cage refuses to start (it must be able to drop root); it runs as
``nobody`` as the unit runs it as ``madoguchi``, with one capability,
``CAP_DAC_READ_SEARCH``, so that it can read a virtualenv whose interpreter lives in
root's private home. It cannot write anything root owns, nor become root again.

Checked: READY=1 and watchdog pings arrive from the TUI, cage's grandchild; the TUI's
terminal is 100x30 cells of 8x16 px; cage's screen is 800x480 and shows the login
screen's title in ten different, real kanji glyphs; when the TUI dies, cage exits (so
``Restart=always`` brings the kiosk back). How long the kiosk takes to READY is
printed and recorded in docs/kiosk.md, never asserted.

The comparison (issue 14): a second kiosk, set up as an administrator would (a clerk's
account, the test PKI's trust anchors, the virtual card's ``face-auth`` profile), is
walked by keyboard as a clerk walks it — sign-in, 第2-1-(1), the answers up to the
fallback, 照合番号B — through a virtual keyboard on the panel's seat
(``tests/support/wayland_keyboard.py``; each answer is waited for in the operator event
log, each screen until it has settled). On the comparison screen the chip's photo is
found in cage's screenshot as a picture (greyscale cells of three shades or more:
sixel, as foot reports it can; half blocks have two), beside its label, and it is the
virtual card's portrait (correlation 1.00 against it, clearly above another synthetic
face); the name and address images beside it are 1-bit pixels (black on white); the
text around still renders. The screenshot stays in the test's tmp dir.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from drivers.simcard.facts import facts_for
from drivers.simcard.images import portrait
from drivers.simcard.layout import holder_seed
from drivers.simcard.names import PROFILES
from tests.support.wayland_keyboard import VirtualKeyboard
from tui.i18n import Strings

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "madoguchi-tui.service"
FOOT_INI = ROOT / "systemd" / "foot.ini"
#: Install paths in the unit -> where the checkout has them.
INSTALL_PATHS = {
    "/usr/share/madoguchi/foot.ini": str(FOOT_INI),
    "/opt/madoguchi/current/bin/madoguchi": str(Path(sys.executable).parent / "madoguchi"),
}
PANEL = (800, 480)
GRID = (100, 30)
CELL = (8, 16)
#: As the unit's watchdog, shortened (pings every second) so the test sees several.
WATCHDOG_USEC = 2_000_000
#: Generous: every start is a first start (the demo makes its keys and store) on a
#: 2-core machine other suites may load; conditions are waited for, never timed.
START_TIMEOUT = 120.0
KIOSK_UID = 65534  # nobody
#: A counter's configuration on a machine without a reader or a keypad.
COUNTER_CONFIG = """\
[reader]
backend = "sim"

[keypad]
backend = "keyboard"
"""
KIOSK_CAPS = ("--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search")
SWAY_CONFIG = f"""\
output HEADLESS-1 mode {PANEL[0]}x{PANEL[1]}
default_border none
default_floating_border none
xwayland disable
"""


def unit_exec_start(which: str = "ExecStart") -> tuple[list[str], dict[str, str]]:
    """The unit's ``ExecStart=`` (or ``which``) argv (``$VAR`` expanded as systemd does)
    and environment."""
    env: dict[str, str] = {}
    exec_start = ""
    for line in UNIT.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "Environment":
            for item in shlex.split(value):
                name, _, setting = item.partition("=")
                env[name] = setting
        elif key == which:
            exec_start = value
    argv: list[str] = []
    for word in shlex.split(exec_start):
        if word.startswith("$"):
            argv.extend(env[word[1:]].split())  # unbraced $VAR: split into words
            continue
        for installed, local in INSTALL_PATHS.items():
            word = word.replace(installed, local)  # noqa: PLW2901 - map each path in turn
        argv.append(word)
    return argv, env


@dataclass(frozen=True)
class Notification:
    """One datagram on the notify socket."""

    at: float
    """When it arrived (``time.monotonic()``)."""
    pid: int
    """The sender, from the kernel (``SCM_CREDENTIALS``)."""
    text: str


def readies(messages: list[Notification]) -> list[Notification]:
    return [m for m in messages if "READY=1" in m.text.split("\n")]


def pings(messages: list[Notification]) -> list[Notification]:
    return [m for m in messages if m.text == "WATCHDOG=1"]


class NotifyListener:
    """The service manager's end of ``$NOTIFY_SOCKET``: datagrams with the sender's pid.

    Read all the time, by a thread, as systemd reads it: a datagram socket queues only
    a few messages (``net.unix.max_dgram_qlen``, 10 here), and a sender whose queue is
    full blocks. Unread, the TUI's watchdog pings (one a second) would stop its event
    loop after about ten seconds (found while walking to the comparison).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        path.chmod(0o666)  # the kiosk runs as another user
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.2)
        self.messages: list[Notification] = []
        """Every message received, in order."""
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="notify-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            pid = 0
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            self.messages.append(Notification(time.monotonic(), pid, data.decode()))

    def wait_until(
        self,
        done: Callable[[list[Notification]], bool],
        timeout: float,
        alive: Callable[[], None],
    ) -> list[Notification]:
        """Wait until ``done(messages)`` holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done(list(self.messages)):
            assert time.monotonic() < deadline, f"timed out; got {self.messages}"
            alive()
            time.sleep(0.1)
        return list(self.messages)

    def close(self) -> None:
        self._closed.set()
        self._reader.join(timeout=5)
        self.sock.close()


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def parent_of(pid: int) -> int:
    return int(_stat(pid)[1])


def describe(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "(exited)"


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def processes_in_sessions(sessions: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[3]) in sessions:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile
    return found


def window_size(pid: int) -> tuple[int, int, int, int]:
    """The kernel's size of ``pid``'s terminal: (rows, cols, x pixels, y pixels)."""
    fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NOCTTY)
    try:
        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8))
    finally:
        os.close(fd)
    rows, cols, xpixel, ypixel = struct.unpack("HHHH", packed)
    return rows, cols, xpixel, ypixel


@dataclass
class Screen:
    """An RGB screenshot (grim's PPM)."""

    width: int
    height: int
    rgb: bytes

    @classmethod
    def from_ppm(cls, data: bytes) -> Screen:
        magic, width, height, maxval, rest = data.split(maxsplit=4)
        assert magic == b"P6", data[:20]
        assert maxval == b"255", data[:20]
        return cls(int(width), int(height), rest[: int(width) * int(height) * 3])

    def pixel(self, x: int, y: int) -> bytes:
        at = (y * self.width + x) * 3
        return self.rgb[at : at + 3]

    def cell_ink(self, col: int, row: int) -> frozenset[tuple[int, int]]:
        """Pixels of a cell that differ from its most common colour (its background)."""
        x0, y0 = col * CELL[0], row * CELL[1]
        pixels = {
            (x, y): self.pixel(x0 + x, y0 + y) for y in range(CELL[1]) for x in range(CELL[0])
        }
        background = Counter(pixels.values()).most_common(1)[0][0]
        return frozenset(xy for xy, colour in pixels.items() if colour != background)

    def wide_glyph(self, col: int, row: int) -> frozenset[tuple[int, int]]:
        """The ink of the full-width character drawn in cells ``col`` and ``col + 1``."""
        left, right = self.cell_ink(col, row), self.cell_ink(col + 1, row)
        return left | {(x + CELL[0], y) for x, y in right}


def cell_pattern(text: str) -> list[bool]:
    """Which cells ``text`` inks: two per full-width character, none for a space."""
    pattern: list[bool] = []
    for char in text:
        wide = ord(char) >= 0x1100  # kanji and kana here; the title has no other kind
        pattern.extend([char != " "] * (2 if wide else 1))
    return pattern


def find_text(
    screen: Screen, text: str, rows: Iterable[int] | None = None
) -> tuple[int, int] | None:
    """(col, row) where the cells inked match ``text``'s shape, blank cells either side
    (in ``rows`` only, when given)."""
    want = [False, *cell_pattern(text), False]
    cols = screen.width // CELL[0]
    for row in range(screen.height // CELL[1]) if rows is None else rows:
        inked = [False] + [bool(screen.cell_ink(col, row)) for col in range(cols)] + [False]
        for start in range(len(inked) - len(want) + 1):
            if inked[start : start + len(want)] == want:
                return start, row  # ``start`` indexes the padded list: the text's column
    return None


@dataclass
class Kiosk:
    """The running kiosk and what the test learnt about it."""

    cage: subprocess.Popen[bytes]
    notify: NotifyListener
    runtime: Path
    log: Path
    started: float
    state: Path = Path()
    """The TUI's state directory."""
    keys: VirtualKeyboard | None = None
    """The panel's virtual keyboard, when the kiosk was started with one."""
    ready: Notification = Notification(0.0, 0, "")
    tui_pid: int = 0
    sessions: set[int] = field(default_factory=set)

    def alive(self) -> None:
        if self.cage.poll() is not None:
            raise AssertionError(f"cage exited ({self.cage.returncode}):\n{self.log_tail()}")

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def display(self) -> str:
        sockets = sorted(p for p in self.runtime.glob("wayland-*") if p.suffix != ".lock")
        assert sockets, f"cage made no Wayland socket in {self.runtime}"
        return str(sockets[0])

    def grab(self, fmt: str = "ppm", path: Path | None = None) -> bytes:
        result = subprocess.run(
            ["grim", "-t", fmt, str(path) if path else "-"],
            env={
                "PATH": os.environ["PATH"],
                "XDG_RUNTIME_DIR": str(self.runtime),
                "WAYLAND_DISPLAY": self.display(),
            },
            capture_output=True,
            check=False,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout


def as_kiosk_user(*paths: Path) -> list[str]:
    """The argv prefix that runs a compositor unprivileged; chown ``paths`` for it."""
    if os.geteuid() != 0:
        return []
    for path in paths:
        os.chown(path, KIOSK_UID, KIOSK_UID)
    # What systemd-tmpfiles makes on a real system: Xwayland's socket directory,
    # owned by root. Absent, cage would create it as nobody.
    x11 = Path("/tmp/.X11-unix")
    if not x11.exists():
        x11.mkdir()
        x11.chmod(0o1777)  # not via mkdir's mode: the umask would take the w bits away
    return [
        "setpriv",
        f"--reuid={KIOSK_UID}",
        f"--regid={KIOSK_UID}",
        "--clear-groups",
        *KIOSK_CAPS,
    ]


def stop(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def run_kiosk(
    base: Path,
    config_text: str = COUNTER_CONFIG,
    prepare: Callable[[dict[str, str]], None] | None = None,
    keyboard: bool = False,
) -> Iterator[Kiosk]:
    """The kiosk in ``base``: sway's 800x480 panel, then the unit's cage + foot + TUI.

    ``prepare(env)`` runs before the kiosk starts, with the TUI's environment (state
    dir and configuration), as an administrator would set the counter up; ``keyboard``
    puts a virtual keyboard on the panel's seat before cage starts (``Kiosk.keys``).
    """
    missing = [
        tool for tool in ("cage", "foot", "sway", "grim", "setpriv") if not shutil.which(tool)
    ]
    assert not missing, f"not installed: {missing} (scripts/lib/bootstrap.sh APT_TEST)"
    base.mkdir(exist_ok=True)
    panel_runtime, runtime, state, home = (base / n for n in ("panel", "runtime", "state", "home"))
    for path in (panel_runtime, runtime, state, home):
        path.mkdir(mode=0o700)
    config = base / "madoguchi.toml"
    config.write_text(config_text)
    path_env = os.environ.get("PATH", "/usr/bin:/bin")
    if prepare is not None:
        prepare({"PATH": path_env, "HOME": str(home), "MADOGUCHI_STATE_DIR": str(state),
                 "MADOGUCHI_CONFIG": str(config)})
    prefix = as_kiosk_user(base, panel_runtime, runtime, home, config, *state_tree(state))
    (base / "sway.conf").write_text(SWAY_CONFIG)

    panel = subprocess.Popen(
        [*prefix, "sway", "-c", str(base / "sway.conf")],
        env={
            "PATH": path_env,
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(panel_runtime),
            "WLR_BACKENDS": "headless",
            "WLR_HEADLESS_OUTPUTS": "1",
            "WLR_RENDERER": "pixman",
            "WLR_LIBINPUT_NO_DEVICES": "1",
        },
        stdout=subprocess.DEVNULL,
        stderr=(base / "sway.log").open("wb"),
        start_new_session=True,
    )
    notify = NotifyListener(base / "notify")
    kiosk: Kiosk | None = None
    keys: VirtualKeyboard | None = None
    try:
        deadline = time.monotonic() + 30
        while not (
            panel_sockets := [p for p in panel_runtime.glob("wayland-*") if p.suffix != ".lock"]
        ):
            assert panel.poll() is None, (base / "sway.log").read_text()
            assert time.monotonic() < deadline, "sway made no Wayland socket"
            time.sleep(0.1)
        if keyboard:
            keys = VirtualKeyboard(str(panel_sockets[0]))

        argv, unit_env = unit_exec_start()
        env = {
            **unit_env,
            "PATH": path_env,
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(runtime),
            "MADOGUCHI_STATE_DIR": str(state),
            "MADOGUCHI_CONFIG": str(config),
            "NOTIFY_SOCKET": str(notify.path),
            "WATCHDOG_USEC": str(WATCHDOG_USEC),
            # the panel: cage's output is a window of sway's 800x480 headless output
            "WAYLAND_DISPLAY": str(panel_sockets[0]),
            "WLR_BACKENDS": "wayland",
            "WLR_RENDERER": "pixman",
        }
        log = base / "kiosk.log"
        started = time.monotonic()
        cage = subprocess.Popen(
            [*prefix, *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        kiosk = Kiosk(cage=cage, notify=notify, runtime=runtime, log=log, started=started,
                      state=state, keys=keys)
        received = notify.wait_until(lambda ms: bool(readies(ms)), START_TIMEOUT, kiosk.alive)
        kiosk.ready = readies(received)[0]
        kiosk.tui_pid = kiosk.ready.pid
        kiosk.sessions = {cage.pid, int(_stat(kiosk.tui_pid)[3])}
        print(f"\nkiosk: READY=1 {kiosk.ready.at - started:.2f} s after cage started")
        yield kiosk
    finally:
        if kiosk is not None:
            stop(processes_in_sessions(kiosk.sessions))
            kiosk.cage.wait(timeout=30)
        if keys is not None:
            keys.close()
        notify.close()
        panel.terminate()
        try:
            panel.wait(timeout=10)
        except subprocess.TimeoutExpired:
            panel.kill()
            panel.wait()


def state_tree(state: Path) -> list[Path]:
    """The state dir and all it holds (what ``prepare`` made belongs to the kiosk's user)."""
    return [state, *sorted(state.rglob("*"))]


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    with run_kiosk(tmp_path_factory.mktemp("kiosk")) as running:
        yield running


def test_command_is_the_units() -> None:
    argv, env = unit_exec_start()
    madoguchi = INSTALL_PATHS["/opt/madoguchi/current/bin/madoguchi"]
    assert argv == [
        "/usr/bin/cage",
        "-d",
        "--",
        "/usr/bin/foot",
        f"--config={FOOT_INI}",
        "--",
        madoguchi,
        "counter",
    ]
    assert env["TERM"] == "foot"
    # The configuration is checked first, by the same command, where the journal sees it.
    pre, _ = unit_exec_start("ExecStartPre")
    assert pre == [madoguchi, "counter", "--check"]


def _without_configuration(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("MADOGUCHI_CONFIG", "MADOGUCHI_STATE_DIR")
    }
    env["HOME"] = str(tmp_path)
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, check=False, timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_without_a_configuration_the_kiosk_provisions_never_the_demo(tmp_path: Path) -> None:
    # First boot (issue 15): no configuration is the provisioning screen, never the demo
    # (issue 13). ExecStartPre= lets the kiosk start; the screen itself needs its terminal
    # (foot's), so without one it refuses, having written nothing.
    argv, _ = unit_exec_start("ExecStartPre")
    result = _without_configuration(argv, tmp_path)
    assert result.returncode == 0, result
    assert result.stdout.startswith("madoguchi counter: no configuration yet: the provisioning"), (
        result.stdout)
    argv, _ = unit_exec_start("ExecStart")
    result = _without_configuration(argv[-2:], tmp_path)  # the TUI, inside foot
    assert result.returncode == 2, result
    assert "needs a terminal" in result.stderr
    assert not list(tmp_path.rglob("madoguchi.toml"))  # nothing written
    assert not (tmp_path / ".local" / "state" / "madoguchi" / "operators.sqlite3").exists()


def test_screen_shows_the_login_title_in_real_kanji(kiosk: Kiosk, tmp_path: Path) -> None:
    title = Strings("ja")("app.title")  # 公的個人認証 窓口端末
    # READY follows Textual's first refresh; foot and cage draw it a moment later.
    deadline = time.monotonic() + 60
    while True:
        screen = Screen.from_ppm(kiosk.grab())
        where = find_text(screen, title)
        if where is not None or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(f"\nkiosk: title on screen {time.monotonic() - kiosk.started:.2f} s after cage started")
    kiosk.grab("png", tmp_path / "kiosk.png")  # for a human: look at it
    print(f"screenshot: {tmp_path / 'kiosk.png'}")
    assert (screen.width, screen.height) == PANEL
    assert len(set(screen.rgb[i : i + 3] for i in range(0, len(screen.rgb), 3))) > 2
    assert where is not None, f"the title {title!r} is not on the screen"
    col, row = where
    glyphs = []
    for char in title:
        if char != " ":
            glyphs.append(screen.wide_glyph(col, row))
        col += 1 if char == " " else 2
    # Ten different characters must give ten different glyphs: a missing font draws
    # the same box (or nothing) for all of them.
    assert all(len(g) > 20 for g in glyphs), [len(g) for g in glyphs]
    assert len(set(glyphs)) == len(glyphs) == 10


def test_ready_and_watchdog_come_from_the_tui_through_cage_and_foot(kiosk: Kiosk) -> None:
    assert "STATUS=login screen shown" in kiosk.ready.text
    foot = parent_of(kiosk.tui_pid)
    assert parent_of(foot) == kiosk.cage.pid, "the TUI is not cage's grandchild"
    assert (comm(kiosk.cage.pid), comm(foot)) == ("cage", "foot")
    # The UI loop pings after READY (WATCHDOG_USEC=2 s: every second).
    kiosk.notify.wait_until(
        lambda ms: len([m for m in pings(ms) if m.pid == kiosk.tui_pid]) >= 2, 30, kiosk.alive
    )
    assert all(
        m.at > kiosk.ready.at for m in pings(kiosk.notify.messages) if m.pid == kiosk.tui_pid
    )


def test_only_the_tui_talks_to_the_service_manager(kiosk: Kiosk) -> None:
    # Let the demo's background parts (the local server starts at READY) run a while.
    kiosk.notify.wait_until(
        lambda ms: len([m for m in pings(ms) if m.pid == kiosk.tui_pid]) >= 4, 30, kiosk.alive
    )
    senders = {m.pid: describe(m.pid) for m in kiosk.notify.messages}
    assert set(senders) == {kiosk.tui_pid}, senders


def test_terminal_is_100x30_cells_of_8x16_px(kiosk: Kiosk) -> None:
    rows, cols, xpixel, ypixel = window_size(kiosk.tui_pid)
    assert (cols, rows) == GRID
    assert (xpixel, ypixel) == PANEL
    log = kiosk.log.read_text(errors="replace")
    assert f"cell width={CELL[0]}, height={CELL[1]}" in log  # foot's own report
    assert "NotoSansCJK-Regular.ttc" in log  # the font foot loaded


def test_cage_exits_when_the_tui_dies(kiosk: Kiosk) -> None:
    os.kill(kiosk.tui_pid, signal.SIGKILL)  # a crash: no clean-up, no goodbye
    try:
        kiosk.cage.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("cage still runs 60 s after the TUI died: systemd would not restart it")
    # Any exit, even status 0, restarts a Restart=always unit.
    print(f"\ncage exited with {kiosk.cage.returncode} after the TUI was killed")


# -- the comparison with the chip's photo, drawn by foot through sixel ------------------

CLERK_ID, CLERK_PASSWORD = "kiosk-clerk", "counter-2026"
#: Shades a cell of a picture shows at least: a half-block cell has two colours.
PICTURE_SHADES = 3
FACE_AUTH_CONFIG = COUNTER_CONFIG.replace('backend = "sim"\n',
                                          'backend = "sim"\nprofile = "face-auth"\n')
#: 第2-1-(1) for a 顔認証 card up to the fallback: (step key, keys), as a clerk answers
#: them; each answer is waited for in the operator event log.
TO_COMPARISON: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("application.received", ("Home", "Enter")),  # はい
    ("applicant_id.kind", ("Home", "Down", "Enter")),  # 個人番号カード
    ("applicant_id.card.expiry", ("Enter",)),  # the date read from the chip
    ("applicant_id.contents_match", ("Home", "Enter")),  # 一致
    ("applicant_id.card.operation_status", ("Home", "Enter")),  # 運用中
    ("applicant_id.card.face_auth", ("Home", "Enter")),  # はい: the card face says 顔認証
)
#: The chip match: 照合番号BでICチップの券面事項を確認する opens the fallback screen.
TO_FALLBACK = ("Home", "Enter")


def prepare_counter(env: dict[str, str]) -> None:
    """As an administrator sets the counter up: the chip checks' roots and a clerk."""
    madoguchi = INSTALL_PATHS["/opt/madoguchi/current/bin/madoguchi"]
    state = Path(env["MADOGUCHI_STATE_DIR"])
    for argv, given in (
        ([madoguchi, "sim", "anchors", "--pki-dir", str(state / "sim-pki"),
          str(state / "trust-anchors")], ""),
        ([madoguchi, "operator", "add", CLERK_ID, "--password-stdin"], CLERK_PASSWORD),
    ):
        result = subprocess.run(argv, env=env, input=given, capture_output=True, text=True,
                                check=False, timeout=120)
        assert result.returncode == 0, (argv, result.stderr)


def operator_events(state: Path) -> list[tuple[str, str]]:
    """The operator event log the TUI writes: (action, detail), oldest first."""
    database = state / "operators.sqlite3"
    if not database.exists():
        return []
    with contextlib.closing(sqlite3.connect(database, timeout=5)) as connection:
        try:
            rows = connection.execute(
                "SELECT action, detail FROM operator_events ORDER BY rowid").fetchall()
        except sqlite3.OperationalError:  # the TUI has not made the table yet
            return []
    return [(str(action), str(detail)) for action, detail in rows]


def wait_event(kiosk: Kiosk, done: Callable[[list[tuple[str, str]]], bool],
               what: str, timeout: float = 30.0) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout
    while not done(events := operator_events(kiosk.state)):
        kiosk.alive()
        assert time.monotonic() < deadline, f"{what}: not in the event log {events}"
        time.sleep(0.2)
    return events


def wait_for_text(kiosk: Kiosk, text: str, timeout: float = 60.0) -> Screen:
    deadline = time.monotonic() + timeout
    while True:
        screen = Screen.from_ppm(kiosk.grab())
        if find_text(screen, text) is not None:
            return screen
        assert time.monotonic() < deadline, f"{text!r} is not on the screen"
        time.sleep(0.5)


def settled(kiosk: Kiosk, timeout: float = 30.0) -> bytes:
    """The screen once it has stopped changing (the TUI and foot have drawn the last keys).

    A focused input's cursor blinks (two frames, every half second): five grabs over
    about a second that show at most two different frames are a settled screen.
    """
    deadline = time.monotonic() + timeout
    recent = [kiosk.grab()]
    while len(recent) < 5 or len(set(recent[-5:])) > 2:
        assert time.monotonic() < deadline, "the screen never settled"
        time.sleep(0.25)
        recent.append(kiosk.grab())
    return recent[-1]


def longer_than(count: int, events: list[tuple[str, str]]) -> bool:
    return len(events) > count


def walk_to_comparison(kiosk: Kiosk, code: str) -> None:
    """Sign in, open 第2-1-(1), answer up to the fallback and type 照合番号B, by keyboard.

    Each group of keys waits for the screen to settle, as a clerk waits to see the
    question, and each answer for its event in the operator log.
    """
    keys = kiosk.keys
    assert keys is not None
    wait_for_text(kiosk, Strings("ja")("app.title"))
    settled(kiosk)
    keys.type(CLERK_ID)
    keys.press("Enter")
    keys.type(CLERK_PASSWORD)
    keys.press("Enter")
    wait_event(kiosk, lambda events: ("sign_in", "") in events, "sign-in")
    settled(kiosk)  # the home screen, the card read
    keys.type("p")
    settled(kiosk)
    keys.press("Enter")
    wait_event(kiosk, lambda events: any(a == "procedure_started" for a, _ in events),
               "procedure started")
    for key, answer in TO_COMPARISON:
        settled(kiosk)  # the question is drawn (and the chip's proposal set)
        before = len(operator_events(kiosk.state))
        keys.press(*answer)
        events = wait_event(kiosk, partial(longer_than, before), f"answer to {key}")
        assert events[before] == ("step_recorded", key), events[before:]
    settled(kiosk)
    keys.press(*TO_FALLBACK)
    settled(kiosk)  # the fallback screen has read both 照合番号B counters
    keys.type(code)  # 照合番号B, typed from the card face; the screen shows masks
    keys.press("Enter")
    events = wait_event(kiosk, lambda events: any(a == "chip_checks" for a, _ in events)
                        or ("collation_b_check", "wrong") in events, "照合番号B checked")
    assert ("collation_b_check", "read") in events, events
    assert ("chip_checks", "verified") in events, events


def one_bit_cells(screen: Screen, box: tuple[int, int, int, int]) -> tuple[int, int]:
    """``(cells, cells with ink)`` right of the photo ``box`` (40 columns, its rows) that
    hold only pure white and black pixels, white among them: the issuer's 1-bit name and
    address images, not anti-aliased text."""
    _, top, right, bottom = box
    rgb = Image.frombytes("RGB", (screen.width, screen.height), screen.rgb)
    white, black = (255, 255, 255), (0, 0, 0)
    paper = ink = 0
    for row in range(top, bottom):
        for col in range(right, min(right + 40, screen.width // CELL[0])):
            cell = rgb.crop((col * CELL[0], row * CELL[1], (col + 1) * CELL[0],
                             (row + 1) * CELL[1]))
            colours = {colour for _, colour in cell.getcolors(CELL[0] * CELL[1]) or []}
            if white in colours and colours <= {white, black}:
                paper += 1
                ink += black in colours
    return paper, ink


def photo_box(screen: Screen) -> tuple[int, int, int, int] | None:
    """The cells (left, top, right, bottom) of the largest picture on the screen, if any.

    A picture cell is grey (the photo is greyscale), mostly lighter than the TUI's dark
    backgrounds, and shows three shades or more (a half-block cell has exactly two);
    a picture is a group of at least 40 such cells side by side (a light button with
    dark text is one row).
    """
    image = Image.frombytes("RGB", (screen.width, screen.height), screen.rgb)
    red, green, blue = image.split()
    coloured = ImageChops.add(ImageChops.difference(red, green), ImageChops.difference(green, blue))
    cells: set[tuple[int, int]] = set()
    for row in range(screen.height // CELL[1]):
        for col in range(screen.width // CELL[0]):
            box = (col * CELL[0], row * CELL[1], (col + 1) * CELL[0], (row + 1) * CELL[1])
            if coloured.crop(box).getbbox() is not None:
                continue  # some pixel is not grey
            shades = red.crop(box).histogram()
            light = sum(shades[40:])
            if light >= 0.6 * CELL[0] * CELL[1] and sum(1 for n in shades if n) >= PICTURE_SHADES:
                cells.add((col, row))
    best: set[tuple[int, int]] = set()
    while cells:  # the largest 4-connected group
        group, todo = set(), [cells.pop()]
        while todo:
            col, row = todo.pop()
            group.add((col, row))
            for near in ((col + 1, row), (col - 1, row), (col, row + 1), (col, row - 1)):
                if near in cells:
                    cells.remove(near)
                    todo.append(near)
        best = max(best, group, key=len)
    if len(best) < 40:
        return None
    cols, rows = [c for c, _ in best], [r for _, r in best]
    return min(cols), min(rows), max(cols) + 1, max(rows) + 1


def correlation(a: Image.Image, b: Image.Image) -> float:
    """Pearson correlation of two greyscale pictures of one size."""
    xs, ys = a.tobytes(), b.tobytes()
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return float(sxy / (sxx * syy) ** 0.5)


def test_the_comparison_draws_the_chip_photo_through_sixel(tmp_path: Path) -> None:
    today = dt.date.today()
    facts = facts_for("face-auth", PROFILES.index("face-auth"), today=today)
    with run_kiosk(tmp_path / "kiosk", FACE_AUTH_CONFIG, prepare_counter,
                   keyboard=True) as kiosk:
        try:
            walk_to_comparison(kiosk, facts.verification_code_b)
        except AssertionError:
            kiosk.grab("png", tmp_path / "failure.png")  # where the walk stopped
            raise
        # The photo and the issuer's name and address images are separate sixels, drawn
        # one after the other: wait for both (a full run once grabbed the screen between).
        deadline = time.monotonic() + 30
        while True:
            box = photo_box(screen := Screen.from_ppm(kiosk.grab()))
            if box is not None and one_bit_cells(screen, box)[0] >= 40:
                break
            assert time.monotonic() < deadline, (
                "no picture on the comparison screen" if box is None
                else "no name and address images beside the photo"
            )
            time.sleep(0.5)
        kiosk.grab("png", tmp_path / "comparison.png")  # for a human: look at it
        print(f"\nscreenshot: {tmp_path / 'comparison.png'}; photo cells {box}")
    left, top, right, bottom = box
    # Beside its label, below the chip's text.
    label = find_text(screen, Strings("ja")("fallback.photo"), rows=[top])
    assert label is not None, box
    assert label[0] < left, (label, box)
    assert right - left >= 12, box  # a face, not a thumbnail
    assert bottom - top >= 8, box
    record = Strings("ja")("fallback.record")  # 比較結果を記録, beside the photo
    where = find_text(screen, record)
    assert where is not None, f"{record!r} is not on the screen"
    glyphs = {screen.wide_glyph(where[0] + 2 * index, where[1]) for index in range(len(record))}
    assert len(glyphs) == len(set(record)), "the text beside the photo lost its glyphs"
    # Drawn as an image (sixel): photo_box took only cells of three shades or more
    # (half blocks have two), and the whole shows a photograph's range of greys.
    pixels = Image.frombytes("RGB", (screen.width, screen.height), screen.rgb).convert("L")
    drawn = pixels.crop((left * CELL[0], top * CELL[1], right * CELL[0], bottom * CELL[1]))
    assert sum(1 for n in drawn.histogram() if n) >= 64
    # And it is the card's portrait: the synthetic face the virtual card encodes.
    # Another synthetic face (same drawing, another seed) is the control: it correlates
    # too (one background, one pose), clearly less.
    seed = holder_seed(facts)
    score = correlation(drawn, portrait(seed).resize(drawn.size))
    other = correlation(drawn, portrait(seed + " (someone else)").resize(drawn.size))
    print(f"photo {drawn.size[0]}x{drawn.size[1]} px: correlation with the card's portrait"
          f" {score:.3f}, with another {other:.3f}")
    assert score > 0.97  # with the colour registers defined first (docs/kiosk.md)
    assert score - other > 0.1
    # The name and address images beside it, as the issuer drew them: black on white
    # (1-bit), in real pixels, in the cells right of the photo.
    paper, ink = one_bit_cells(screen, box)
    print(f"name and address images: {paper} cells of 1-bit pixels, {ink} with ink")
    assert paper >= 40
    assert ink >= 10
