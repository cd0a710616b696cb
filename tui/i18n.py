"""The UI's one string catalogue: Japanese by default, English selectable.

Strings live in ``tui/strings/<lang>.toml`` as TOML tables, addressed by dotted
keys (``login.title``). Every language must define exactly the same keys; a
catalogue that does not is refused at load time with the missing keys named, so
a half-translated screen cannot ship. Placeholders use :meth:`str.format`
(``{tries}``); the catalogue never formats a PIN or a password.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from madoguchi.errors import ConfigError

#: Languages with a catalogue, in the order the language switch cycles through them.
LANGUAGES: tuple[str, ...] = ("ja", "en")
#: The language the counter starts in.
DEFAULT_LANGUAGE = "ja"


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            raise ConfigError(f"string catalogue: {name} must be text, not {type(value).__name__}")
    return flat


@cache
def load_catalogue(language: str) -> dict[str, str]:
    """Every string of ``language`` by dotted key (cached; the files ship with the package)."""
    if language not in LANGUAGES:
        raise ConfigError(f"unknown UI language {language!r}; valid: {', '.join(LANGUAGES)}")
    text = resources.files("tui.strings").joinpath(f"{language}.toml").read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"string catalogue {language}.toml: {exc}") from exc
    return _flatten(data)


def check_catalogues() -> None:
    """Raise :class:`ConfigError` unless every language defines the same keys."""
    keys = {lang: set(load_catalogue(lang)) for lang in LANGUAGES}
    every = set().union(*keys.values())
    problems = [
        f"{lang}.toml lacks {', '.join(sorted(every - have))}"
        for lang, have in keys.items()
        if every - have
    ]
    if problems:
        raise ConfigError("string catalogues differ: " + "; ".join(problems))


class Strings:
    """The strings of one language; call it with a key (and placeholders) to get text.

    Example:
        >>> t = Strings("en")
        >>> t("pin.tries_left", tries=3)
        '3 tries left'
    """

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        check_catalogues()
        self.language = language
        """The catalogue in use (``"ja"`` or ``"en"``)."""
        self._table = load_catalogue(language)

    def __call__(self, key: str, /, **values: object) -> str:
        """The text for ``key`` with ``values`` filled in; an unknown key is a bug (KeyError)."""
        text = self._table[key]
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        """Whether ``key`` exists (for optional texts such as per-profile labels)."""
        return key in self._table

    def next_language(self) -> str:
        """The language the switch moves to from this one."""
        return LANGUAGES[(LANGUAGES.index(self.language) + 1) % len(LANGUAGES)]
