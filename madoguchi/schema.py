"""One schema language for everything madoguchi reads from outside: msgspec Structs.

The configuration (:mod:`madoguchi.config`), the device protocol (:mod:`sync.wire`) and
the update endpoints (:mod:`updater.wire`) are ``msgspec.Struct`` classes: the same
classes decode what arrives (strictly: a wrong type, a value out of its bounds or an
unknown key is refused, never coerced), encode what is sent, and give the JSON Schema
that the OpenAPI document (``sync/server/openapi.py``) and ``madoguchi config schema``
print. This module holds what the three share: how msgspec's refusal is put into one
sentence that names the key.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

__all__ = ["ShapeError", "convert", "decode_json", "describe", "phrase", "split_error"]

T = TypeVar("T")

#: msgspec's own words for a value's kind, in a reader's terms.
_KINDS = {"array": "a list", "object": "an object"}
_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<where>[^`]*)`)?$", re.DOTALL)
_EXPECTED = re.compile(r"Expected `([^`]+)`(.*?)(?:, got `([^`]+)`)?")
_UNKNOWN = re.compile(r"Object contains unknown field `(.+)`")
_MISSING = re.compile(r"Object missing required field `(.+)`")
_ENUM = re.compile(r"Invalid enum value (.+)")


class ShapeError(ValueError):
    """A document does not have the shape its Struct says; the message names the key."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        #: The key's path (``records[3].seq``); empty for the document itself.
        self.where = where


def split_error(exc: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec's message as (what is wrong, where): ``Expected `int`, got `str` - at
    `$.records[0].seq``` is ``("Expected `int`, got `str`", "records[0].seq")``."""
    match = _AT.match(str(exc))
    if match is None:  # pragma: no cover - the pattern matches any text
        return str(exc), ""
    return match["what"], (match["where"] or "").lstrip(".")


def phrase(what: str, kinds: dict[str, str] | None = None) -> str:
    """``Expected `int` >= 1, got `str``` as ``must be int >= 1, not str`` (other
    sentences unchanged); ``kinds`` renames msgspec's kinds (``object``: ``a table``)."""
    names = {**_KINDS, **(kinds or {})}
    found = _EXPECTED.fullmatch(what)
    if not found:
        return what
    got = f", not {names.get(found[3], found[3])}" if found[3] else ""
    return f"must be {names.get(found[1], found[1])}{found[2]}{got}"


def describe(exc: msgspec.ValidationError, document: str = "the body") -> ShapeError:
    """One sentence naming the key at fault: ``the body: records[0].seq must be int >=
    1``, ``the body: unknown field `extra` in records[2]``, ``the body: token is required``."""
    what, where = split_error(exc)
    unknown = _UNKNOWN.fullmatch(what)
    if unknown:
        inside = f" in {where}" if where else ""
        return ShapeError(f"{document}: unknown field `{unknown[1]}`{inside}", where)
    missing = _MISSING.fullmatch(what)
    if missing:
        key = f"{where}.{missing[1]}" if where else missing[1]
        return ShapeError(f"{document}: {key} is required", key)
    enum = _ENUM.fullmatch(what)
    if enum:
        allowed = f"{document}: {where} is not one of the allowed values ({enum[1]})"
        return ShapeError(allowed, where)
    return ShapeError(f"{document}: {where or 'it'} {phrase(what)}", where)


def decode_json(data: bytes | str, kind: type[T], document: str = "the body") -> T:
    """``data`` as a ``kind`` (strict JSON: no coercion); :class:`ShapeError` naming the
    key otherwise, or saying the text is not JSON."""
    try:
        return msgspec.json.decode(data, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        raise describe(exc, document) from None
    except msgspec.DecodeError as exc:
        raise ShapeError(f"{document} is not JSON: {exc}") from None


def convert(value: Any, kind: type[T], document: str = "the body") -> T:
    """An already parsed ``value`` as a ``kind`` (strict), as :func:`decode_json`."""
    try:
        return msgspec.convert(value, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise describe(exc, document) from None
