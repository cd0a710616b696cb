"""``madoguchi -vv card …`` as a real process on a card behind pcscd/vpcd: nothing secret in
its output, its DEBUG log, its tracebacks or the files it leaves in the state dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.audit.flows import MALFORMED, WRONG_COLLATION_B, card_secrets
from tests.audit.leaks import haystacks_of_dir
from tests.support.vpcd import AttachedCard

MAIN = "import sys; from madoguchi.cli import main; sys.exit(main())"


def madoguchi(
    *args: str, state: Path, stdin: str = "", debug: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``madoguchi -vv ARGS`` with its own state dir; stdin is not a terminal."""
    env = {**os.environ, "MADOGUCHI_STATE_DIR": str(state), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("MADOGUCHI_CONFIG", None)
    env.pop("MADOGUCHI_DEBUG", None)
    if debug:
        env["MADOGUCHI_DEBUG"] = "1"  # errors surface as full tracebacks
    return subprocess.run(
        [sys.executable, "-c", MAIN, "-vv", *args],
        input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False,
    )


@pytest.mark.pcsc
def test_card_cli_on_a_pcsc_card_leaks_nothing(
    vpcd_card: Callable[..., AttachedCard], state_dir: Path
) -> None:
    attached = vpcd_card()
    facts = attached.card.facts
    reader = ["--reader", attached.reader_name]
    runs = {
        "status": madoguchi("card", "status", *reader, state=state_dir),
        "pin-status": madoguchi("card", "pin-status", "--json", *reader, state=state_dir),
        "read": madoguchi(
            "card", "read", "--basic4", "--card-face", *reader,
            state=state_dir, stdin=facts.verification_code_b + "\n",
        ),
        "read --json": madoguchi(
            "card", "read", "--basic4", "--card-face", "--json", *reader,
            state=state_dir, stdin=facts.verification_code_b + "\n",
        ),
        "read, wrong 照合番号B": madoguchi(
            "card", "read", "--basic4", *reader,
            state=state_dir, stdin=WRONG_COLLATION_B + "\n", debug=True,
        ),
        "read, malformed 照合番号B": madoguchi(
            "card", "read", "--card-face", *reader,
            state=state_dir, stdin=MALFORMED + "\n",
        ),
    }
    exits = {"read, wrong 照合番号B": 1, "read, malformed 照合番号B": 2}
    for name, run in runs.items():
        expected = exits.get(name, 0)
        assert run.returncode == expected, f"{name}: exit {run.returncode}\n{run.stderr[-2000:]}"
        assert "DEBUG" in run.stderr, f"{name}: -vv gave no DEBUG log to scan"
    # The flows really ran: the card answered and the 照合番号B opened the files.
    assert "card kind:    standard" in runs["status"].stdout
    assert json.loads(runs["pin-status"].stdout)["pins"]["jpki_auth"]["remaining"] == 3
    read = json.loads(runs["read --json"].stdout)
    assert read["basic4"]["name"] == facts.name
    assert read["card_face"]["birth_date"] == facts.birth_date.isoformat()
    assert "WrongPinError" in runs["read, wrong 照合番号B"].stderr
    assert "14 digits" in runs["read, malformed 照合番号B"].stderr
    haystacks: list[tuple[str, str | bytes]] = []
    for name, run in runs.items():
        haystacks += [(f"{name} stdout", run.stdout), (f"{name} stderr", run.stderr)]
    card_secrets(facts).assert_clean([*haystacks, *haystacks_of_dir(state_dir)])
