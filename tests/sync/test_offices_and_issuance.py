"""The office a record is counted under, and the simulated issuing authority seen from
the device (``sync.issuing``), over real HTTPS with mutual TLS on both databases."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from device.procedures import Kind, evaluate_case, load_case
from device.procedures.certificates import CardCertificates, certificate_actions
from device.records import Decision
from device.store import GENESIS_HASH, record_hash
from sync.errors import IssuingAuthorityError
from sync.issuing import SimulatedIssuingAuthority
from sync.localserver import LocalServer
from tests.sync.conftest import ServerProcess
from tests.sync.sync_support import make_record


def _post(server: ServerProcess, tls: Path, office: str, seq: int = 1) -> dict[str, object]:
    record = dataclasses.replace(make_record(seq), office_code=office)
    payload = record.to_payload()
    item = {
        "seq": seq,
        "transaction_id": record.transaction_id,
        "prev_hash": GENESIS_HASH,
        "hash": record_hash(seq, GENESIS_HASH, payload),
        "payload": payload,
    }
    with server.client(tls) as http:
        result: dict[str, object] = http.post("/v1/batches", json={"records": [item]}).json()[
            "results"
        ][0]
    return result


def _report_offices(server: ServerProcess, tls: Path) -> set[str]:
    with server.client(tls) as http:
        rows = http.get("/v1/reports/daily", params={"date": "2026-11-25"}).json()["rows"]
    return {row["office_code"] for row in rows}


def test_a_record_without_an_office_is_counted_under_the_enrolled_office(
    server: ServerProcess, device_tls: Path
) -> None:
    assert _post(server, device_tls, "")["status"] == "accepted"
    assert _report_offices(server, device_tls) == {"131016"}
    with server.client(device_tls) as http:
        csv_text = http.get(
            "/v1/reports/daily", params={"date": "2026-11-25", "office": "131016", "format": "csv"}
        ).text
    assert csv_text.count("\n131016,2026-11-25,") == 2  # sign and auth rows


def test_a_record_naming_another_office_is_refused_with_the_reason(
    server: ServerProcess, device_tls: Path
) -> None:
    result = _post(server, device_tls, "271004")
    assert result["status"] == "rejected"
    assert "'271004' is not the office this device was enrolled for ('131016')" in str(
        result["error"]
    )
    assert _report_offices(server, device_tls) == set()
    with server.client(device_tls) as http:
        device_id = http.get("/v1/devices/me").json()["device_id"]
        chain = http.get(f"/v1/devices/{device_id}/chain").json()
    assert [r["seq"] for r in chain["rejected"]] == [1]
    # The same record under the right office goes through.
    assert _post(server, device_tls, "131016")["status"] == "accepted"


def test_the_device_gets_serials_from_the_simulated_issuing_authority(
    server: ServerProcess, device_tls: Path
) -> None:
    authority = SimulatedIssuingAuthority(server.url, device_tls)
    serials = {kind: authority.issue(kind) for kind in ("sign", "auth")}
    assert serials["sign"] != serials["auth"]
    with server.client(device_tls) as http:
        for kind, serial in serials.items():
            doc = http.get(f"/v1/certificates/{serial}/status").json()
            assert (doc["kind"], doc["status"], doc["label"]) == (kind, "valid", "有効")
        assert http.get("/v1/certificates/nope/status").json()["detail"] == (
            "certificate unknown to the registry"
        )


def test_an_unreachable_or_disabled_issuing_authority_is_a_clear_error(
    server: ServerProcess, device_tls: Path, server_pki: Path, tmp_path: Path
) -> None:
    with pytest.raises(IssuingAuthorityError, match="cannot connect"):
        SimulatedIssuingAuthority("https://127.0.0.1:9", device_tls, timeout_s=2).issue("sign")
    with pytest.raises(IssuingAuthorityError, match="unknown certificate kind"):
        SimulatedIssuingAuthority(server.url, device_tls).issue("stamp")
    plain = LocalServer(str(tmp_path / "plain.sqlite3"), server_pki, simulate=False)
    plain.start()
    try:
        tls = tmp_path / "plain-tls"
        plain.enrol(tls)
        with pytest.raises(IssuingAuthorityError, match="not enabled"):
            SimulatedIssuingAuthority(plain.url, tls).issue("auth")
    finally:
        plain.stop()


CASES = Path(__file__).resolve().parents[2] / "docs" / "cases"


@pytest.mark.parametrize("name", sorted(p.name for p in CASES.glob("*.json")))
def test_the_engine_decides_which_certificates_a_record_carries(name: str) -> None:
    """Every documented case: issuance issues each kind applied for (renewed where the card
    holds one), revocation revokes the card's, anything else touches none."""
    evaluation = evaluate_case(load_case(CASES / name))
    card = CardCertificates(sign=True, auth=False, auth_serial="")
    made: list[str] = []

    def issue(kind: str) -> str:
        made.append(kind)
        return f"{kind.upper()}-{len(made)}"

    actions = certificate_actions(evaluation, card, issue, {})
    kind = evaluation.info.kind
    if evaluation.decision is Decision.CONTINUE and kind is Kind.ISSUANCE:
        assert sorted(a.kind for a in actions) == sorted(made) == ["auth", "sign"]
        assert {(a.kind, a.action) for a in actions} == {("sign", "renewed"), ("auth", "issued")}
    elif evaluation.decision is Decision.CONTINUE and kind is Kind.REVOCATION:
        assert [(a.kind, a.action, a.serial) for a in actions] == [("sign", "revoked", "")]
        assert made == []
    else:
        assert actions == ()
        assert made == []


def test_a_retry_after_the_authority_went_away_never_issues_twice(
    server: ServerProcess, device_tls: Path
) -> None:
    evaluation = evaluate_case(load_case(CASES / "2-1-1-continue-pin.json"))
    card = CardCertificates(sign=False, auth=False)
    authority = SimulatedIssuingAuthority(server.url, device_tls, timeout_s=5)
    calls: list[str] = []

    def issue_then_fail(kind: str) -> str:
        calls.append(kind)
        serial = authority.issue(kind)
        server.stop()  # the authority goes away after the first certificate
        return serial

    issued: dict[str, str] = {}
    with pytest.raises(IssuingAuthorityError, match="cannot connect"):
        certificate_actions(evaluation, card, issue_then_fail, issued)
    assert list(issued) == ["auth"]
    first = issued["auth"]
    server.start()  # same port, same database
    actions = certificate_actions(evaluation, card, authority.issue, issued)
    assert calls == ["auth", "sign"]
    assert {(a.kind, a.action) for a in actions} == {("auth", "issued"), ("sign", "issued")}
    assert dict((a.kind, a.serial) for a in actions)["auth"] == first
