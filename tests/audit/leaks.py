"""The leak scanner of the security audit: what counts as a secret and where to look for it.

A :class:`Secrets` set holds the values that must never leave the card session: the PINs of
the virtual card, its 照合番号B, its individual number (My Number) and the digest the card
keeps of it (SHA-256 of a 12-digit number is brute-forced in hours, so it is the number),
plus any wrong or new PINs a test types. Each value is searched as ASCII, as hex of its
ASCII bytes (plain and space-separated, how APDU dumps look), and as the decimal list a
``list(bytearray)`` prints. Matching ignores case.

:class:`LogTap` captures every log record of every logger, third-party ones included, at
DEBUG; :func:`haystacks_of_dir` reads every file under a directory byte for byte (SQLite
databases with their ``-wal``/``-shm`` files).
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from drivers.simcard import CardFacts


def _forms(label: str, value: str) -> Iterator[tuple[str, bytes]]:
    raw = value.encode("utf-8")
    yield f"{label} (ascii)", raw
    yield f"{label} (hex)", raw.hex().encode()
    yield f"{label} (spaced hex)", raw.hex(" ").encode()
    yield f"{label} (int list)", ", ".join(str(b) for b in raw).encode()


@dataclass
class Secrets:
    """Named secret values; :meth:`needles` expands them into every searched form."""

    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_card(cls, facts: CardFacts) -> Secrets:
        """The PINs, 照合番号B and My Number of a virtual card (unset PINs are skipped)."""
        secrets = cls()
        for name, pin in facts.pins.items():
            if pin is not None:
                secrets.add(f"PIN {name}", pin)
        secrets.add("照合番号B", facts.verification_code_b)
        secrets.add("My Number", facts.my_number)
        # The card's 入力補助 EF 0001 as the integrity record digests it (drivers.simcard
        # layout): a leaked digest gives the number back by brute force.
        file_0001 = b"\xff\x10\x0c" + facts.my_number.encode("ascii") + b"\xff\xff"
        secrets.values["My Number digest"] = hashlib.sha256(file_0001).hexdigest()
        return secrets

    def add(self, name: str, value: str) -> None:
        """Add one more secret (a wrong PIN typed, a new PIN set)."""
        self.values[name] = value

    def needles(self) -> list[tuple[str, bytes]]:
        """(description, lower-cased byte pattern) for every form of every secret."""
        found: list[tuple[str, bytes]] = []
        for name, value in self.values.items():
            if name == "My Number digest":
                found.append((name, value.encode()))
                continue
            found.extend(_forms(name, value))
        return [(label, needle.lower()) for label, needle in found]

    def leaks(self, haystacks: Iterable[tuple[str, str | bytes]]) -> list[str]:
        """``"<secret form> in <where>"`` for every secret found in any haystack."""
        needles = self.needles()
        found: list[str] = []
        for where, hay in haystacks:
            data = (hay.encode("utf-8", "surrogatepass") if isinstance(hay, str) else hay).lower()
            found.extend(f"{label} in {where}" for label, needle in needles if needle in data)
        return found

    def assert_clean(self, haystacks: Iterable[tuple[str, str | bytes]]) -> None:
        """Fail the test naming each leak (by where and which form, never by value)."""
        hay = list(haystacks)
        assert hay, "nothing was captured: the audit would prove nothing"
        leaks = self.leaks(hay)
        assert not leaks, "secret leaked: " + "; ".join(leaks)


class LogTap(logging.Handler):
    """Keeps every record any logger emits, with its message, args and traceback text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._saved: list[tuple[logging.Logger, int, bool]] = []
        self._saved_disable = logging.NOTSET
        self._formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def haystacks(self) -> list[tuple[str, str]]:
        """Each record as formatted text, its raw args, and any traceback it carries."""
        out: list[tuple[str, str]] = []
        for number, record in enumerate(self.records):
            where = f"log record {number} ({record.name})"
            out.append((where, self._formatter.format(record)))
            out.append((f"{where} args", args_text(record.args)))
            out.append((f"{where} msg", repr(record.msg)))
            if record.exc_info and record.exc_info[1] is not None:
                out.append((f"{where} exception", exception_text(record.exc_info[1])))
        return out

    def install(self) -> None:
        """Hook into the root logger and every logger that exists, all at DEBUG.

        Loggers that do not propagate (some libraries' own) get the handler directly.
        :meth:`remove` puts every level and flag back, so later tests see no change.
        """
        self._saved_disable = logging.root.manager.disable
        logging.disable(logging.NOTSET)
        root = logging.getLogger()
        self._saved = [(root, root.level, root.disabled)]
        root.setLevel(logging.DEBUG)
        root.addHandler(self)
        for logger in list(logging.Logger.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger):
                self._saved.append((logger, logger.level, logger.disabled))
                logger.setLevel(logging.DEBUG)
                logger.disabled = False
                if not logger.propagate:
                    logger.addHandler(self)

    def remove(self) -> None:
        """Take the handler off every logger it was put on; restore levels and flags."""
        logging.getLogger().removeHandler(self)
        for logger in list(logging.Logger.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger) and self in logger.handlers:
                logger.removeHandler(self)
        for logger, level, disabled in self._saved:
            logger.setLevel(level)
            logger.disabled = disabled
        self._saved = []
        logging.disable(self._saved_disable)


def args_text(args: object) -> str:
    """The repr of a record's args, floats left out: a timing such as ``0.0058071`` would
    match a 4-digit PIN by chance, and no PIN is ever a float."""
    items = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else (
        () if args is None else (args,)
    )
    return " ".join(repr(item) for item in items if not isinstance(item, float))


def exception_text(exc: BaseException) -> str:
    """str, repr, args and the whole formatted chain (causes and contexts) of ``exc``."""
    parts = [str(exc), repr(exc), repr(exc.args), *traceback.format_exception(exc)]
    parts.extend(f"{name}={value!r}" for name, value in vars(exc).items())
    return "\n".join(parts)


def haystacks_of_dir(directory: Path) -> list[tuple[str, bytes]]:
    """Every file under ``directory``, byte for byte (names included: a path can leak too)."""
    out: list[tuple[str, bytes]] = []
    for path in sorted(directory.rglob("*")):
        out.append((f"path {path}", str(path.relative_to(directory)).encode()))
        if path.is_file():
            out.append((f"file {path.relative_to(directory)}", path.read_bytes()))
    return out


def reprs(*objects: object) -> list[tuple[str, str]]:
    """repr and str of each object, as haystacks."""
    return [
        (f"repr of {type(obj).__name__}", f"{obj!r}\n{obj!s}") for obj in objects
    ]
