"""``madoguchi rules check|explain|list|daily-register`` through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from device.procedures import PROCEDURES, Session
from device.records import CertificateAction
from madoguchi.cli import main

from .factories import NEW

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "docs" / "cases"


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(list(argv)) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_check_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "rules", "check", str(CASES / "reject-chip-mismatch.json"), "--json")
    assert out["decision"] == "reject"
    assert out["rule_version"] == "改正後"
    reasons = out["reasons"]
    assert isinstance(reasons, list)
    assert reasons[-1] == {
        "citation": "第2-1-(1)-ア-(イ)-B",
        "text": "券面事項確認情報と券面記載事項の一致が確認できないため受付不可。",
    }


def test_check_in_english(capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "rules", "check", str(CASES / "2-1-1-inquiry-no-document.json"),
                "--json", "--lang", "en")
    assert out["decision"] == "inquiry"
    assert "inquiry letter" in str(out["reasons"])


def test_check_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(CASES / "4-3-continue.json")]) == 0
    text = capsys.readouterr().out
    assert "判定: continue (手続を継続)" in text
    assert "適用規則: 改正後" in text
    assert "-> set_operation_status in_operation 「第4-3」" in text


def test_config_sets_effective_date_and_policies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "madoguchi.toml"
    config.write_text('[rules]\namended_effective_date = "2027-01-01"\n', encoding="utf-8")
    out = _json(capsys, "--config", str(config), "rules", "check",
                str(CASES / "2-1-1-continue-grace.json"), "--json")
    assert out["rule_version"] == "現行"
    assert out["decision"] == "reject"  # no grace period before the amendment
    config.write_text("[rules]\nfallback_requires_both = false\n", encoding="utf-8")
    out = _json(capsys, "--config", str(config), "rules", "check",
                str(CASES / "reject-declaration-mismatch.json"), "--json")
    assert out["decision"] == "continue"


def test_bad_config_and_bad_case_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "madoguchi.toml"
    config.write_text('[rules]\ngrace_counting = "lunar"\n', encoding="utf-8")
    assert main(["--config", str(config), "rules", "check",
                 str(CASES / "2-1-1-continue-pin.json")]) == 2
    assert "grace_counting" in capsys.readouterr().err
    secret = tmp_path / "case.json"
    secret.write_text(json.dumps({"procedure": "2-1-1", "actor": "self", "date": "2026-06-01",
                                  "facts": {"my_number": "123456789012"}}), encoding="utf-8")
    assert main(["rules", "check", str(secret)]) == 2
    err = capsys.readouterr().err
    assert "never hold a PIN" in err
    assert "123456789012" not in err
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"procedure": "2-1-1", "actor": "self",
                                      "date": "2026-06-01", "facts": {}}), encoding="utf-8")
    assert main(["rules", "check", str(incomplete)]) == 2
    assert "application.received" in capsys.readouterr().err


@pytest.mark.parametrize("pid", list(PROCEDURES))
def test_explain_every_procedure(pid: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _json(capsys, "rules", "explain", pid, "--json")
    assert out["procedure"] == pid
    steps = out["steps"]
    assert isinstance(steps, list)
    assert steps
    changes = out["amendments"]
    assert isinstance(changes, list)
    if PROCEDURES[pid].outside_guidelines:
        # 暗証番号の初期化・再設定: citations of its own form, each step with its public sources
        assert out["outside_guidelines"] is True
        assert all(str(s["citation"]).startswith("要領外-初期化-") for s in steps)
        assert all(s["sources"] and all(src["url"].startswith("http") and src["title"]
                                        for src in s["sources"]) for s in steps)
        assert not changes, "no amendment of the guidelines touches it"
        return
    assert out["outside_guidelines"] is False
    assert all(str(s["citation"]).startswith("第") for s in steps)
    assert all("sources" not in s for s in steps)
    assert changes, "every procedure lists its amendments"
    assert main(["rules", "explain", pid]) == 0
    assert "[ ]" in capsys.readouterr().out


def test_explain_unknown_procedure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "explain", "2-9"]) == 2
    assert "unknown procedure" in capsys.readouterr().err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(PROCEDURES)


def test_daily_register_from_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = Session.start("2-1-1", "self", NEW)
    session.record_many({
        "application.received": True, "applicant_id.kind": "passport",
        "applicant_id.contents_match": True,
    })
    record = session.complete(certificates=[CertificateAction("sign", "issued", "S1"),
                                            CertificateAction("auth", "issued", "A1")])
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(record.to_payload(), ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["rules", "daily-register", str(path), "--paid-jlis", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("受付年月日,証明書,通信件数")
    assert out[1:3] == ["2026-06-01,auth,1,1,0,1,0", "2026-06-01,sign,1,1,0,1,0"]
    assert "outstanding 0 yen" in out[3]
    path.write_text("{broken\n", encoding="utf-8")
    assert main(["rules", "daily-register", str(path)]) == 2


def test_entry_point_runs_as_a_program() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "madoguchi"), "rules", "check",
         str(CASES / "2-1-2-continue-legal-rep.json"), "--json"],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["decision"] == "continue"


def test_verify_against_the_case_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "check", "--verify", str(CASES / "reject-poa-missing.json")]) == 0
    data = json.loads((CASES / "reject-poa-missing.json").read_text(encoding="utf-8"))
    data["expect"] = {"decision": "continue", "key": "poa_ok", "citation": "第9"}
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    assert main(["rules", "check", "--verify", str(wrong)]) == 1
    err = capsys.readouterr().err
    assert "expected decision continue, got reject" in err
    assert "expected a finding 'poa_ok'" in err


def test_explain_pin_reset_lists_each_step_with_its_public_sources(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`madoguchi rules explain pin-reset`: outside the guidelines, said so; every step
    with its 「要領外-初期化-N」 citation and under it each page it follows (publisher,
    title, URL); the citation form is accepted as the id too."""
    from device.procedures import pin_reset

    assert main(["rules", "explain", "pin-reset"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("要領外-初期化 暗証番号の初期化・再設定  (手続者: self, proxy)")
    assert lines[1].startswith("要領外: 公的個人認証サービス事務処理要領にない手続")
    steps = [line for line in lines if "[ ]" in line]
    assert len(steps) == len(pin_reset.STEP_CITATIONS)
    sources = [line.strip() for line in lines if line.strip().startswith("出典: ")]
    assert len(sources) == sum(len(pin_reset.SOURCES[c]) for c in
                               pin_reset.STEP_CITATIONS.values())
    for cited in pin_reset.SOURCES.values():
        for source in cited:
            assert f"{source.publisher}「{source.title}」 {source.url}" in out
    assert "第" not in "".join(line for line in lines if "「要領外" in line)
    assert main(["rules", "explain", "要領外-初期化", "--lang", "en"]) == 0
    english = capsys.readouterr().out
    assert "Outside the guidelines" in english
    assert english.count("source: ") == len(sources)
