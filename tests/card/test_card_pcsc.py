"""The card layer through the real stack: pyscard -> pcscd -> vpcd -> virtual card.

Every profile is read through the PC/SC backend, then the CLI is run against the same slot
with ``--reader`` (it knows nothing of the virtual card), and a link drop mid-VERIFY is
recovered from with the counter re-read first.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from device.card.chip import TrustAnchors
from device.card.kind import CardKind, classify
from device.card.layout import PinKind
from device.card.reading import identity_check, tap_to_ready
from device.card.session import CardSession
from drivers import open_reader
from drivers.simcard import PROFILES
from drivers.simcard.pki import TestPki
from madoguchi.cli import main
from madoguchi.errors import CardRemovedError
from tests.support.vpcd import AttachedCard

pytestmark = pytest.mark.pcsc

Attach = Callable[..., AttachedCard]
OPTIONS: dict[str, dict[str, Any]] = {"slow": {"apdu_delay_s": 0.01}, "flaky": {"drop_after": 500}}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_through_pcsc(profile: str, vpcd_card: Attach, sim_pki: TestPki) -> None:
    attached = vpcd_card(profile, **OPTIONS.get(profile, {}))
    facts = attached.card.facts
    anchors = TrustAnchors.from_mapping(sim_pki.trust_anchors())
    reader = open_reader("pcsc", name=attached.reader_name)
    try:
        with reader.connect() as transport:
            session = CardSession(transport)
            ready = tap_to_ready(session)
            assert ready.apdus <= 16
            assert ready.token is not None
            assert ready.token.name == facts.token
            identity = None
            if facts.has_text_aps:
                identity = identity_check(
                    session, bytearray(facts.verification_code_b.encode()), anchors
                )
                assert identity.basic4 is not None
                assert identity.basic4.name == facts.name
                assert transport.stats.apdus <= 30
                assert identity.genuine is {"counterfeit": False, "defective": None}.get(
                    profile, True)
    finally:
        reader.close()
    kind = classify(ready, today=dt.date.today(), identity=identity)
    expected = {"face-auth": CardKind.FACE_AUTH, "juki-card": CardKind.JUKI_CARD,
                "android": CardKind.SMARTPHONE}.get(profile, CardKind.STANDARD)
    assert kind.kind is expected


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


def test_cli_status_and_pin_status(vpcd_card: Attach, capsys: pytest.CaptureFixture[str]) -> None:
    attached = vpcd_card("pin-blocked", blocked_pin="support")
    code, out = run_cli(["card", "status", "--json", "--reader", attached.reader_name], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["card_kind"] == "standard"
    assert data["token_type"] == "my_number_card"
    assert data["expiry"] == attached.card.facts.expiry_date.isoformat()
    assert set(data["pins"]) == {"juki", "jpki_auth", "jpki_sign", "support"}
    assert data["pins"]["support"] == {"remaining": 0, "max": 3, "state": "blocked"}
    assert data["pins"]["jpki_sign"]["remaining"] == 5
    assert data["certificates"] == {"sign": True, "auth": True}
    assert data["apdus"] <= 16
    assert "pin_blocked" in data["conditions"]

    code, out = run_cli(["card", "pin-status", "--reader", attached.reader_name], capsys)
    assert code == 0
    assert "support                0/3 blocked" in out
    assert "juki_legacy            3/3 available" in out
    assert "support_collation_b    10/? available" in out


def test_cli_read_never_prints_the_my_number(
    vpcd_card: Attach, sim_pki: TestPki, tmp_path: Any,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    attached = vpcd_card("standard")
    facts = attached.card.facts
    sim_pki.export_trust_anchors(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(facts.verification_code_b + "\n"))
    code, out = run_cli(
        ["card", "read", "--basic4", "--card-face", "--json", "--reader", attached.reader_name,
         "--trust-anchors", str(tmp_path)],
        capsys,
    )
    assert code == 0
    data = json.loads(out)
    assert data["basic4"]["name"] == facts.name
    assert data["card_face"]["expiry"] == facts.expiry_date.isoformat()
    assert data["genuine"] is True
    assert all(check["ok"] for check in data["checks"].values())
    assert facts.my_number not in out
    assert facts.verification_code_b not in out


def test_cli_read_counterfeit_exits_1(
    vpcd_card: Attach, sim_pki: TestPki, tmp_path: Any,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    attached = vpcd_card("counterfeit")
    sim_pki.export_trust_anchors(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(attached.card.facts.verification_code_b + "\n"))
    code, out = run_cli(
        ["card", "read", "--card-face", "--reader", attached.reader_name,
         "--trust-anchors", str(tmp_path)],
        capsys,
    )
    assert code == 1
    assert "check card_face_signature: FAILED" in out


def test_cli_wrong_collation_b_is_a_clear_error(
    vpcd_card: Attach, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    attached = vpcd_card("standard")
    monkeypatch.setattr("sys.stdin", io.StringIO("12345678901234\n"))
    code = main(["card", "read", "--basic4", "--reader", attached.reader_name])
    err = capsys.readouterr().err
    assert code == 2
    assert "照合番号B (入力補助): wrong; 9 tries left" in err
    assert "12345678901234" not in err
    assert attached.card.retry_counter("support_b") == 9


def test_link_drop_mid_verify_through_pcsc(vpcd_card: Attach) -> None:
    # The 4th APDU after power-on (the VERIFY) is executed, then the link drops.
    attached = vpcd_card("flaky", drop_after=3)
    reader = open_reader("pcsc", name=attached.reader_name)
    try:
        transport = reader.connect()
        session = CardSession(transport)
        with pytest.raises(CardRemovedError):
            session.verify(PinKind.SUPPORT, bytearray(b"9876"))
        assert PinKind.SUPPORT in session.stale_counters
        transport.close()
        attached.wait_present(False)
        attached.wait_present(True)
        session.reattach(reader.connect())
        status = session.pin_status(PinKind.SUPPORT)
        assert status.remaining == 2
        assert not session.stale_counters
        session.transport.close()
    finally:
        reader.close()
