"""The office console's storage on SQLite and PostgreSQL: the report the database
aggregates equals the Python report, sign-in gives no oracle, lock-out, one-time TOTP
codes, sessions, the audit log, the transaction filter."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyotp
import pytest

from device.records import CertificateAction, Decision, Reason, TransactionRecord
from madoguchi.bench.console import enrol_counter, ingest_counter, office_codes, sample_records
from madoguchi.errors import ConfigError
from sync.server.authz import Role
from sync.server.console import accounts
from sync.server.console.serve import open_console_store
from sync.server.console.store import (
    LOCK_AFTER,
    SESSION_IDLE,
    ConsoleStore,
    TransactionFilter,
)
from sync.server.report import daily_report, report_csv_ja
from sync.server.repository import SqlRepository, open_repository

PASSWORD = "correct horse battery"


@pytest.fixture
def repo(db_url: str) -> SqlRepository:
    repository = open_repository(db_url)
    repository.migrate()
    yield repository
    repository.close()


@pytest.fixture
def store(db_url: str, repo: SqlRepository) -> ConsoleStore:
    console = open_console_store(db_url)
    yield console
    console.close()


def _odd_record(
    office: str, index: int, fee: int, certs: tuple[tuple[str, str], ...]
) -> TransactionRecord:
    return TransactionRecord(
        transaction_id=f"00000000-0000-4000-8000-{index:012d}",
        procedure="2-1-1",
        actor="self",
        decision=Decision.CONTINUE,
        reasons=(Reason("第2-1-(1)-ア-(イ)-B", "確認"),),
        rule_version="改正後",
        operator_id="op-9",
        started_at="2026-11-03T10:00:00+09:00",
        completed_at="2026-11-03T10:05:00+09:00",
        office_code=office,
        certificates=tuple(
            CertificateAction(kind, action, f"odd-{office}-{index}-{n}")
            for n, (kind, action) in enumerate(certs)
        ),
        fee_collected_yen=fee,
        fee_payable_jlis_yen=fee // 2,
    )


def test_the_report_in_sql_equals_the_python_report(
    repo: SqlRepository, store: ConsoleStore
) -> None:
    offices = office_codes(3)
    for n, office in enumerate(offices):
        enrol_counter(repo, f"c{n}", office)
        ingest_counter(repo, f"c{n}", sample_records(office, date(2026, 11, 1), 4, 9, start=n))
    # Fees that do not split evenly over three certificates or two, a fee with none.
    odd = [
        _odd_record(
            offices[0], 1, 301, (("sign", "issued"), ("auth", "issued"), ("auth", "renewed"))
        ),
        _odd_record(offices[0], 2, 7, ()),
        _odd_record(offices[0], 3, 5, (("auth", "issued"), ("sign", "revoked"))),
        # A negative fee (a refund) splits as Python's divmod does; a revocation's fee
        # has no issued certificate to go with.
        _odd_record(
            offices[0], 4, -7, (("sign", "issued"), ("auth", "renewed"), ("sign", "renewed"))
        ),
        _odd_record(offices[0], 5, 200, (("sign", "revoked"),)),
    ]
    enrol_counter(repo, "odd", offices[0])
    ingest_counter(repo, "odd", iter(odd))
    rows = store.report("2026-11-01", "2026-11-04", offices)
    expected = []
    for day in ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"):
        expected += daily_report(day, repo.records_for_day(day, None))

    def key(r: object) -> tuple[str, str, str]:
        return (r.office_code, r.date, r.certificate_type)  # type: ignore[attr-defined]

    assert rows == sorted(expected, key=key)  # in code point order, whatever the collation
    assert {r.certificate_type for r in rows} == {"sign", "auth", "none"}
    # Only the offices asked for.
    assert {r.office_code for r in store.report("2026-11-01", "2026-11-04", offices[1:2])} == {
        offices[1]
    }
    # A day that gets more records reports them at once (nothing cached).
    assert store.report("2026-11-01", "2026-11-04", offices) == rows
    enrol_counter(repo, "late", offices[2])
    ingest_counter(repo, "late", sample_records(offices[2], date(2026, 11, 2), 1, 5, start=7))
    again = store.report("2026-11-01", "2026-11-04", offices)
    assert again != rows
    expected = []
    for day in ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"):
        expected += daily_report(day, repo.records_for_day(day, None))
    assert sorted(again, key=key) == sorted(expected, key=key)
    data = report_csv_ja(rows, {offices[0]: "本庁舎"})
    assert data.startswith("\ufeff庁舎コード,庁舎名,日付".encode())
    assert "署名用電子証明書".encode() in data


def test_sign_in_answers_the_same_for_every_failure(store: ConsoleStore) -> None:
    added = store.add_staff("tanaka", "田中", Role.STAFF, PASSWORD, ["131016"], actor="t")
    totp = pyotp.TOTP(added.totp_secret)
    now = 1_800_000_000.0
    assert store.sign_in("nobody", PASSWORD, totp.at(now), now) is None
    assert store.sign_in("tanaka", "wrong password!", totp.at(now), now) is None
    assert (
        store.sign_in("tanaka", PASSWORD, "000000" if totp.at(now) != "000000" else "111111", now)
        is None
    )
    staff = store.sign_in("tanaka", PASSWORD, totp.at(now), now)
    assert staff is not None
    assert staff.role is Role.STAFF
    assert staff.offices == ("131016",)
    # The same code never works twice (a code seen over a shoulder).
    assert store.sign_in("tanaka", PASSWORD, totp.at(now), now + 5) is None
    assert store.sign_in("tanaka", PASSWORD, totp.at(now + 30), now + 30) is not None
    actions = [(r.action, r.detail) for r in store.audit(None)]
    assert ("sign_in_failed", "unknown_account") in actions
    assert ("sign_in_failed", "wrong_password") in actions
    assert ("sign_in_failed", "wrong_code") in actions
    assert ("signed_in", "") in actions
    # The typed id of an unknown account is not kept (it may be a password typed early).
    assert not any("nobody" in r.detail or "nobody" in r.actor for r in store.audit(None))


def test_lock_out_after_repeated_failures_then_unlock(store: ConsoleStore) -> None:
    added = store.add_staff("suzuki", "鈴木", Role.ADMINISTRATOR, PASSWORD, ["131016"], actor="t")
    totp = pyotp.TOTP(added.totp_secret)
    now = 1_800_000_000.0
    for _ in range(LOCK_AFTER):
        assert store.sign_in("suzuki", "not the password", totp.at(now), now) is None
    locked = store.staff("suzuki")
    assert locked is not None
    assert locked.locked
    # Locked: even the right password and code are refused, with the same answer.
    assert store.sign_in("suzuki", PASSWORD, totp.at(now), now) is None
    store.unlock("suzuki", actor="staff:it")
    assert store.sign_in("suzuki", PASSWORD, totp.at(now + 60), now + 60) is not None
    assert [r.action for r in store.audit(["131016"])][:1] == ["unlocked"]


def test_sessions_are_server_side_and_expire(store: ConsoleStore) -> None:
    store.add_staff("sato", "佐藤", Role.IT, PASSWORD, [], actor="t")
    now = 1_800_000_000.0
    token, csrf = store.open_session("sato", now)
    session = store.session(token, now + 10)
    assert session is not None
    assert session.csrf == csrf
    assert store.session("forged" + token, now) is None
    assert store.session(token, now + 10 + SESSION_IDLE + 1) is None  # idle too long
    token, _ = store.open_session("sato", now)
    store.close_session(token, "sato")
    assert store.session(token, now + 1) is None


def test_accounts_refuse_bad_input(store: ConsoleStore) -> None:
    with pytest.raises(ConfigError, match="12"):
        store.add_staff("ito", "伊藤", Role.STAFF, "short", ["131016"], actor="t")
    with pytest.raises(ConfigError, match="office"):
        store.add_staff("ito", "伊藤", Role.STAFF, PASSWORD, [], actor="t")
    with pytest.raises(ConfigError, match="staff, administrator or IT"):
        store.add_staff("ito", "伊藤", Role.COUNTER, PASSWORD, ["131016"], actor="t")
    store.add_staff("ito", "伊藤", Role.STAFF, PASSWORD, ["131016"], actor="t")
    with pytest.raises(ConfigError, match="already"):
        store.add_staff("ito", "伊藤", Role.STAFF, PASSWORD, ["131016"], actor="t")


def test_the_transaction_filter_and_no_personal_data(
    repo: SqlRepository, store: ConsoleStore
) -> None:
    offices = office_codes(2)
    for n, office in enumerate(offices):
        enrol_counter(repo, f"c{n}", office)
        ingest_counter(repo, f"c{n}", sample_records(office, date(2026, 11, 1), 3, 16))
    every = TransactionFilter("2026-11-01", "2026-11-03", tuple(offices))
    first_page = store.transactions(every, 0, 50)
    assert len(first_page) == 50
    assert len(store.transactions(every, 50, 50)) == 96 - 50
    abandoned = store.transactions(
        TransactionFilter("2026-11-01", "2026-11-03", (offices[1],), decision="abandoned"), 0, 100
    )
    assert abandoned
    assert all(r.decision == "abandoned" and r.abandonment for r in abandoned)
    assert {r.office_code for r in abandoned} == {offices[1]}
    by_operator = store.transactions(
        TransactionFilter(
            "2026-11-02", "2026-11-02", tuple(offices), operator="op-1", procedure="2-1-1"
        ),
        0,
        100,
    )
    assert by_operator
    assert all(r.operator == "op-1" and r.procedure == "2-1-1" for r in by_operator)
    assert all(r.business_date == "2026-11-02" for r in by_operator)
    assert first_page[0].citations == ("第2-1-(1)-ア-(イ)-B",)
    # What leaves the database for the page holds no personal data by construction.
    assert accounts.token_digest("x") != "x"
    text = json.dumps([r.__repr__() for r in first_page], ensure_ascii=False)
    assert "serial" not in text


def test_passwords_are_hashed_with_scrypt(tmp_path: Path) -> None:
    stored = accounts.hash_password(PASSWORD)
    assert stored.startswith("scrypt$16384$8$1$")
    assert PASSWORD not in stored
    assert accounts.check_password(PASSWORD, stored)
    assert not accounts.check_password(PASSWORD + "x", stored)
    assert not accounts.check_password(PASSWORD, "garbage")


def test_the_fleet_counts_what_the_chain_report_finds(
    repo: SqlRepository, store: ConsoleStore
) -> None:
    from datetime import UTC, datetime

    from device.store import GENESIS_HASH, record_hash
    from sync.protocol import parse_item
    from sync.server.app import chain_report

    office = office_codes(1)[0]
    enrol_counter(repo, "whole", office)
    ingest_counter(repo, "whole", sample_records(office, date(2026, 11, 1), 2, 3))
    enrol_counter(repo, "gapped", office)
    prev, items = GENESIS_HASH, []
    for seq, record in enumerate(sample_records(office, date(2026, 11, 2), 1, 6, start=5), 1):
        payload = json.loads(json.dumps(record.to_payload()))
        digest = record_hash(seq, prev, payload)
        if seq not in (2, 3):
            items.append(parse_item({"seq": seq, "transaction_id": payload["transaction_id"],
                                     "prev_hash": prev, "hash": digest, "payload": payload}))
        prev = digest
    repo.ingest("gapped", items, received_at=datetime.now(UTC))
    fleet = {c.device_id: c for c in store.fleet([office])}
    assert set(fleet) == {"whole", "gapped"}
    assert store.fleet(["999999"]) == []
    for device_id, row in fleet.items():
        info = repo.device(device_id)
        assert info is not None
        report = chain_report(info, repo.chain(device_id), repo.rejections(device_id))
        assert row.records == report.records
        assert row.high_water == report.high_water
        assert row.gaps == sum(b - a + 1 for a, b in report.gaps)
        assert row.breaks == len(report.breaks)
        assert row.rejected == len(report.rejected)
        assert row.status == "active"
        assert row.last_received_at
    assert fleet["whole"].chain_ok
    gapped = fleet["gapped"]
    assert (gapped.gaps, gapped.waiting, gapped.chain_ok) == (2, 3, False)


def test_payments_are_kept_per_office_and_month_and_audited(store: ConsoleStore) -> None:
    first = store.add_payment("131016", "2026-11", 17_450, "2026-12-03", "11月分", actor="t")
    second = store.add_payment("131016", "2026-11", 100, "2026-12-04", "", actor="t")
    store.add_payment("271004", "2026-11", 5, "2026-12-04", "", actor="t")
    store.add_payment("131016", "2026-10", 7, "2026-11-04", "", actor="t")
    assert second > first
    paid = store.payments(["131016"], "2026-11")
    assert [(p.amount_yen, p.note) for p in paid] == [(17_450, "11月分"), (100, "")]
    assert [p.amount_yen for p in store.payments(["131016", "271004"], "2026-11")] == [
        17_450, 100, 5,
    ]
    assert store.payments([], "2026-11") == []
    for bad in (
        ("2026-13", 5, "2026-12-01", ""),
        ("2026-11", 0, "2026-12-01", ""),
        ("2026-11", -5, "2026-12-01", ""),
        ("2026-11", 10**10, "2026-12-01", ""),
        ("2026-11", 5, "12/01/2026", ""),
        ("2026-11", 5, "2026-12-01", "x" * 201),
    ):
        with pytest.raises(ConfigError):
            store.add_payment("131016", *bad, actor="t")
    assert len(store.payments(["131016"], "2026-11")) == 2
    recorded = [r for r in store.audit(["131016"]) if r.action == "payment_recorded"]
    assert [r.detail for r in recorded][:2] == ["2026-10 ¥7 2026-11-04", "2026-11 ¥100 2026-12-04"]


def test_a_correction_is_a_new_entry_naming_the_payment_and_audited(
    store: ConsoleStore,
) -> None:
    wrong = store.add_payment("131016", "2026-11", 17_450, "2026-12-03", "", actor="t")
    other = store.add_payment("271004", "2026-11", 500, "2026-12-03", "", actor="t")
    fix = store.correct_payment(wrong, 17_045, "2026-12-03", "桁の入力誤り", actor="staff:k")
    assert (fix.corrects_id, fix.amount_yen, fix.note) == (wrong, -405, "桁の入力誤り")
    # The original is as it was; the month's sum follows the correction.
    entries = store.payments(["131016"], "2026-11")
    assert [(p.id, p.amount_yen, p.corrects_id) for p in entries] == [
        (wrong, 17_450, None),
        (fix.id, -405, wrong),
    ]
    assert sum(p.amount_yen for p in entries) == 17_045
    # A second correction counts from the first: never paid at all.
    again = store.correct_payment(wrong, 0, "2026-12-03", "二重に記録", actor="staff:k")
    assert again.amount_yen == -17_045
    assert sum(p.amount_yen for p in store.payments(["131016"], "2026-11")) == 0
    for bad in (
        (wrong, 0, "2026-12-03", "no change"),  # already counts for 0
        (wrong, 5, "2026-12-03", ""),  # no reason
        (wrong, 5, "2026-12-03", "x" * 201),
        (wrong, -1, "2026-12-03", "negative"),
        (wrong, 5, "3 December", "bad date"),
        (fix.id, 5, "2026-12-03", "a correction of a correction"),
        (999_999, 5, "2026-12-03", "none such"),
    ):
        with pytest.raises(ConfigError):
            store.correct_payment(*bad, actor="staff:k")
    assert len(store.payments(["131016"], "2026-11")) == 3
    assert store.payment(other) is not None
    corrected = [r for r in store.audit(["131016"]) if r.action == "payment_corrected"]
    assert [r.detail for r in reversed(corrected)] == [
        f"2026-11 #{wrong} ¥17,450 → ¥17,045 2026-12-03 (桁の入力誤り)",
        f"2026-11 #{wrong} ¥17,045 → ¥0 2026-12-03 (二重に記録)",
    ]
    assert all(r.actor == "staff:k" for r in corrected)


def test_the_register_counts_paid_and_free_certificates_per_day_and_type(
    repo: SqlRepository, store: ConsoleStore
) -> None:
    office = "131016"
    enrol_counter(repo, "c0", office)
    records = [
        # paid, two certificates (the fee's share of 1 yen goes to one type only)
        _odd_record(office, 1, 1, (("sign", "issued"), ("auth", "issued"))),
        _odd_record(office, 2, 0, (("auth", "renewed"),)),  # free
        _odd_record(office, 3, 200, (("auth", "revoked"),)),  # no certificate handed over
        _odd_record(office, 4, 300, ()),  # a fee, no certificate
    ]
    ingest_counter(repo, "c0", iter(records))
    rows = store.register("2026-11-01", "2026-11-30", [office])
    got = [(r.date, r.certificate_type, r.delivered, r.paid, r.free) for r in rows]
    assert got == [("2026-11-03", "auth", 2, 1, 1), ("2026-11-03", "sign", 1, 1, 0)]
    assert store.register("2026-11-01", "2026-11-30", ["271004"]) == []
    assert store.register("2026-12-01", "2026-12-31", [office]) == []
