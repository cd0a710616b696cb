"""The virtual matrix pad: the real driver on mock pins, its contacts pressed through a socket.

Keys go in as contacts over the control channel (in-process through
``PadControl`` and from another process through ``madoguchi sim pad``); what
comes out is checked where the appliance sees it: key events from the scan
thread, and a PIN handed to ``PinEntry``'s consumer.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.pin_entry import JUKI_PIN, PinEntry, PinHandle
from drivers import KEYPAD_BACKENDS, open_keypad
from drivers.keypad.control import PadControl, PadControlError, PadGoneError
from drivers.keypad.events import KeyEvent
from drivers.keypad.virtual import VirtualMatrixKeypad
from madoguchi.errors import ConfigError, KeypadError

ROWS = (5, 6, 13, 19)
COLS = (12, 16, 20)


def _open(path: Path, **options: object) -> VirtualMatrixKeypad:
    pad = open_keypad("virtual-matrix", rows=ROWS, cols=COLS, control_socket=path, **options)
    assert isinstance(pad, VirtualMatrixKeypad)
    return pad


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "keypad.sock"


@pytest.fixture
def pad(sock: Path) -> Iterator[VirtualMatrixKeypad]:
    virtual = _open(sock)
    yield virtual
    virtual.close()


class Seen:
    """Key events as a listener gets them, with the thread they arrived on.

    With ``prompt`` (the default) it opens the pad's gate, as a PIN prompt would.
    """

    def __init__(self, pad: VirtualMatrixKeypad, *, prompt: bool = True) -> None:
        self.events: list[tuple[str, bool, str]] = []
        self._lock = threading.Lock()
        pad.add_listener(self)
        pad.set_prompt_active(prompt)

    def __call__(self, event: KeyEvent) -> None:
        with self._lock:
            self.events.append((event.key, event.pressed, threading.current_thread().name))

    def downs(self) -> str:
        with self._lock:
            return "".join(key for key, pressed, _ in self.events if pressed)


def test_taps_through_the_socket_come_out_of_the_scan_thread(
    pad: VirtualMatrixKeypad, sock: Path
) -> None:
    seen = Seen(pad)
    with PadControl(sock) as control:
        for key in "11#0*":  # the same key twice in a row is never merged
            control.tap(key)
        counters = control.status()
    assert seen.downs() == "11#0*"
    assert len(seen.events) == 10  # a release for every press
    assert {thread for _, _, thread in seen.events} == {"keypad-scan"}
    assert pad.scans > 0
    assert counters["prompt"] == 1
    assert counters["down"] == counters["pressed"] == 0
    assert counters["shorts"] == pad.model.shorts == 0


def test_contact_bounce_through_the_socket_gives_one_event_per_change(
    pad: VirtualMatrixKeypad, sock: Path
) -> None:
    seen = Seen(pad)
    with PadControl(sock) as control:
        for key in "2580":
            control.tap(key, bounce=True)
    assert seen.downs() == "2580"
    assert len(seen.events) == 8


def test_a_held_key_stays_down_until_released(pad: VirtualMatrixKeypad, sock: Path) -> None:
    seen = Seen(pad)
    with PadControl(sock) as control:
        control.press("5")
        control.press("9")  # two keys down decode exactly (no ghost with two)
        assert control.status()["down"] == 2
        deadline = time.monotonic() + 5.0
        while control.status()["pressed"] < 2:  # held past the debounce time
            assert time.monotonic() < deadline
            time.sleep(0.005)
        control.release("5")
        control.release("9")
        control.tap("3")  # waits until the scan saw it up, so the releases are in too
    assert sorted(key for key, pressed, _ in seen.events if pressed) == ["3", "5", "9"]
    assert pad.pressed_keys == frozenset()


def test_keys_without_a_prompt_are_dropped_by_the_real_gate(
    pad: VirtualMatrixKeypad, sock: Path
) -> None:
    seen = Seen(pad, prompt=False)
    with PadControl(sock) as control:
        assert control.status()["prompt"] == 0
        control.tap("7")
    assert seen.events == []
    assert pad._dispatcher.dropped == 2


def test_a_pin_typed_through_the_socket_reaches_the_consumer_once(
    pad: VirtualMatrixKeypad, sock: Path
) -> None:
    received: list[bytes] = []
    done = threading.Event()

    def verify(handle: PinHandle) -> None:
        with handle.open() as pin:
            received.append(bytes(pin))
        done.set()

    entry = PinEntry(JUKI_PIN, on_event=lambda event: None, on_complete=verify, pad=pad)
    entry.start()
    with PadControl(sock) as control:
        for key in "1357#":
            control.tap(key)
    assert done.wait(5.0)
    assert received == [b"1357"]
    assert not pad.prompt_active  # the entry closed the gate on completion


def test_bad_requests_are_refused_without_naming_the_key(
    pad: VirtualMatrixKeypad, sock: Path
) -> None:
    with PadControl(sock) as control:
        with pytest.raises(PadControlError, match="no such key") as refused:
            control.request("tap Z 30")
        assert "Z" not in str(refused.value)
        with pytest.raises(PadControlError, match="unknown request"):
            control.request("crush 5")
        with pytest.raises(PadControlError, match="unknown request"):
            control.request("tap 5 soon")
        with pytest.raises(PadControlError, match="one printable"):
            control.tap("12")
        assert control.status()["down"] == 0  # nothing pressed by any of that
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(str(sock))
    raw.sendall(b"x" * 500 + b"\n")
    assert raw.makefile("rb").readline() == b"error request line too long\n"
    raw.close()


def test_the_socket_is_private_and_goes_away_with_the_pad(sock: Path) -> None:
    pad = _open(sock)
    assert pad.control_socket == sock
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    pad.close()
    assert not sock.exists()
    assert pad.control_socket is None
    with pytest.raises(PadControlError, match="no virtual PIN pad"):
        PadControl(sock)


def test_a_client_learns_when_the_pad_goes_away(sock: Path) -> None:
    pad = _open(sock)
    control = PadControl(sock)
    try:
        control.tap("1")
        pad.close()
        with pytest.raises(PadGoneError):
            control.tap("2")
    finally:
        control.close()
        pad.close()  # twice is harmless


def test_a_stale_socket_is_replaced_a_live_one_or_a_file_refused(sock: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock))
    stale.close()  # what a pad that was killed leaves behind
    pad = _open(sock)
    try:
        with pytest.raises(KeypadError, match="already listens"):
            _open(sock)
        with PadControl(sock) as control:  # the first pad still serves
            assert control.status()["shorts"] == 0
    finally:
        pad.close()
    sock.write_text("not a socket")
    with pytest.raises(KeypadError, match="not a socket"):
        _open(sock)
    assert sock.read_text() == "not a socket"


def test_configuration_errors_are_loud(tmp_path: Path, sock: Path) -> None:
    with pytest.raises(ConfigError, match="unknown keypad backend 'virtual'"):
        open_keypad("virtual", rows=ROWS, cols=COLS, control_socket=sock)
    long_path = tmp_path / ("d" * 120) / "keypad.sock"
    with pytest.raises(ConfigError, match="control_socket"):
        _open(long_path)
    with pytest.raises(ConfigError, match="needs 4 row pins"):
        open_keypad("virtual-matrix", rows=ROWS[:3], cols=COLS, control_socket=sock)
    assert not sock.exists()
    # the production name is the plain driver, whose default factory is never mock here
    assert KEYPAD_BACKENDS["gpio"] == "drivers.keypad.matrix:MatrixKeypad"


def test_a_4x4_pad_takes_its_letter_keys(tmp_path: Path) -> None:
    sock = tmp_path / "k.sock"
    pad = open_keypad(
        "virtual-matrix", rows=ROWS, cols=(*COLS, 21), layout="4x4", control_socket=sock
    )
    try:
        seen = Seen(pad)
        with PadControl(sock) as control:
            for key in "ABCD":
                control.tap(key)
        assert seen.downs() == "ABCD"
    finally:
        pad.close()


# -- madoguchi sim pad, from another process -------------------------------------------


def _sim_pad(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "madoguchi.cli", *args],
        input=stdin, capture_output=True, text=True, timeout=30, check=False,
        env={**os.environ, "MADOGUCHI_DEBUG": ""},
    )


def test_sim_pad_taps_keys_given_as_arguments_or_on_stdin(
    pad: VirtualMatrixKeypad, sock: Path
) -> None:
    seen = Seen(pad)
    given = _sim_pad("sim", "pad", "--socket", str(sock), "--keys", "12#")
    assert given.returncode == 0, given.stderr
    piped = _sim_pad("sim", "pad", "--socket", str(sock), "--bounce", stdin="4 5\n6\n")
    assert piped.returncode == 0, piped.stderr
    assert seen.downs() == "12#456"
    for result in (given, piped):  # no key is ever printed back
        assert not any(ch.isdigit() for ch in result.stdout + result.stderr)


def test_sim_pad_finds_the_socket_from_the_configuration(
    pad: VirtualMatrixKeypad, sock: Path, tmp_path: Path
) -> None:
    config = tmp_path / "counter.toml"
    config.write_text(
        f'[keypad]\nbackend = "virtual-matrix"\ncontrol_socket = "{sock}"\n', encoding="utf-8"
    )
    status = _sim_pad("--config", str(config), "sim", "pad", "--status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.split()[0] == "prompt=0"
    dropped = _sim_pad("--config", str(config), "sim", "pad", "--keys", "5")
    assert "no PIN prompt is open" in dropped.stderr


def test_sim_pad_waits_for_a_demo_that_is_still_starting(sock: Path) -> None:
    early = subprocess.Popen(
        [sys.executable, "-m", "madoguchi.cli", "sim", "pad", "--socket", str(sock),
         "--keys", "8", "--wait", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.5)  # the client is up and polling before the pad exists
        pad = _open(sock)
        seen = Seen(pad)
        assert early.wait(20) == 0, early.communicate()
        assert seen.downs() == "8"
        pad.close()
    finally:
        early.kill()
        early.communicate()


def test_sim_pad_without_a_pad_says_what_to_start(tmp_path: Path) -> None:
    result = _sim_pad(
        "sim", "pad", "--socket", str(tmp_path / "none.sock"), "--keys", "1", "--wait", "0.3"
    )
    assert result.returncode == 2
    assert "no virtual PIN pad" in result.stderr
    assert 'backend = "virtual-matrix"' in result.stderr


def test_the_demo_wires_the_virtual_pad_only_when_configured() -> None:
    from madoguchi.commands.demo import build_services
    from madoguchi.config import Config, KeypadConfig

    state = Path(os.environ["MADOGUCHI_STATE_DIR"])  # the test's private state dir
    config = Config(keypad=KeypadConfig(backend="virtual-matrix"))
    services = build_services(config, state_dir=state, demo=False)
    try:
        assert isinstance(services.pin_pad, VirtualMatrixKeypad)
        assert services.pin_pad.simulated
        assert (state / "keypad.sock").exists()  # <state dir>/keypad.sock by default
    finally:
        services.close()
    assert not (state / "keypad.sock").exists()
    misplaced = Config(keypad=KeypadConfig(backend="gpio", control_socket=str(state / "k")))
    with pytest.raises(ConfigError, match="control_socket applies"):
        build_services(misplaced, state_dir=state, demo=False)
