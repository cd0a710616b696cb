"""The audit's own instrument: the scanner finds each secret in every form and every place the
end-to-end tests look (a scanner that finds nothing would make every audit test pass)."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from pathlib import Path

import pytest

from drivers.simcard.facts import facts_for
from tests.audit.conftest import Capture
from tests.audit.leaks import Secrets, exception_text, haystacks_of_dir

FACTS = facts_for("standard", 0, today=dt.date(2026, 6, 1))
B = FACTS.verification_code_b


@pytest.mark.parametrize(
    "text",
    [
        B,
        B.encode().hex(),
        B.encode().hex().upper(),
        B.encode().hex(" ").upper(),  # 36 30 30 34 … as APDU dumps print it
        repr(list(B.encode())),  # [54, 48, …] from list(bytearray)
        repr(bytearray(B.encode())),
    ],
)
def test_every_form_of_a_secret_is_found(text: str) -> None:
    secrets = Secrets.of_card(FACTS)
    assert secrets.leaks([("sample", f"VERIFY 00 20 00 80 {text} -> 9000")]) == [
        f"照合番号B ({form}) in sample"
        for form in ("ascii", "hex", "spaced hex", "int list")
        if form == _form_of(text)
    ]


def _form_of(text: str) -> str:
    if text == B or text.startswith("bytearray"):
        return "ascii"
    if text.startswith("["):
        return "int list"
    return "spaced hex" if " " in text else "hex"


def test_a_lower_cased_password_is_found() -> None:
    assert FACTS.sign_password is not None
    leaks = Secrets.of_card(FACTS).leaks([("log", FACTS.sign_password.lower())])
    assert leaks == ["PIN jpki_sign (ascii) in log"]


def test_clean_text_is_clean_and_an_empty_scan_is_refused() -> None:
    secrets = Secrets.of_card(FACTS)
    secrets.assert_clean([("log", "00 20 00 80 +4B -> 2 B in 0.123 ms")])
    with pytest.raises(AssertionError, match="nothing was captured"):
        secrets.assert_clean([])


def test_a_secret_in_a_sqlite_wal_file_is_found(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "store.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (v TEXT)")
    db.execute("INSERT INTO t VALUES (?)", [f"note {FACTS.my_number}"])
    db.commit()
    try:
        leaks = Secrets.of_card(FACTS).leaks(haystacks_of_dir(tmp_path))
        assert "My Number (ascii) in file store.sqlite3-wal" in leaks
    finally:
        db.close()


def test_a_secret_in_any_logger_or_exception_chain_is_found(capture: Capture) -> None:
    # A library logger that does not propagate still reaches the tap.
    quiet = logging.getLogger("audit.selftest.quiet")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    capture.tap.remove()
    capture.tap.install()
    quiet.debug("card answered %r", [b for b in FACTS.my_number.encode()])
    try:
        try:
            raise KeyError(B)
        except KeyError as inner:
            raise ValueError("VERIFY failed") from inner
    except ValueError as outer:
        chain = exception_text(outer)
    leaks = Secrets.of_card(FACTS).leaks([*capture.tap.haystacks(), ("exception", chain)])
    assert any(leak.startswith("My Number (int list) in log record") for leak in leaks)
    assert "照合番号B (ascii) in exception" in leaks
