"""Case files: a documented JSON form of one transaction's facts (schema in docs/rules.md).

The same parser builds facts for the case runner (``madoguchi rules check``) and
for the clerk's :class:`~device.procedures.engine.Session`, so both refuse the
same bad input with the same :class:`~madoguchi.errors.RuleError`. Unknown keys
are errors. A key that names a PIN or an individual number is refused with its
own message: such data has no place in a case file, a record or a log.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import re
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from device.procedures.catalogue import ProcedureInfo, procedure
from device.procedures.facts import Actor, Facts
from device.records import FORBIDDEN_KEYS
from madoguchi.errors import RuleError

#: Keys refused anywhere in a case file, beyond the record contract's own list.
CASE_FORBIDDEN_KEYS = FORBIDDEN_KEYS | frozenset(
    {"pin_code", "pin_number", "暗証番号", "個人番号", "mynumber", "my_number_card_number"}
)

_TOP_KEYS = frozenset(
    {"procedure", "actor", "date", "facts", "policies", "title", "note", "expect"}
)


class ForbiddenKeyError(RuleError):
    """A case file holds a key for a PIN or an individual number (My Number)."""


class FactValueError(RuleError):
    """A fact has a value of the wrong form; says where and what was expected, never the value.

    ``problem`` is ``enum``, ``date``, ``bool``, ``list``, ``object``, ``str``, ``int``
    or ``unknown_key``; ``allowed`` the values an ``enum`` accepts.
    """

    def __init__(self, path: str, problem: str, message: str,
                 allowed: tuple[str, ...] = ()) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.problem = problem
        self.allowed = allowed


#: Date forms a clerk types besides ISO: 2034/4/1, 2034.4.1, 2034-4-1, 2034年4月1日.
_DATE_FORMS = re.compile(
    r"^\s*(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?\s*$"
)
#: Japanese eras a card or document date may be written in (元年 = 1).
_ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925, "R": 2018, "H": 1988, "S": 1925}
_ERA_FORM = re.compile(
    r"^\s*(令和|平成|昭和|[RHS])\s*(\d{1,2}|元)\s*(?:年|[./])\s*(\d{1,2})\s*(?:月|[./])"
    r"\s*(\d{1,2})\s*日?\s*$"
)


def parse_date(text: str) -> date:
    """A date typed as ISO (2034-04-01), 2034/4/1, 2034年4月1日 or 令和16年4月1日 (R16.4.1).

    Raises :class:`ValueError` for anything else or a day that does not exist.
    """
    text = text.translate(_FULL_WIDTH)
    western = _DATE_FORMS.match(text)
    if western:
        year, month, day = (int(g) for g in western.groups())
        return date(year, month, day)
    era_date = _ERA_FORM.match(text)
    if era_date:
        era, year_text, month_text, day_text = era_date.groups()
        era_year = 1 if year_text == "元" else int(year_text)
        return date(_ERAS[era] + era_year, int(month_text), int(day_text))
    return date.fromisoformat(text)


_FULL_WIDTH = str.maketrans("０１２３４５６７８９／．－", "0123456789/.-")


@dataclass(frozen=True)
class Case:
    """One parsed case file."""

    info: ProcedureInfo
    actor: Actor
    on: date
    facts: Facts
    policies: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    expect: dict[str, Any] = field(default_factory=dict)


def check_forbidden(value: Any, path: str = "$") -> None:
    """Raise :class:`ForbiddenKeyError` when a PIN or My Number key appears at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in CASE_FORBIDDEN_KEYS:
                raise ForbiddenKeyError(
                    f"{path}: key {key!r} is not allowed: a case file must never hold a PIN or "
                    "an individual number (My Number); record only results such as pin_result"
                )
            check_forbidden(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_forbidden(item, f"{path}[{index}]")


def parse_case(data: Any) -> Case:
    """Validate and build a :class:`Case` from decoded JSON."""
    if not isinstance(data, dict):
        raise RuleError("$: a case file must be a JSON object")
    check_forbidden(data)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise RuleError(f"$: unknown key(s) {', '.join(unknown)}")
    for key in ("procedure", "actor", "date"):
        if key not in data:
            raise RuleError(f"$: missing {key!r}")
    info = procedure(_expect_str(data["procedure"], "$.procedure"))
    actor = build(Actor, data["actor"], "$.actor")
    on = build(date, data["date"], "$.date")
    facts = build(Facts, data.get("facts", {}), "$.facts")
    policies = data.get("policies", {})
    expect = data.get("expect", {})
    if not isinstance(policies, dict) or not isinstance(expect, dict):
        raise RuleError("$: policies and expect must be objects")
    return Case(info, actor, on, facts, policies, str(data.get("title", "")), expect)


def load_case(path: Path) -> Case:
    """Read and parse the case file at ``path``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RuleError(f"cannot read case file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise RuleError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RuleError(f"{path}: not valid JSON: {exc}") from exc
    except RecursionError:
        raise RuleError(f"{path}: JSON nested too deeply (at most {MAX_DEPTH} levels)") from None
    if _depth(data) > MAX_DEPTH:
        raise RuleError(f"{path}: JSON nested too deeply (at most {MAX_DEPTH} levels)")
    try:
        return parse_case(data)
    except RuleError as exc:
        raise type(exc)(f"{path}: {exc}") from exc


#: How deep a case file may nest; the schema needs 6 levels, the rest is room for notes.
MAX_DEPTH = 32


def _depth(value: Any) -> int:
    """How deeply ``value`` nests (iteratively: a hostile file must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((item, level + 1) for item in node.values())
        elif isinstance(node, list):
            stack.extend((item, level + 1) for item in node)
    return deepest


def facts_from(data: Any) -> Facts:
    """Build :class:`Facts` from the ``facts`` object of a case file."""
    check_forbidden(data, "$.facts")
    facts: Facts = build(Facts, data, "$.facts")
    return facts


def _expect_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise FactValueError(path, "str", "expected a string")
    return value


def build(tp: Any, value: Any, path: str) -> Any:  # noqa: PLR0911, PLR0912 - one branch per type
    """Build a value of type ``tp``: dataclass, enum, date, bool, str, int, frozenset, tuple."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return build(args[0], value, path)
    if origin in (frozenset, tuple):
        if not isinstance(value, list):
            raise FactValueError(path, "list", "expected a list")
        (item_tp, *_) = typing.get_args(tp)
        items = [build(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return frozenset(items) if origin is frozenset else tuple(items)
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        allowed = [m.value for m in tp]
        if value not in allowed:
            # the field and the allowed values, never the value: a PIN typed into a
            # result field would otherwise reach the screen and the log
            raise FactValueError(
                path, "enum", f"the value is not one of {', '.join(map(str, allowed))}",
                tuple(map(str, allowed)),
            )
        return tp(value)
    if tp is date:
        if not isinstance(value, str):
            raise FactValueError(path, "date", "the value is not a date (YYYY-MM-DD)")
        try:
            return parse_date(value)
        except (ValueError, OverflowError):
            # not echoed either: a My Number typed into a date field is 12 digits
            raise FactValueError(path, "date", "the value is not a date (YYYY-MM-DD)") from None
    if tp is bool:
        if not isinstance(value, bool):
            raise FactValueError(path, "bool", "expected true or false")
        return value
    if tp is str:
        return _expect_str(value, path)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FactValueError(path, "int", "expected an integer")
        return value
    raise RuleError(f"{path}: unsupported type {tp!r}")  # pragma: no cover - schema bug


@functools.cache
def _schema(tp: Any) -> dict[str, Any]:
    """Field name → type of a facts dataclass (resolving the postponed annotations once)."""
    hints = typing.get_type_hints(tp)
    return {f.name: hints[f.name] for f in dataclasses.fields(tp)}


def _build_dataclass(tp: Any, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise FactValueError(path, "object", "expected an object")
    hints = _schema(tp)
    unknown = sorted(set(value) - set(hints))
    if unknown:
        raise FactValueError(path, "unknown_key", f"unknown key(s) {', '.join(unknown)}")
    kwargs = {key: build(hints[key], item, f"{path}.{key}") for key, item in value.items()}
    return tp(**kwargs)
