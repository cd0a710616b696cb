"""The one rule every test uses to look for a PIN on a screen, in a log or in a record.

A PIN can leak where it is typed or kept: echoed on the prompt as the applicant types
(the digits typed so far, in order), or shown, logged or stored whole afterwards. So
a scan looks for exactly that: the typed prefix (two digits or more, when the caller
knows how many were typed) and the whole PIN, in the order typed, also when spread
out with spaces or hyphens or written in full-width digits (``１ ２ ３ ４``).

It does not look for any two of the PIN's digits anywhere: the screens show dates and
times (the card's expiry ``2034-04-01``, the last send ``12月3日 06:05``, the today
screen's ``12:34``), so such a scan fails all December, every 12th and 23rd, and at
12:xx and 23:xx (issue 18). Those fields are masked first, in every form the screens,
records and logs write them (:data:`DATE_TIME`): a PIN is never rendered as a date or
a time, and any digits around a masked field are still scanned. UUIDs (record and
transaction ids) are masked too: 32 random hex digits hold any 4-digit run now and
then. Measured durations with their unit (the APDU trace's ``in 0.401 ms``) are
masked as well: a birth date's 0401 was found in one. See docs/security.md, "Looking
for the PIN in tests".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: Dates and times as the screens (``tui/strings/*.toml`` time.*), the records (UTC
#: ISO 8601) and the logs (``2026-12-12 03:34:56,123``) write them. Each form is bounded
#: by non-digits, so a PIN typed right against a date is not swallowed with it.
DATE_TIME = re.compile(
    r"(?<!\d)(?:"
    # ISO date, optionally with a time, fraction and offset (records, logs, the card's expiry)
    r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    # Japanese: 2026年12月3日, 12月3日, 昭和60年4月1日 (the year part is optional)
    r"|(?:\d{1,4}年)?\d{1,2}月(?:\d{1,2}日)?"
    # English: 12/3, 12/3/2026
    r"|\d{1,2}/\d{1,2}(?:/\d{4})?"
    # a clock time: 06:05, 23:59:07, 23:59:07.123
    r"|\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    # a measured duration with its unit, as the APDU trace logs it: "in 0.401 ms"
    r"|\d+\.\d+ ?(?:ms|s)(?![A-Za-z])"
    r")(?!\d)"
)
#: A UUID (transaction and record ids).
UUID = re.compile(
    r"(?i)(?<![0-9a-f])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-f])"
)
#: What a masked field becomes: no digit, so no run can form across it.
MASK = "〈日時〉"
#: Between two digits of a leaked PIN, what a rendering might put (for 3 digits or more).
_SPREAD = r"[ \u3000\-・,.]?"


def mask_dates_and_times(text: str) -> str:
    """``text`` with every date, time and UUID replaced by :data:`MASK` (full-width
    digits read as ASCII first, as the scan does)."""
    text = unicodedata.normalize("NFKC", text)
    return DATE_TIME.sub(MASK, UUID.sub(MASK, text))


def _needle(digits: str) -> re.Pattern[str]:
    # Two digits must stand together; three or more may be spread out as a rendering
    # would (a short run with a separator is too common on a screen to mean anything).
    joiner = _SPREAD if len(digits) >= 3 else ""
    return re.compile(joiner.join(re.escape(d) for d in digits))


def pin_needles(pin: str, typed: int | None = None) -> list[str]:
    """What to look for: the ``typed`` digits so far (when 2 or more) and the whole PIN."""
    if len(pin) < 2:
        raise ValueError("a PIN scan needs a PIN of at least two characters")
    needles = [pin]
    if typed is not None and 2 <= typed < len(pin):
        needles.insert(0, pin[:typed])
    return needles


def pin_leaks(pin: str, text: str, typed: int | None = None) -> list[str]:
    """Each needle of :func:`pin_needles` found in ``text`` once dates and times are masked."""
    cleaned = mask_dates_and_times(text)
    return [n for n in pin_needles(pin, typed) if _needle(n).search(cleaned)]


def assert_no_pin(pin: str, texts: Iterable[str], typed: int | None = None) -> None:
    """Fail naming the text that holds the PIN (or the ``typed`` prefix of it).

    ``texts`` must not be empty: a scan of nothing proves nothing.
    """
    texts = list(texts)
    assert texts, "nothing to scan: the PIN check would prove nothing"
    for text in texts:
        leaks = pin_leaks(pin, text, typed)
        assert not leaks, f"the PIN's digits {leaks} are in:\n{text}"


def assert_no_pin_while_typing(pin: str, frames: Iterable[tuple[int, str]]) -> None:
    """For frames captured during entry as ``(digits typed so far, frame)``."""
    frames = list(frames)
    assert frames, "no frame captured during PIN entry"
    for typed, frame in frames:
        assert_no_pin(pin, [frame], typed)


def old_rule_trips(pin: str, text: str) -> list[str]:
    """The rule this module replaces: any run of two or more of the PIN's digits, in
    order, after removing only ISO dates. Kept so that the calendar runs can show the
    screens they capture would have tripped it (that they test the trap at all)."""
    without_iso = re.sub(r"\d{4}-\d{2}-\d{2}(T[0-9:.+\-]+)?", "", text)
    runs = {pin[i:j] for i in range(len(pin)) for j in range(i + 2, len(pin) + 1)}
    return sorted(run for run in runs if run in without_iso)
