"""arm64 in the test run: the project installed and checked on an emulated arm64 Debian 12
(bookworm, Raspberry Pi OS's base), as a new Pi would install it.

``scripts/arm64 check`` does the work (see its header): debootstrap + qemu-user-static +
systemd-nspawn, the project installed through ``scripts/lib/bootstrap.sh``, then the CLI smoke
commands, the rules tests, the PC/SC card tests (pcscd and vpcd inside the root) and the import
of the Pi's pin factory (lgpio). The root is cached between runs; the first run builds it.
A machine that cannot register the aarch64 binfmt handler fails here with that reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bash(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60,
        env=os.environ | env, cwd=ROOT, stdin=subprocess.DEVNULL, check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_project_installs_and_passes_its_checks_on_arm64() -> None:
    # Its own session: on a timeout the whole tree (nspawn, qemu, pytest inside) is ended.
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "arm64"), "check"], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, cwd=ROOT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        log, _ = process.communicate(timeout=3500)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        log, _ = process.communicate(timeout=60)
        pytest.fail("scripts/arm64 check took more than 3500 s:\n" + log[-6000:])
    assert process.returncode == 0, log[-6000:]
    assert "[arm64] machine aarch64" in log
    assert "lgpio 0x" in log
    assert "arm64: checks passed" in log


def test_32_bit_arm_is_refused_at_install_with_the_way_out(tmp_path: Path) -> None:
    # dpkg on a 32-bit Raspberry Pi OS says armhf even where the kernel is 64-bit.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dpkg").write_text("#!/bin/sh\necho armhf\n")
    (fake / "dpkg").chmod(0o755)
    result = _bash(
        f'source scripts/lib/bootstrap.sh; VENV={tmp_path}/venv; PY=$VENV/bin/python; '
        'venv_ensure test; echo installed',
        PATH=f"{fake}:{os.environ['PATH']}",
    )
    assert result.returncode != 0
    assert "installed" not in result.stdout
    assert "32-bit ARM (armhf) is not supported" in result.stderr
    assert "Raspberry Pi OS (64-bit)" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_64_bit_platforms_pass_the_platform_check(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    for arch in ("arm64", "amd64"):
        (fake / "dpkg").write_text(f"#!/bin/sh\necho {arch}\n")
        (fake / "dpkg").chmod(0o755)
        result = _bash("source scripts/lib/bootstrap.sh; platform_ensure && echo ok",
                       PATH=f"{fake}:{os.environ['PATH']}")
        assert result.stdout.strip() == "ok", result.stderr
