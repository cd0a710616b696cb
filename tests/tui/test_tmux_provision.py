"""First boot in a real terminal (issue 15): ``madoguchi counter`` with no configuration.

A private tmux server at 80x24 and at 100x30 runs ``madoguchi counter`` as the kiosk
does, on an empty state dir and no ``/etc/madoguchi/madoguchi.toml``; a real server
(``tests/tui/test_provision.py``'s) on loopback. Walked as a person does: URL, Tab, a
wrong token and Enter twice in one burst (the second Enter must not confirm the
fingerprint), the refusal, Esc, the right token, the fingerprint confirmed, and then the
counter's own sign-in screen in the same process, without a restart. After provisioning
the counter opens its PC/SC reader: ``pcsc``.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from madoguchi.bench.tui import LOGIN_TITLE, TmuxSession
from madoguchi.provisioning import fingerprint
from tests.tui.test_provision import Server, server  # noqa: F401 - the fixture
from tui.i18n import Strings

pytestmark = pytest.mark.pcsc
JA = Strings("ja")


@pytest.mark.parametrize(("width", "height"), [(80, 24), (100, 30)])
def test_first_boot_in_tmux_a_wrong_token_esc_then_the_sign_in_screen(
    width: int, height: int, server: Server, tmp_path: Path  # noqa: F811
) -> None:
    state = tmp_path / "state"
    media = tmp_path / "media"
    media.mkdir()
    bad = "0123456789abcdef"
    good, device_id = server.token()
    session = TmuxSession(f"madoguchi-test-{os.getpid()}-prov-{width}", width=width,
                          height=height)
    session.start(
        f"{sys.executable} -m madoguchi.cli counter",
        {"MADOGUCHI_STATE_DIR": str(state), "MADOGUCHI_USB_ROOTS": str(media),
         "HOME": str(tmp_path), "TERM": "xterm-256color", "LANG": "C.UTF-8",
         "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        session.wait_for(JA("provision.heading"), timeout=30.0)
        screen = session.capture()
        assert "Ctrl+Q 終了" in screen  # the whole key help fits
        # One burst: URL, Tab, a wrong token, Enter, and an Enter typed ahead.
        session.send_literal(f"{server.url}\t{bad}\r\r")
        first_half = fingerprint(server.ca_pem)[:47]
        session.wait_for(first_half, timeout=20.0)
        session.wait_for("押された Enter は使わず")  # the typed-ahead Enter confirmed nothing
        session.send("Enter")  # dropped too: the tail of a lost burst
        session.send("Enter")  # now: 一致する・登録する
        session.wait_for("受け付けられません", timeout=20.0)
        assert not (state / "madoguchi.toml").exists()
        session.send("Escape")
        session.wait_gone("受け付けられません")
        session.send("C-u")
        # Cleared before the good token is typed: CI once saw the good one appended to
        # the refused one (unexplained; this says so at once, not 60 s later).
        session.wait_gone(bad, timeout=10.0)
        session.send_literal(f"{good}\r")
        session.wait_for(first_half, timeout=20.0)
        session.send("Enter")
        session.wait_for(LOGIN_TITLE, timeout=60.0)  # the counter itself, same process
        config = state / "madoguchi.toml"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert f'device_id = "{device_id}"' in config.read_text(encoding="utf-8")
        assert JA("provision.heading") not in session.capture()
    finally:
        left = session.kill()
    assert left == []
