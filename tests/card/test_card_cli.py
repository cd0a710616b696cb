"""``madoguchi card`` on the configured backend (the in-process virtual card by default)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from madoguchi.cli import main


@pytest.fixture(scope="module")
def shared_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("card-cli-state")


@pytest.fixture(autouse=True)
def _shared_sim_pki(
    _private_state: Path, shared_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One state dir for this module, so the sim's test PKI is generated once."""
    monkeypatch.setenv("MADOGUCHI_STATE_DIR", str(shared_state))


def write_config(tmp_path: Path, profile: str) -> Path:
    path = tmp_path / "madoguchi.toml"
    path.write_text(f'[reader]\nbackend = "sim"\nprofile = "{profile}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("profile", "kind", "token"),
    [("standard", "standard", "my_number_card"), ("face-auth", "face_auth", "my_number_card"),
     ("juki-card", "juki_card", "juki_card"), ("android", "smartphone", "android")],
)
def test_status_json_on_the_configured_sim(
    profile: str, kind: str, token: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, profile)
    assert main(["--config", str(config), "card", "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["card_kind"] == kind
    assert data["token_type"] == token
    assert set(data["pins"]) == {"juki", "jpki_auth", "jpki_sign", "support"}
    assert data["apdus"] <= 16
    if profile == "face-auth":
        assert data["uncertain"]
        assert data["certificates"] == {"sign": False, "auth": True}


def test_read_needs_a_part(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", "read"]) == 2
    assert "--basic4" in capsys.readouterr().err


def test_read_refuses_a_malformed_collation_b_without_touching_the_card(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))
    assert main(["card", "read", "--basic4"]) == 2
    err = capsys.readouterr().err
    assert "14 digits" in err
    assert "1234\n" not in err


def test_text_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", "status"]) == 0
    out = capsys.readouterr().out
    assert "card kind:    standard" in out
    assert "jpki_sign              5/5 available" in out
