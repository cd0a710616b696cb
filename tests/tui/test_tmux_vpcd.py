"""End to end on the real card stack: ``madoguchi demo`` in tmux, the card on pcscd/vpcd,
the PIN pad on gpiozero mock pins.

The counter runs on a configuration file, not on the demo defaults:
``[reader] backend = "pcsc"`` on vpcd's ``Virtual PCD 00 01``, where the virtual
card is a process of its own (``madoguchi sim card --port 35964``), and
``[keypad] backend = "virtual-matrix"``: the real matrix driver (scan thread,
debounce, prompt gate) on mock pins, whose contacts the applicant presses from a
second tmux session running ``madoguchi sim pad``. A counter has no demo account,
so the clerk's account is made beforehand; the chip checks use trust anchors put
into the state dir as a counter's would be. Every step waits for the screen the
clerk reads before the next key.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from smartcard import scard

from device.operators import OperatorStore, SystemClock, open_operator_db
from drivers.simcard import make_card
from drivers.simcard.pki import TestPki
from madoguchi.bench.tui import TmuxSession, demo_command, sign_in
from tests.pin_scan import assert_no_pin, assert_no_pin_while_typing
from tests.support.vpcd import pcsc_context, reader_name_for, wait_for_slot
from tui.screens.fallback import code_mask
from tui.screens.pin_prompt import mask_rows

from .conftest import FAST_KDF

pytestmark = pytest.mark.pcsc

#: vpcd's second slot; the first (35963) belongs to the other card tests
PORT = 35964
READER = reader_name_for(PORT)
CLERK_ID, CLERK_PASSWORD = "clerk01", "counter-pass-01"
CONFIG = f"""\
[reader]
backend = "pcsc"
name = "{READER}"

