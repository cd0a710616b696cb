"""Logs: journald priorities and structured fields over the native protocol, against a
real systemd-journald (a namespace of the test's own); the screen's rotated file outside
systemd."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from madoguchi import logs
from tests.support.journald import Journal


@pytest.fixture
def handler(journald: Journal) -> Iterator[logs.JournalHandler]:
    handler = logs.JournalHandler("sync", path=journald.socket)
    logger = logging.getLogger("madoguchi.test.journal")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_each_level_has_its_journald_priority(
    journald: Journal, handler: logs.JournalHandler
) -> None:
    logger = logging.getLogger("madoguchi.test.journal")
    for level in ("debug", "info", "warning", "error", "critical"):
        getattr(logger, level)("a %s record", level)
    entries = journald.entries("MADOGUCHI_COMPONENT=sync", want=5)
    got = {e["MESSAGE"]: e["PRIORITY"] for e in entries}
    assert got == {
        "a debug record": "7", "a info record": "6", "a warning record": "4",
        "a error record": "3", "a critical record": "2",
    }
    entry = entries[0]
    assert entry["SYSLOG_IDENTIFIER"] == "madoguchi-sync"
    assert entry["LOGGER"] == "madoguchi.test.journal"
    assert entry["CODE_FILE"] == __file__
    assert entry["CODE_FUNC"] == "test_each_level_has_its_journald_priority"
    # journalctl -p warning finds what IT must look at, and nothing less
    warned = journald.entries("MADOGUCHI_COMPONENT=sync", "-p", "warning", want=3)
    assert sorted(e["PRIORITY"] for e in warned) == ["2", "3", "4"]


def test_device_and_transaction_ids_are_fields(
    journald: Journal, handler: logs.JournalHandler
) -> None:
    logger = logging.getLogger("madoguchi.test.journal")
    with logs.log_fields(device_id="counter-01"):
        logger.warning("upload failed")
        logger.error("record quarantined", extra={"transaction_id": "tx-42"})
        with logs.log_fields(transaction_id="tx-43"):
            logger.info("recorded")
    logger.info("outside")
    by_message = {
        e["MESSAGE"]: e for e in journald.entries("MADOGUCHI_COMPONENT=sync", want=4)
    }
    assert by_message["upload failed"]["MADOGUCHI_DEVICE_ID"] == "counter-01"
    assert "MADOGUCHI_TRANSACTION_ID" not in by_message["upload failed"]
    assert by_message["record quarantined"]["MADOGUCHI_TRANSACTION_ID"] == "tx-42"
    assert by_message["recorded"]["MADOGUCHI_TRANSACTION_ID"] == "tx-43"
    assert "MADOGUCHI_DEVICE_ID" not in by_message["outside"]
    found = journald.entries("MADOGUCHI_TRANSACTION_ID=tx-42")
    assert [e["MESSAGE"] for e in found] == ["record quarantined"]
    with pytest.raises(ValueError, match="unknown log field"), logs.log_fields(pin="1234"):
        pass


def test_multi_line_and_oversized_records_arrive_whole(
    journald: Journal, handler: logs.JournalHandler
) -> None:
    logger = logging.getLogger("madoguchi.test.journal")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed\nsecond line")
    big = "x" * (300 * 1024)  # more than one datagram: sent as a sealed memfd
    logger.warning("big %s", big)
    entries = journald.entries("MADOGUCHI_COMPONENT=sync", want=2)
    messages = [e["MESSAGE"] for e in entries]
    assert messages[0].startswith("failed\nsecond line\nTraceback")
    assert "RuntimeError: boom" in messages[0]
    assert messages[1] == f"big {big}"


def test_a_daemon_whose_stderr_is_the_journal_logs_natively(
    journald: Journal, tmp_path: Path
) -> None:
    # systemd sets $JOURNAL_STREAM to the device and inode of the stream it gives as stderr;
    # a file stands in for it here, so the check (not the variable alone) decides.
    stderr = tmp_path / "stderr"
    code = (
        "import logging, sys\n"
        "from madoguchi.logs import setup_logging\n"
        "setup_logging('server', level=logging.INFO)\n"
        "logging.getLogger('sync.server').warning('the database is behind')\n"
    )
    with stderr.open("w") as err:
        st = os.fstat(err.fileno())
        env = {**os.environ, "MADOGUCHI_JOURNAL_SOCKET": str(journald.socket),
               "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        subprocess.run([sys.executable, "-c", code], stderr=err, env=env, check=True,
                       timeout=60)
    entry, = journald.entries("MADOGUCHI_COMPONENT=server")
    assert (entry["MESSAGE"], entry["PRIORITY"]) == ("the database is behind", "4")
    assert entry["SYSLOG_IDENTIFIER"] == "madoguchi-server"
    assert stderr.read_text() == ""
    # the same process started from a shell (stderr not the journal) writes to stderr
    env = {**os.environ, "MADOGUCHI_JOURNAL_SOCKET": str(journald.socket),
           "JOURNAL_STREAM": "1:1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, check=True, timeout=60)
    assert result.stderr == "WARNING sync.server: the database is behind\n"


def test_the_screen_logs_to_the_journal_under_its_unit_else_to_a_rotated_file(
    journald: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        monkeypatch.setenv("MADOGUCHI_JOURNAL_SOCKET", str(journald.socket))
        monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
        assert logs.log_to_file_or_journal(tmp_path / "counter.log") is None
        logging.getLogger("tui.app").info("operator clerk1 signed in")
        entry, = journald.entries("MADOGUCHI_COMPONENT=tui")
        assert (entry["MESSAGE"], entry["PRIORITY"]) == ("operator clerk1 signed in", "6")
        assert entry["SYSLOG_IDENTIFIER"] == "madoguchi-tui"
        assert not (tmp_path / "counter.log").exists()

        monkeypatch.delenv("INVOCATION_ID")
        path = tmp_path / "counter.log"
        assert logs.log_to_file_or_journal(path) == path
        line = "operator clerk1 signed in " + "." * 1000
        for _ in range(logs.ROTATE_BYTES // 1000 * (logs.ROTATE_KEEP + 2)):
            logging.getLogger("tui.app").info(line)
        kept = sorted(p.name for p in tmp_path.glob("counter.log*"))
        rotated = [f"counter.log.{n}" for n in range(1, logs.ROTATE_KEEP + 1)]
        assert kept == ["counter.log", *rotated]
        assert all(p.stat().st_size <= logs.ROTATE_BYTES for p in tmp_path.glob("counter.log*"))
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
