"""An issuance's new PINs in the engine: noted (not answered) facts that F3 never takes back,
and what the record says of them — who set which, and by proxy only that the concealed
form was used; never a PIN."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from device.procedures import Session, load_case
from device.procedures.casefile import ForbiddenKeyError
from device.procedures.engine import StepValueError
from device.records import Decision, TransactionRecord
from madoguchi.errors import PersonalDataError

CASES = Path(__file__).resolve().parents[2] / "docs" / "cases"


def _flat(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _continued(name: str) -> Session:
    case = load_case(CASES / name)
    data = json.loads((CASES / name).read_text(encoding="utf-8"))
    session = Session.start(case.info.id, case.actor, case.on)
    for key, value in _flat(data["facts"]).items():
        session.record(key, value)
    assert session.evaluation.decision is Decision.CONTINUE
    return session


def test_noted_new_pins_survive_f3_and_reach_the_record() -> None:
    session = _continued("2-1-1-continue-pin.json")
    session.note({"new_pins.by": "written", "new_pins.written": ["jpki_sign", "jpki_auth"],
                  "new_pins.from_concealed_form": False})
    taken = session.back()  # the clerk's last answer goes, the card's state stays
    assert not any(key.startswith("new_pins") for key in taken)
    assert session.recorded_under("new_pins")
    while session.can_go_back:
        session.back()
    assert session.recorded["new_pins"]["by"] == "written"
    payload = _continued_with(session).complete().to_payload()
    assert payload["extra"]["new_pins"] == {"by": "written", "pins": ["jpki_auth", "jpki_sign"]}
    assert "concealed_form_used" not in payload["extra"]


def _continued_with(noted: Session) -> Session:
    """A fresh continued session carrying ``noted``'s new PINs (as the TUI notes them)."""
    session = _continued("2-1-1-continue-pin.json")
    raw = noted.recorded["new_pins"]
    session.note({f"new_pins.{key}": value for key, value in raw.items()})
    return session


def test_by_proxy_the_record_says_only_that_the_concealed_form_was_used() -> None:
    session = _continued("2-1-2-continue-proxy.json")
    session.note({"new_pins.by": "handed_to_jlis", "new_pins.written": ["jpki_auth"],
                  "new_pins.from_concealed_form": True})
    payload = session.complete().to_payload()
    assert payload["extra"]["concealed_form_used"] is True
    assert payload["extra"]["new_pins"] == {"by": "handed_to_jlis", "pins": ["jpki_auth"]}
    assert set(payload["extra"]) <= {
        "transaction_date", "policies", "procedure_title", "record_keeping", "actions",
        "fee_status", "concealed_form_used", "new_pins"}


def test_a_bad_note_is_refused_and_loses_nothing() -> None:
    session = _continued("2-1-1-continue-pin.json")
    before = session.recorded
    with pytest.raises(StepValueError):
        session.note({"new_pins.by": "typed_by_the_clerk"})
    with pytest.raises(ForbiddenKeyError):
        session.note({"new_pins.pin": "5738"})
    assert session.recorded == before
    assert session.evaluation.decision is Decision.CONTINUE


def test_the_record_refuses_new_pins_of_another_form() -> None:
    record = _continued("2-1-1-continue-pin.json").complete()
    for bad in ({"by": "written", "pins": ["5738"]}, {"by": "written"},
                {"by": "set", "pins": []}, {"by": "written", "pins": [], "value": "x"}):
        with pytest.raises(PersonalDataError):
            TransactionRecord(**{**record.__dict__,
                                 "extra": {**record.extra, "new_pins": bad}}).to_payload()


def test_an_issuance_without_the_step_says_nothing_of_new_pins() -> None:
    payload = _continued("2-1-1-continue-pin.json").complete().to_payload()
    assert "new_pins" not in payload["extra"]
    assert "concealed_form_used" not in payload["extra"]
    assert Session.start("2-1-1", "self", date(2026, 12, 3)).recorded == {}