[keypad]
backend = "virtual-matrix"
"""
_SESSIONS = itertools.count()


@dataclass
class Counter:
    """The appliance under test and the parts around it."""

    state: Path
    pki: Path
    env: dict[str, str]
    insert_card: CardSlot
    sessions: list[TmuxSession] = field(default_factory=list)

    def tmux(self, suffix: str, command: str) -> TmuxSession:
        name = f"madoguchi-vpcd-{os.getpid()}-{next(_SESSIONS)}-{suffix}"
        session = TmuxSession(name, width=80, height=24)
        self.sessions.append(session)
        session.start(command, self.env)
        return session

    def start(self, profile: str, *card_options: str) -> TmuxSession:
        """Put a card of ``profile`` in the slot, start the demo, sign the clerk in."""
        self.insert_card(profile, *card_options)
        demo = self.tmux("demo", demo_command())
        sign_in(demo, CLERK_ID, CLERK_PASSWORD)
        demo.wait_for(READER)
        demo.wait_for("カードあり")
        return demo

    def records(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.state / "madoguchi.sqlite3") as db:
            rows = db.execute("SELECT payload FROM transactions ORDER BY seq").fetchall()
        return [json.loads(row[0]) for row in rows]


class CardSlot:
    """vpcd's second slot: ``slot(profile, *options)`` puts a card in, ``remove()`` takes
    the last one out (its ``madoguchi sim card`` process ends)."""

    def __init__(self, context: Any, pki: Path, logs: Path) -> None:
        self.context = context
        self.pki = pki
        self.logs = logs
        self.cards: list[subprocess.Popen[bytes]] = []

    def __call__(self, profile: str, *options: str) -> None:
        wait_for_slot(self.context, READER, present=False, timeout=10.0)
        with (self.logs / f"card-{len(self.cards)}.log").open("wb") as log:
            self.cards.append(subprocess.Popen(
                [sys.executable, "-m", "madoguchi.cli", "sim", "card", "--profile", profile,
                 "--port", str(PORT), "--pki-dir", str(self.pki), *options],
                stdout=log, stderr=subprocess.STDOUT,
            ))
        wait_for_slot(self.context, READER, present=True, timeout=15.0)

    def remove(self) -> None:
        card = self.cards[-1]
        card.terminate()
        card.wait(10)
        wait_for_slot(self.context, READER, present=False, timeout=10.0)


@pytest.fixture
def card_slot(sim_pki: Path, tmp_path: Path) -> Iterator[CardSlot]:
    """``insert(profile, *options)``: ``madoguchi sim card`` on port 35964, in the slot."""
    context = pcsc_context(READER)
    slot = CardSlot(context, sim_pki, tmp_path)
    try:
        yield slot
    finally:
        for card in slot.cards:
            card.terminate()
            card.wait(10)
        try:
            if slot.cards:
                wait_for_slot(context, READER, present=False, timeout=10.0)
        finally:
            scard.SCardReleaseContext(context)


@pytest.fixture
def counter(
    state_dir: Path, tmp_path: Path, sim_pki: Path, card_slot: CardSlot
) -> Iterator[Counter]:
    config = tmp_path / "madoguchi.toml"
    config.write_text(CONFIG, encoding="utf-8")
    db = open_operator_db(str(state_dir / "operators.sqlite3"))
    OperatorStore(db, clock=SystemClock(), kdf=FAST_KDF).add(
        CLERK_ID, CLERK_PASSWORD, display_name="窓口 一郎"
    )
    db.conn.close()
    # What `madoguchi sim anchors` writes; a counter gets J-LIS's anchors here instead.
    TestPki.load_or_create(sim_pki).export_trust_anchors(state_dir / "trust-anchors")
    env = {
        "MADOGUCHI_STATE_DIR": str(state_dir),
        "MADOGUCHI_CONFIG": str(config),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }
    rig = Counter(state_dir, sim_pki, env, card_slot)
    try:
        yield rig
    finally:
        for session in reversed(rig.sessions):
            session.kill()


Answer = tuple[str, Sequence[str]] | tuple[str, Sequence[str], str]


def walk_checklist(
    demo: TmuxSession, answers: Sequence[Answer], until: str, timeout: float = 30.0
) -> None:
    """Answer each question when it shows (one a screen), until ``until`` is on screen.

    An answer is ``(question, keys)`` or ``(question, keys, text to wait for first)``.
    A question the app answers itself (from the card or the sign-in) is simply never
    seen; a choice is made from the top of the list (``Home`` first), so an option the
    app highlighted from the chip does not shift the arrows.
    """
    pending = list(answers)
    deadline = time.perf_counter() + timeout
    while until not in (screen := demo.capture()):
        for index, (question, keys, *also) in enumerate(pending):
            if question in screen:
                for text in also:
                    demo.wait_for(text)
                time.sleep(0.15)  # the chip's proposal is set after the first refresh
                for key in keys:
                    if key == "Home":
                        demo.send(key)  # may change nothing: the top is highlighted
                        time.sleep(0.1)
                    else:
                        demo.press(key)
                demo.wait_gone(question)
                del pending[index]
                break
        else:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{until!r} never came; unanswered {pending}:\n{screen}")
            time.sleep(0.02)


CHOOSE_FIRST = ("Home", "Enter")
CHOOSE_SECOND = ("Home", "Down", "Enter")
#: 第2-1-(1) for the person at the counter, up to the card's own checks
ISSUANCE_OPENING: tuple[Answer, ...] = (
    ("申請書等を受理したか", CHOOSE_FIRST),
    ("本人確認書類の種類", CHOOSE_SECOND),  # 個人番号カード
    ("有効期間満了日", ("Enter",), "ICチップから読み取った日付"),  # proposed from the chip
    ("記載内容・写真が申請書等と一致", CHOOSE_FIRST),
    ("運用状況", CHOOSE_FIRST),  # 運用中
)


def open_issuance(demo: TmuxSession) -> None:
    demo.press("p")
    demo.wait_for("第2-1-(1)")
    demo.press("Enter")  # 第2-1-(1), 本人 only: straight to the checklist
    demo.wait_for("第2-1-(1) 電子証明書の新規発行")


@pytest.mark.slow
def test_issuance_with_the_pin_typed_on_the_virtual_pad(counter: Counter) -> None:
    pin = make_card("standard", pki_dir=counter.pki).facts.juki_pin
    assert pin is not None
    demo = counter.start("standard")
    demo.wait_for("住基用暗証番号  残り 3 回")
    assert "virtual-matrix" in demo.capture()  # device health names the pad backend
    # The applicant's pad: a second terminal, its keys go to the mock pins' contacts.
    pad = counter.tmux("pad", f"{sys.executable} -m madoguchi.cli sim pad")
    pad.wait_for("q ends")

    open_issuance(demo)
    walk_checklist(
        demo, [*ISSUANCE_OPENING, ("顔認証カードか", CHOOSE_SECOND)], until="暗証番号を照合する"
    )
    demo.press("Enter")
    demo.wait_for(mask_rows(0, 4)[1])
    demo.wait_for("Simulated PIN pad (virtual matrix)")  # the prompt says what the pad is
    frames, pad_frames = [(0, demo.capture())], [(0, pad.capture())]
    for typed, digit in enumerate(pin, start=1):
        pad.send_literal(digit)  # typed on the pad's terminal, not on the clerk's
        demo.wait_for(mask_rows(typed, 4)[1])
        frames.append((typed, demo.capture()))
        pad_frames.append((typed, pad.capture()))
    pad.send_literal("#")
    demo.wait_for("手続を継続")
    outcome = demo.capture()
    pad_after = pad.capture()
    assert "統合端末で暗証番号の照合に成功" in outcome
    assert "第2-1-(1)-ア-(イ)-B" in outcome

    demo.press("Enter")  # 記録して終了
    demo.wait_for("送信待ち    1 件")
    demo.wait_for("住基用暗証番号  残り 3 回")  # read again: the right PIN spent no try
    [record] = counter.records()
    assert (record["procedure"], record["decision"]) == ("2-1-1", "continue")
    assert record["operator_id"] == CLERK_ID
    assert any(check.startswith("b_pin_verified@") for check in record["checks"])
    assert_no_pin(pin, [json.dumps(record, ensure_ascii=False)])

    log = (counter.state / "demo.log").read_text("utf-8")
    assert "PIN entry complete: juki_pin" in log
    assert CLERK_PASSWORD not in log
    # The typed digits on every frame of both terminals, the whole PIN anywhere
    # (tests/pin_scan.py: dates, times and ids masked, as the screens and the log show them).
    assert_no_pin_while_typing(pin, frames)
    assert_no_pin_while_typing(pin, pad_frames)
    assert_no_pin(pin, [outcome, pad_after, *log.splitlines()])


@pytest.mark.slow
def test_face_auth_card_goes_through_the_chip_and_the_declaration(counter: Counter) -> None:
    facts = make_card("face-auth", pki_dir=counter.pki).facts
    demo = counter.start("face-auth")
    demo.wait_for("個人番号カード（顔認")

    open_issuance(demo)
    walk_checklist(
        demo,
        [
            *ISSUANCE_OPENING,
            ("顔認証カードか", CHOOSE_FIRST),  # はい: the card face says 顔認証
            # the chip match: offered only as a read through 照合番号B (or 'cannot')
            ("照合番号BでICチップの券面事項を確認する", CHOOSE_FIRST),
        ],
        until="照合番号Bの残り照合回数 10 回",
    )
    # The clerk types 照合番号B from the card face; the screen shows masks only.
    demo.send_literal(facts.verification_code_b)
    demo.wait_for(code_mask(len(facts.verification_code_b)))
    assert facts.verification_code_b not in demo.capture()
    demo.press("Enter")
    demo.wait_for("カード実在確認 正常", timeout=20.0)  # read and verified through pcscd
    screen = demo.capture()
    for shown in ("番号　花子", "1985-04-01（昭和60年4月1日）", "顔認証",
                  "券面入力補助AP 正常", "券面AP 正常"):
        assert shown in screen, shown
    assert "偽造" not in screen
    # Tick the five printed items, one repaint per key, then 比較結果を記録.
    assert demo.press("space")
    for _ in range(4):
        assert demo.press("Down")
        assert demo.press("space")
    demo.press("Tab")
    demo.press("Enter")
    demo.wait_for("住民票の記載事項")
    time.sleep(0.15)
    demo.press("Enter")  # 住民票の記載事項
    demo.wait_for("誰に係る")
    time.sleep(0.15)
    demo.press("Enter")  # 申請者／利用者
    demo.wait_for("手続を継続")
    outcome = demo.capture()
    assert "顔認証カードが提示された。" in outcome
    assert "券面事項確認情報と券面記載事項の一致を確認し" in outcome

    demo.press("Enter")  # 記録して終了
    demo.wait_for("送信待ち    1 件")
    [record] = counter.records()
    assert record["decision"] == "continue"
    assert any("b_fallback_chip_and_declaration" in c for c in record["checks"])
    stored = json.dumps(record, ensure_ascii=False)
    assert facts.verification_code_b not in stored
    assert facts.my_number not in stored
    assert facts.verification_code_b not in (counter.state / "demo.log").read_text("utf-8")


@pytest.mark.slow
def test_a_card_past_its_grace_period_is_refused_with_its_citation(counter: Counter) -> None:
    # Expired 400 days ago: past the 6-month grace whatever today's date is.
    demo = counter.start("expired", "--expired-days", "400")
    demo.wait_for("有効期限切れ（猶予期間")  # the home screen warns before any procedure

    open_issuance(demo)
    walk_checklist(demo, ISSUANCE_OPENING, until="受付不可")
    outcome = demo.capture()
    assert "第2-1-(1)-ア-(イ)-A-(A)" in outcome
    assert "6月以内" in outcome
    assert "手続を継続" not in outcome

    demo.press("Enter")  # 記録して終了
    demo.wait_for("送信待ち    1 件")
    [record] = counter.records()
    assert (record["procedure"], record["decision"]) == ("2-1-1", "reject")
    assert any("第2-1-(1)-ア-(イ)-A-(A)" in reason["citation"] for reason in record["reasons"])


# -- the clerk's "no": a wrong PIN and 再入力, a card swapped, Esc on the outcome ----------------


def _type_on_pad(demo: object, pad: object, pin: str) -> None:
    for typed, digit in enumerate(pin, start=1):
        pad.send_literal(digit)  # type: ignore[attr-defined]
        demo.wait_for(mask_rows(typed, 4)[1])  # type: ignore[attr-defined]
    pad.send_literal("#")  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_wrong_pin_then_the_right_one_on_the_retry(counter: Counter) -> None:
    pin = make_card("standard", pki_dir=counter.pki).facts.juki_pin
    assert pin is not None
    wrong = "0000" if pin != "0000" else "1111"
    demo = counter.start("standard")
    pad = counter.tmux("pad", f"{sys.executable} -m madoguchi.cli sim pad")
    pad.wait_for("q ends")
    open_issuance(demo)
    walk_checklist(
        demo, [*ISSUANCE_OPENING, ("顔認証カードか", CHOOSE_SECOND)], until="暗証番号を照合する"
    )
    demo.press("Enter")
    demo.wait_for("住民基本台帳用暗証番号（数字4桁）")
    demo.wait_for("入力の残り時間")
    _type_on_pad(demo, pad, wrong)
    demo.wait_for("住民基本台帳用暗証番号が違います")
    screen = demo.capture()
    assert "残り 2 回" in screen
    assert "再入力する" in screen
    demo.press("Enter")  # 再入力: a new entry by the applicant
    demo.wait_for(mask_rows(0, 4)[1])
    demo.wait_for("残り 2 回")
    _type_on_pad(demo, pad, pin)
    demo.wait_for("手続を継続")
    demo.press("Enter")  # 記録して終了
    demo.wait_for("送信待ち    1 件")
    demo.wait_for("住基用暗証番号  残り 3 回")
    [record] = counter.records()
    assert record["decision"] == "continue"
    assert any(check.startswith("b_pin_verified@") for check in record["checks"])


@pytest.mark.slow
def test_a_card_swapped_mid_procedure_is_asked_again(counter: Counter) -> None:
    demo = counter.start("standard")
    open_issuance(demo)
    walk_checklist(
        demo, [*ISSUANCE_OPENING, ("顔認証カードか", CHOOSE_SECOND)], until="暗証番号を照合する"
    )
    counter.insert_card.remove()
    demo.wait_for("カードが取り外されました")
    counter.insert_card("expired", "--expired-days", "400")
    demo.wait_for("別のカードが置かれました", timeout=20.0)
    demo.wait_for("有効期間満了日")  # the card steps again, from the new card
    walk_checklist(demo, ISSUANCE_OPENING[2:], until="受付不可")
    assert "第2-1-(1)-ア-(イ)-A-(A)" in demo.capture()  # the second card's own verdict


@pytest.mark.slow
def test_escape_on_the_outcome_records_an_abandonment_shown_in_history(
    counter: Counter,
) -> None:
    demo = counter.start("expired", "--expired-days", "400")
    open_issuance(demo)
    walk_checklist(demo, ISSUANCE_OPENING, until="受付不可")
    demo.press("Escape")
    demo.wait_for("判定を記録せずに中止しますか")
    demo.press("Down")
    demo.press("Enter")  # 申請取下げ
    demo.wait_for("送信待ち    1 件")
    demo.press("h")
    demo.wait_for("中止（申請取下げ）")
    [record] = counter.records()
    assert record["decision"] == "abandoned"
    assert record["abandonment_reason"] == "withdrawn"
    assert record["extra"]["decision_discarded"] == "reject"


# -- proxy issuance through the reply form; the fallback's declaration refused ------------


@pytest.mark.slow
def test_proxy_issuance_through_the_reply_form(counter: Counter) -> None:
    demo = counter.start("standard")
    demo.press("p")
    demo.wait_for("第2-1-(2)")
    demo.press("Down")
    demo.press("Enter")  # 第2-1-(2)
    demo.wait_for("窓口に来た方を選んでください")
    demo.press("Enter")  # 代理人 (the first choice)
    demo.wait_for("第2-1-(2) 電子証明書の新規発行／更新（代理人）")
    opening: list[Answer] = [
        ("申請書等を受理したか", CHOOSE_FIRST),
        ("委任状の提出があるか", CHOOSE_FIRST),
        ("出生の届出と併せた申請か", CHOOSE_SECOND),  # いいえ
        ("委任状に申請者／利用者本人の署名又は記名押印があるか", CHOOSE_FIRST),
        ("転入届又は転居届と併せた申請か", CHOOSE_SECOND),
        ("回答書の有無", CHOOSE_FIRST),
        # "wrong" first: a reply form whose PIN is not concealed
        ("回答書の暗証番号の隠蔽", ("Home", "Down", "Down", "Enter")),  # なし
    ]
    walk_checklist(demo, opening, until="受付不可")
    refused = demo.capture()
    assert "第2-1-(2)-ア-(ア)-C-(B)" in refused
    assert "隠蔽シール" in refused
    demo.press("F3")  # back one step: the concealment asked again
    demo.wait_for("回答書の暗証番号の隠蔽")
    walk_checklist(
        demo,
        [
            ("回答書の暗証番号の隠蔽", CHOOSE_FIRST),  # 目隠しシール
            ("代理人の本人確認書類の種類", ("Home", "Down", "Down", "Down", "Enter")),  # 旅券
            ("代理人の本人確認書類の記載内容・写真が申請書等と一致するか", CHOOSE_FIRST),
        ],
        until="手続を継続",
    )
    outcome = demo.capture()
    assert "照会書に対する回答書を確認した" in outcome
    for raw in ("pin_concealment", "reply_form", "sticker", "$.facts"):
        assert raw not in outcome, raw
    demo.press("Enter")  # 記録して終了
    demo.wait_for("送信待ち    1 件")
    [record] = counter.records()
    assert (record["procedure"], record["actor"], record["decision"]) == (
        "2-1-2", "proxy", "continue")
    # the reply form's check passed, under its citation
    assert any(check.endswith("@第2-1-(2)-ア-(ア)-C-(B)") for check in record["checks"]), record


@pytest.mark.slow
def test_no_declaration_in_the_fallback_is_refused_with_its_citation(counter: Counter) -> None:
    facts = make_card("face-auth", pki_dir=counter.pki).facts
    demo = counter.start("face-auth")
    demo.wait_for("個人番号カード（顔認")
    open_issuance(demo)
    walk_checklist(
        demo,
        [
            *ISSUANCE_OPENING,
            ("顔認証カードか", CHOOSE_FIRST),
            ("照合番号BでICチップの券面事項を確認する", CHOOSE_FIRST),
        ],
        until="照合番号Bの残り照合回数 10 回",
    )
    demo.send_literal(facts.verification_code_b)
    demo.wait_for(code_mask(len(facts.verification_code_b)))
    demo.press("Enter")
    demo.wait_for("カード実在確認 正常", timeout=20.0)
    assert demo.press("space")
    for _ in range(4):
        assert demo.press("Down")
        assert demo.press("space")
    demo.press("Tab")
    demo.press("Enter")  # 比較結果を記録
    demo.wait_for("申告拒否")
    time.sleep(0.15)
    for key in ("Home", "Down", "Down", "Down"):
        demo.press(key)
    demo.press("Enter")  # なし: the applicant declares nothing
    demo.wait_for("受付不可")
    outcome = demo.capture()
    assert "第2-1-(1)-ア-(イ)-B" in outcome
    assert "申告がない" in outcome
    demo.press("Enter")  # 記録して終了
    demo.wait_for("送信待ち    1 件")
    [record] = counter.records()
    assert record["decision"] == "reject"
    assert record["reasons"][-1]["citation"] == "第2-1-(1)-ア-(イ)-B"
    assert facts.verification_code_b not in json.dumps(record, ensure_ascii=False)
