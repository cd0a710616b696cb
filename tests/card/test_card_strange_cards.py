"""Cards that are not the project's own: the identity check never breaks on them (issue 14).

Each ``defective`` virtual card gets one thing wrong — a CV certificate (EF 0004) refused,
absent, malformed, from an issuer not configured or signed by the wrong key; the 基本4情報,
the card face or its photo absent. The identity check reads what it can, names what it
could not, and ends in "counterfeit suspected" (a signature failed) or "cannot be shown
genuine" (a check could not be made), never in an exception. In process here, and the CLI
on the configured sim; ``test_card_strange_pcsc.py`` repeats it through pcscd/vpcd.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from device.card.chip import TrustAnchors
from device.card.kind import Condition, classify
from device.card.reading import CheckReason, IdentityReport, identity_check, tap_to_ready
from device.card.session import CardSession
from drivers.simcard import make_card
from drivers.simcard.names import DEFECTS
from drivers.transport.sim import SimReader
from madoguchi.cli import main
from madoguchi.errors import ConfigError

SimFactory = Callable[..., tuple[SimReader, CardSession]]

#: defect -> (genuine, {check: reason}, pieces unreadable)
EXPECTED: dict[str, tuple[bool | None, dict[str, CheckReason], set[str]]] = {
    "cv-refused": (None, {"support_signature": CheckReason.CV_MISSING,
                          "card_face_signature": CheckReason.CV_MISSING}, set()),
    "cv-absent": (None, {"support_signature": CheckReason.CV_MISSING,
                         "card_face_signature": CheckReason.CV_MISSING}, set()),
    "cv-malformed": (None, {"support_signature": CheckReason.CV_MALFORMED,
                            "card_face_signature": CheckReason.CV_MALFORMED}, set()),
    "cv-unknown-issuer": (None, {"support_signature": CheckReason.ISSUER_UNKNOWN,
                                 "card_face_signature": CheckReason.ISSUER_UNKNOWN}, set()),
    "cv-bad-signature": (False, {"support_signature": CheckReason.CV_SIGNATURE_INVALID,
                                 "card_face_signature": CheckReason.CV_SIGNATURE_INVALID},
                         set()),
    "basic4-absent": (None, {"support_signature": CheckReason.RECORD_MISSING}, {"basic4"}),
    "face-absent": (None, {"card_face_signature": CheckReason.RECORD_MISSING,
                           "presence": CheckReason.RECORD_MISSING}, {"card_face"}),
    "photo-absent": (None, {"card_face_signature": CheckReason.RECORD_MALFORMED}, {"photo"}),
    "photo-swapped": (False, {"card_face_signature": CheckReason.SIGNATURE_INVALID}, set()),
    # Signed as issued: genuine. That the photo does not decode is found by decoding it
    # (test_card_face_images.py), and shown beside the rest.
    "photo-undecodable": (True, {}, set()),
}


def test_every_defect_has_an_expectation() -> None:
    assert set(EXPECTED) == set(DEFECTS)


def assert_soft(report: IdentityReport, defect: str, name: str) -> None:
    """The report of a defective card: what failed is named, the rest is read and verified."""
    genuine, reasons, unreadable = EXPECTED[defect]
    assert report.genuine is genuine
    assert set(report.unreadable) == unreadable
    for check in report.checks:
        if check.name in reasons:
            assert check.reason is reasons[check.name], (check.name, check.detail)
            assert check.ok is (False if genuine is False else None)
            assert check.detail  # the reason in words, for the log and `card read`
        else:
            assert check.ok is True, (check.name, check.detail)
            assert check.reason is CheckReason.VERIFIED
    # Text still there when only another piece is missing.
    if "basic4" in unreadable:
        assert report.basic4 is None
    else:
        assert report.basic4 is not None
        assert report.basic4.name == name
    if "card_face" in unreadable:
        assert report.card_face is None
    else:
        assert report.card_face is not None
        assert report.card_face.birth_date == dt.date(1985, 4, 1)
        assert (report.card_face.photo is None) == ("photo" in unreadable)


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_identity_check_never_breaks_on_a_defective_card(
    defect: str, sim_session: SimFactory, anchors: TrustAnchors
) -> None:
    reader, session = sim_session("defective", defect=defect)
    assert reader.card is not None
    facts = reader.card.facts
    ready = tap_to_ready(session)
    report = identity_check(session, bytearray(facts.verification_code_b.encode()), anchors)
    assert_soft(report, defect, facts.name)
    # The 照合番号B counters came back to full: the reads after VERIFY spent nothing.
    assert reader.card.retry_counter("support_b") == 10
    assert reader.card.retry_counter("face_b") == 10
    result = classify(ready, today=dt.date.today(), identity=report)
    if EXPECTED[defect][0] is False:
        assert Condition.COUNTERFEIT_SUSPECT in result.conditions
    else:
        assert Condition.COUNTERFEIT_SUSPECT not in result.conditions
        for check in report.checks:
            if check.ok is None:
                assert any(check.detail in note for note in result.uncertain)


def test_one_app_at_a_time(sim_session: SimFactory, anchors: TrustAnchors) -> None:
    """Only the 基本4情報 or only the card face: each piece alone still ends softly."""
    reader, session = sim_session("defective", defect="cv-malformed")
    assert reader.card is not None
    code = reader.card.facts.verification_code_b
    face = identity_check(session, bytearray(code.encode()), anchors, basic4=False)
    assert [c.name for c in face.checks] == ["card_face_signature", "presence"]
    assert face.genuine is None
    basic4 = identity_check(session, bytearray(code.encode()), anchors, card_face=False)
    assert [c.reason for c in basic4.checks] == [CheckReason.CV_MALFORMED]


def test_without_anchors_nothing_is_shown_genuine(sim_session: SimFactory) -> None:
    reader, session = sim_session("standard")
    assert reader.card is not None
    report = identity_check(session, bytearray(reader.card.facts.verification_code_b.encode()),
                            None)
    assert report.genuine is None
    assert {c.reason for c in report.checks if c.ok is None} == {CheckReason.NO_ANCHORS}


def test_defect_options_are_checked(card_pki_dir: Path) -> None:
    with pytest.raises(ConfigError, match="defect must be one of"):
        make_card("defective", pki_dir=card_pki_dir, defect="everything")
    with pytest.raises(ConfigError, match="does not take defect"):
        make_card("standard", pki_dir=card_pki_dir, defect="cv-absent")
    assert make_card("defective", pki_dir=card_pki_dir).facts.profile == "defective"


# -- `madoguchi card read` on the configured sim (the defective card's default: 6986) -----


@pytest.fixture
def sim_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MADOGUCHI_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "madoguchi.toml"
    path.write_text('[reader]\nbackend = "sim"\nprofile = "defective"\n', encoding="utf-8")
    assert main(["sim", "anchors", str(tmp_path / "anchors")]) == 0
    return path


@pytest.mark.parametrize("as_json", [False, True])
def test_card_read_names_the_reason(
    as_json: bool, sim_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    capsys.readouterr()
    code = make_card("defective").facts.verification_code_b
    monkeypatch.setattr("sys.stdin", io.StringIO(code + "\n"))
    argv = ["--config", str(sim_config), "card", "read", "--basic4", "--card-face",
            "--trust-anchors", str(tmp_path / "anchors"), *(["--json"] if as_json else [])]
    assert main(argv) == 0  # not a counterfeit: it cannot be shown genuine
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert "error" not in err.lower()
    if as_json:
        data = json.loads(out)
        assert data["genuine"] is None
        assert data["verdict"] == "not_shown_genuine"
        assert data["checks"]["support_signature"]["reason"] == "cv_missing"
        assert "6986" in data["checks"]["support_signature"]["detail"]
        assert data["checks"]["presence"]["ok"] is True
        assert data["basic4"]["address"] == "東京都千代田区永田町１－２－３"
    else:
        assert "真正性: 確認できません" in out
        assert "券面事項の一致として扱えません" in out
        assert "check support_signature: not decided (cv_missing:" in out
        assert "SW 6986" in out
        assert "氏名:     番号　花子" in out
