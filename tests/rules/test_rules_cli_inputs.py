"""``madoguchi rules`` on odd input: one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MADOGUCHI = str(Path(sys.executable).parent / "madoguchi")
CASE = {
    "procedure": "2-1-1", "actor": "self", "date": "9999-12-31",
    "facts": {"application": {"received": True}, "applicant_id": {
        "kind": "my_number_card", "contents_match": True,
        "card": {"expiry": "9999-12-01", "photo_confirmed": True,
                 "operation_status": "in_operation", "face_auth": False,
                 "operator_authenticated": True, "pin_result": "verified"}}},
}


#: 40 levels: the JSON decoder reads it, the case file's own limit refuses it.
DEEP: list[object] = []
for _ in range(40):
    DEEP = [DEEP]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MADOGUCHI_DEBUG": "0"}
    return subprocess.run(
        [MADOGUCHI, *argv], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )


def _one_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe{}", ("not UTF-8",)),
        (b"[" * 100_000 + b"]" * 100_000, ("nested too deeply",)),
        (json.dumps({**CASE, "title": DEEP}).encode(), ("nested too deeply",)),
    ],
    ids=["not-utf8", "deep-array", "deep-title"],
)
def test_a_bad_case_file_is_one_line(tmp_path: Path, content: bytes, words: tuple[str]) -> None:
    case = tmp_path / "case.json"
    case.write_bytes(content)
    _one_line(_run("rules", "check", str(case)), *words)


def test_a_card_expiring_in_9999_is_decided_without_overflow(tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    case.write_text(json.dumps(CASE), encoding="utf-8")
    result = _run("rules", "check", str(case), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["decision"] == "continue"  # 改正後: within the grace, photo confirmed


def test_explain_into_a_closed_pipe_is_one_line() -> None:
    reader = subprocess.Popen(
        [MADOGUCHI, "rules", "explain", "2-1-2"], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert reader.stdout is not None
    assert reader.stderr is not None
    reader.stdout.close()  # the reader went away, as `| head -0` does
    stderr = reader.stderr.read()
    assert reader.wait(timeout=60) == 2
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == [
        "madoguchi: the output was closed before it ended (broken pipe)"
    ]
