"""The one string catalogue: both languages define the same keys, and every key the UI uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from device.card.kind import CardKind, Condition
from device.card.layout import HOLDER_PINS
from device.card.pins import PinState
from device.pin_entry import NewPinStep, PinProblem
from madoguchi.errors import ConfigError
from tui.app import PIN_SPECS
from tui.i18n import LANGUAGES, Strings, check_catalogues, load_catalogue
from tui.services import Presence

#: Every ``PinVerifyResult.outcome`` (tui/services.py).
PIN_OUTCOMES = (
    "verified", "wrong", "blocked", "not_set", "needs_confirmation", "cancelled",
    "timed_out", "card_removed", "error",
)
TUI = Path(__file__).resolve().parents[2] / "tui"
# t("key"), self.t("key"), strings("key"), t("key" if x else "other.key")
#: Dotted names in the UI source that are actions or files, not catalogue keys.
NOT_STRINGS = {
    "app.demo_menu", "app.diagnostics", "app.pop_screen", "app.procedures", "app.sign_out",
    "app.tcss", "app.verify_pin", "app.today", "app.history",
    # section prefixes handed to a lookup that appends the card layer's code
    "card.conditions", "card.kinds", "card.pin_states", "card.pins",
    "pin.outcomes", "pin.problems", "pin.prompts",
    # the engine's step keys the checklist answers itself
    "pin_reset.card_step.written", "pin_reset.card_step.from_concealed_form",
    "pin_reset.card_step",
    # the new-PIN prompts' step tables (a step's code is appended: checked below)
    "pin_change.steps", "pin_reset.steps", "pin_reset.steps_concealed",
    "card.operator_authenticated", "card.pin_result",
}
LITERAL_KEY = re.compile(r"""["']([a-z_]+(?:\.[a-z_]+)+)["']""")


def test_every_key_exists_in_both_languages() -> None:
    ja, en = load_catalogue("ja"), load_catalogue("en")
    assert set(ja) == set(en), {"only ja": set(ja) - set(en), "only en": set(en) - set(ja)}
    check_catalogues()
    for lang in LANGUAGES:
        assert all(text.strip() for text in load_catalogue(lang).values()), lang


def test_placeholders_match_between_languages() -> None:
    ja, en = load_catalogue("ja"), load_catalogue("en")
    field = re.compile(r"{(\w+)}")
    for key in ja:
        assert set(field.findall(ja[key])) == set(field.findall(en[key])), key


def test_every_key_the_ui_names_exists() -> None:
    known = set(load_catalogue("ja"))
    sections = {k.split(".")[0] for k in known}
    used: set[str] = set()
    for path in TUI.rglob("*.py"):
        for key in LITERAL_KEY.findall(path.read_text("utf-8")):
            if key.split(".")[0] in sections and key not in NOT_STRINGS:
                used.add(key)
    # keys built at run time
    used |= {f"presence.{p.value}" for p in Presence}
    used |= {f"card.kinds.{k.value}" for k in CardKind}
    used |= {f"card.conditions.{c.value}" for c in Condition}
    used |= {f"card.pins.{p.value}" for p in HOLDER_PINS}
    used |= {f"card.pin_states.{s.value}" for s in PinState}
    used |= {f"pin.problems.{p.value}" for p in PinProblem}
    used |= {f"pin.prompts.{pin}" for pin in PIN_SPECS}
    used |= {f"pin.outcomes.{o}" for o in PIN_OUTCOMES}
    used |= {f"{table}.{step.value}" for step in NewPinStep
             for table in ("pin_change.steps", "pin_reset.steps", "pin_reset.steps_concealed")}
    used |= {f"{purpose}.{key}" for purpose in ("pin_reset", "new_pins")
             for key in ("title", "jlis", "jlis_proxy")}
    missing = used - known
    assert not missing, missing
    assert len(used) > 40  # the scan really found the UI's keys


def test_japanese_is_the_default_and_english_is_selectable() -> None:
    assert Strings()("login.title") == "操作者の認証"
    assert Strings("en")("login.title") == "Operator sign-in"
    assert Strings("ja").next_language() == "en"
    assert Strings("en").next_language() == "ja"
    assert Strings("en")("pin.tries_left", tries=3) == "3 tries left"


def test_unknown_language_and_key_are_errors() -> None:
    with pytest.raises(ConfigError):
        Strings("fr")
    with pytest.raises(KeyError):
        Strings()("no.such_key")
