"""The fallback comparison on cards that are not the project's own (issue 14).

Each ``defective`` virtual card — CV certificate refused (SW 6986), absent, malformed,
from an issuer not configured, signed by the wrong key; 基本4情報, card face or photo
absent — goes from the checklist through 照合番号B to the comparison on the real stack
(sim reader, device/card, the test PKI's anchors). The screen shows what it could read,
marks what it could not, names the reason in Japanese with no raw identifier, and the
comparison is recorded as no match even with every item ticked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tui.app import CounterApp

from .conftest import StepClock, make_services
from .helpers import notices, screen_text, wait_for
from .test_fallback import SIZE, Frames, _facts, _tick_all_and_record, _to_fallback, _type_code

#: defect -> (warning head, what the reason says, what is marked unreadable or None)
CASES: dict[str, tuple[str, str, str | None]] = {
    "cv-refused": ("真正性を確認できません", "券面入力補助APのCV証明書を読み取れない", None),
    "cv-absent": ("真正性を確認できません", "券面APのCV証明書を読み取れない", None),
    "cv-malformed": ("真正性を確認できません", "CV証明書の形式が不正", None),
    "cv-unknown-issuer": ("真正性を確認できません", "CV証明書の発行者が未登録", None),
    "cv-bad-signature": ("偽造カードの疑いがあります", "CV証明書の署名が一致しない", None),
    "basic4-absent": ("真正性を確認できません", "券面入力補助APの署名対象データを読み取れない",
                      "氏名"),
    "face-absent": ("真正性を確認できません", "券面APの署名対象データを読み取れない", "券面AP"),
    "photo-absent": ("真正性を確認できません", "券面APの署名対象データの形式が不正", "顔写真"),
    "photo-swapped": ("偽造カードの疑いがあります", "券面APの署名が一致しない", None),
}
#: What no Japanese screen may show: status words, class names, snake-case codes.
RAW = re.compile(r"\b(SW ?[0-9A-F]{4}|6986|6A82|[A-Z][a-z]+Error|[a-z]+_[a-z_]+)\b")


@pytest.fixture(params=list(CASES))
def defective(request: pytest.FixtureRequest, tmp_path: Path, clock: StepClock,
              sim_pki: Path) -> Iterator[tuple[str, Any]]:
    svc = make_services(tmp_path, clock=clock, pki_dir=sim_pki, profile="defective",
                        defect=request.param)
    yield request.param, svc
    svc.close()


def _flat(app: CounterApp) -> str:
    """The screen with box borders and line breaks taken out (warnings wrap at 80 columns)."""
    return "".join(line.strip(" │┃") for line in screen_text(app).splitlines())


async def test_a_strange_card_is_warned_and_cannot_match(defective: tuple[str, Any]) -> None:
    defect, services = defective
    head, reason, marked = CASES[defect]
    app = CounterApp(services=services)
    async with app.run_test(size=SIZE) as pilot:
        frames = Frames(pilot)
        await _to_fallback(pilot, frames)
        await _type_code(frames, _facts(services).verification_code_b)
        screen = app.screen
        assert screen.phase == "compare"  # type: ignore[attr-defined]
        text = _flat(app)
        assert head in text
        assert reason in text, text
        assert "券面事項の一致として記録できません" in text
        if marked is not None:
            assert re.search(marked + r"\s+ICチップから読み取れません", screen_text(app))
        if defect != "basic4-absent":
            assert "番号　花子" in text  # the text that was read is still shown
        assert not RAW.search(screen_text(app)), RAW.search(screen_text(app))
        await _tick_all_and_record(frames)
        await wait_for(pilot, lambda: app.screen is not screen
                       or screen.phase == "declare")  # type: ignore[attr-defined]
        card = screen.session.recorded["applicant_id"]["card"]  # type: ignore[attr-defined]
        assert card["chip_face_match"] is False
        # Only a failed signature is flagged as a suspected counterfeit.
        assert card.get("counterfeit_suspected", False) is (
            defect in ("cv-bad-signature", "photo-swapped"))
        notices_shown = " ".join(notices(app))
    assert "券面事項の不一致を記録しました" in notices_shown
    events = services.operators.events("demo")
    [chip] = [e["detail"] for e in events if e["action"] == "chip_checks"]
    assert chip != "verified"


async def test_english_names_the_reason_too(tmp_path: Path, clock: StepClock,
                                            sim_pki: Path) -> None:
    services = make_services(tmp_path, clock=clock, pki_dir=sim_pki, profile="defective")
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=(100, 30)) as pilot:
            frames = Frames(pilot)
            await _to_fallback(pilot, frames)
            await _type_code(frames, _facts(services).verification_code_b)
            await pilot.press("f2")
            await wait_for(pilot, lambda: "cannot be shown genuine" in _flat(app))
            assert "Input-support AP: CV certificate cannot be read" in _flat(app)
    finally:
        services.close()


async def test_a_photo_that_does_not_decode_is_marked_and_the_rest_stands(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    """Signed as issued, so genuine; the photo is marked unreadable, the match can be recorded."""
    services = make_services(tmp_path, clock=clock, pki_dir=sim_pki, profile="defective",
                             defect="photo-undecodable")
    try:
        app = CounterApp(services=services)
        async with app.run_test(size=SIZE) as pilot:
            frames = Frames(pilot)
            await _to_fallback(pilot, frames)
            await _type_code(frames, _facts(services).verification_code_b)
            screen = app.screen
            text = screen_text(app)
            assert re.search(r"顔写真\s+ICチップから読み取れません", text)
            assert "真正性を確認できません" not in _flat(app)
            assert "券面AP 正常" in text
            await _tick_all_and_record(frames)
            await wait_for(pilot, lambda: app.screen is not screen
                           or screen.phase == "declare")  # type: ignore[attr-defined]
            card = screen.session.recorded["applicant_id"]["card"]  # type: ignore[attr-defined]
            assert card["chip_face_match"] is True
    finally:
        services.close()


def test_a_failed_read_is_told_in_words_not_class_names(
    tmp_path: Path, clock: StepClock, sim_pki: Path
) -> None:
    """The link drops in the middle of the identity check: a kind the screen words, no name."""
    from tui.i18n import Strings

    services = make_services(tmp_path, clock=clock, pki_dir=sim_pki, profile="flaky",
                             drop_after=4)
    try:
        code = bytearray(services.reader.card.facts.verification_code_b.encode())
        view = services.identity_check(code, confirm_last_try=frozenset())
    finally:
        services.close()
    assert code == bytearray(len(code))  # wiped
    assert (view.outcome, view.detail) == ("error", "card_removed")
    for language in ("ja", "en"):
        assert Strings(language).has(f"fallback.errors.{view.detail}")
    assert "Error" not in Strings("ja")("fallback.outcomes.error",
                                        detail=Strings("ja")("fallback.errors.card_removed"))
