"""Builders for case facts (as case-file JSON) shared by the rules tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from device.procedures import Actor, Evaluation, Policies, evaluate
from device.procedures.casefile import facts_from

#: The default effective date is 2026-04-01: these fall on either side of it.
OLD = date(2026, 3, 1)
NEW = date(2026, 6, 1)

APP: dict[str, Any] = {"received": True, "with_birth_registration": False}
APP3: dict[str, Any] = {"received": True, "at_fuhyo_municipality": True, "content_doubt": False}
REQUEST_OK: dict[str, Any] = {
    "in_person": True, "identity_checked": True, "requester_exists": True, "form_presented": True
}


def card(**changes: Any) -> dict[str, Any]:
    """A valid card that passes the PIN check; ``None`` values drop the key."""
    facts: dict[str, Any] = {
        "expiry": "2030-01-31", "operation_status": "in_operation", "face_auth": False,
        "operator_authenticated": True, "pin_result": "verified",
    }
    facts.update(changes)
    return {k: v for k, v in facts.items() if v is not None}


def face_auth_card(declaration: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A face-auth card whose chip matches its face, with an optional declaration."""
    base: dict[str, Any] = {"face_auth": True, "pin_result": None,
                            "operator_authenticated": None, "chip_face_match": True,
                            "declaration": declaration}
    return card(**{**base, **changes})


def my_number_card(**changes: Any) -> dict[str, Any]:
    """A presented My Number Card whose contents match."""
    return {"kind": "my_number_card", "contents_match": True, "card": card(**changes)}


def with_card(card_facts: dict[str, Any]) -> dict[str, Any]:
    """A presented My Number Card with the given card facts."""
    return {"kind": "my_number_card", "contents_match": True, "card": card_facts}


PASSPORT: dict[str, Any] = {"kind": "passport", "contents_match": True}


def proxy(**changes: Any) -> dict[str, Any]:
    """An ordinary proxy with a signed 委任状, a concealed reply form and a valid card."""
    facts: dict[str, Any] = {
        "power_of_attorney": {"present": True, "signed_or_sealed": True},
        "with_move_notice": False,
        "reply_form": {"present": True, "pin_concealment": "sticker"},
        "id": my_number_card(),
    }
    facts.update(changes)
    return {k: v for k, v in facts.items() if v is not None}


def legal_rep(**changes: Any) -> dict[str, Any]:
    """A statutory legal representative with a 戸籍謄本 and an unconcealed PIN document."""
    facts: dict[str, Any] = {
        "legal_rep_kind": "statutory", "legal_rep_proof": ["family_register_copy"],
        "pin_document": {"present": True, "concealed": False}, "id": my_number_card(),
        "with_move_notice": False,
    }
    facts.update(changes)
    return {k: v for k, v in facts.items() if v is not None}


OMISSION: dict[str, Any] = {
    "honseki_in_jurisdiction": True, "municipality_confirmed": True, "mayor_decided": True
}


def e_record(**changes: Any) -> dict[str, Any]:
    """A transmitted e-record meeting every 改正後 condition."""
    record: dict[str, Any] = {
        "source": "my_number_card", "fields": ["name", "address", "photo"],
        "certified_program": True, "sender_verified": True,
    }
    record.update(changes)
    return {"kind": "e_record", "channel": "transmitted", "contents_match": True,
            "e_record": record}


def run(
    pid: str, actor: str, on: date, facts: dict[str, Any], **policies: Any
) -> Evaluation:
    """Evaluate case-file facts with optional policy overrides."""
    return evaluate(
        pid, Actor(actor), on, facts_from(facts), policies=Policies().with_overrides(policies)
    )


def side_by_side(
    pid: str, actor: str, facts: dict[str, Any], **policies: Any
) -> tuple[Evaluation, Evaluation]:
    """The same facts under 現行 and under 改正後."""
    return run(pid, actor, OLD, facts, **policies), run(pid, actor, NEW, facts, **policies)


def outcome(ev: Evaluation) -> tuple[str, str]:
    """(decision, key of the deciding/last finding)."""
    assert ev.decision is not None, f"pending at {ev.pending}"
    return ev.decision.value, ev.findings[-1].key


def keys(ev: Evaluation) -> list[str]:
    """Keys of every finding, in order."""
    return [f.key for f in ev.findings]


def cited(ev: Evaluation, key: str) -> str:
    """The citation of the finding ``key``."""
    for finding in ev.findings:
        if finding.key == key:
            return finding.citation
    raise AssertionError(f"{key} not in {keys(ev)}")
