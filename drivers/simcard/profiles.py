"""Named card profiles and :func:`make_card`, the one way to build a virtual card.

Building a card signs its certificates and records (a few dozen milliseconds), so the
immutable part (:class:`CardImage`) is cached per profile, options and PKI; every
:func:`make_card` call still returns a fresh card with its own counters.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from drivers.simcard.card import VirtualCard
from drivers.simcard.facts import CardFacts, facts_for
from drivers.simcard.filesystem import CardImage
from drivers.simcard.layout import build_image
from drivers.simcard.names import BLOCKABLE_PINS, DEFECTS, PROFILES, UNSET_PIN_ANSWERS
from drivers.simcard.pki import TestPki
from madoguchi.errors import ConfigError

#: Options each profile takes, with their defaults.
PROFILE_OPTIONS: dict[str, dict[str, Any]] = {
    "expired": {"expired_days": 30},
    "pin-blocked": {"blocked_pin": "jpki_auth"},
    "slow": {"apdu_delay_s": 0.2},
    "flaky": {"drop_after": 5},
    "face-auth": {"unset_pin_answer": "6984"},
    "under-15": {"unset_pin_answer": "6984"},
    "defective": {"defect": "cv-refused"},
}


def _options_for(profile: str, options: dict[str, Any]) -> dict[str, Any]:
    allowed = PROFILE_OPTIONS.get(profile, {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) or "no options"
        raise ConfigError(f"profile {profile!r} does not take {', '.join(unknown)} "
                          f"(it takes {takes})")
    merged = {**allowed, **options}
    if "expired_days" in merged and (
        not isinstance(merged["expired_days"], int) or merged["expired_days"] < 1
    ):
        raise ConfigError("expired_days must be a whole number of days >= 1")
    if "blocked_pin" in merged and merged["blocked_pin"] not in BLOCKABLE_PINS:
        raise ConfigError(f"blocked_pin must be one of {', '.join(BLOCKABLE_PINS)}")
    if "apdu_delay_s" in merged and not (
        isinstance(merged["apdu_delay_s"], (int, float)) and 0 <= merged["apdu_delay_s"] <= 10
    ):
        raise ConfigError("apdu_delay_s must be between 0 and 10 seconds")
    if "defect" in merged and merged["defect"] not in DEFECTS:
        raise ConfigError(f"defect must be one of {', '.join(DEFECTS)}")
    if "unset_pin_answer" in merged and merged["unset_pin_answer"] not in UNSET_PIN_ANSWERS:
        raise ConfigError(f"unset_pin_answer must be one of {', '.join(UNSET_PIN_ANSWERS)}")
    if "drop_after" in merged and (
        not isinstance(merged["drop_after"], int) or merged["drop_after"] < 0
    ):
        raise ConfigError("drop_after must be a whole number >= 0")
    return merged


@functools.lru_cache(maxsize=64)
def _image(profile: str, pki_dir: Path, today: dt.date, expired_days: int,
           blocked: frozenset[str], *, defect: str | None) -> tuple[CardFacts, CardImage]:
    pki = TestPki.load_or_create(pki_dir)
    facts = facts_for(profile, PROFILES.index(profile), today=today, expired_days=expired_days)
    image = build_image(facts, pki, blocked=blocked, counterfeit=profile == "counterfeit",
                        defect=defect)
    return facts, image


def make_card(profile: str, *, pki_dir: Path | None = None, **options: Any) -> VirtualCard:
    """A fresh virtual card of ``profile``. Unknown profile or option -> ConfigError."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown card profile {profile!r}; valid: {', '.join(PROFILES)}")
    merged = _options_for(profile, options)
    directory = TestPki.load_or_create(pki_dir).directory
    blocked = frozenset(BLOCKABLE_PINS[merged["blocked_pin"]]) if "blocked_pin" in merged \
        else frozenset()
    facts, image = _image(profile, directory, dt.date.today(), merged.get("expired_days", 30),
                          blocked, defect=merged.get("defect"))
    card = VirtualCard(
        image,
        facts,
        apdu_delay_s=float(merged.get("apdu_delay_s", 0.0)),
        drop_after=merged.get("drop_after"),
        unset_pin_sw=UNSET_PIN_ANSWERS[merged.get("unset_pin_answer", "6984")],
    )
    return card
