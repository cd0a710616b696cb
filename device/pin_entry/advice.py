"""Gentle advice against a new PIN that is easy to guess.

J-LIS's 公的個人認証サービス portal and municipalities' 暗証番号 pages advise holders
against PINs others can guess: a birth date, one digit repeated (1111), a run
(1234). This lies outside the seed (the guidelines set no rule on the choice).
It is advice, not a card rule: the card takes such a PIN, and the applicant may
keep it.

:func:`is_easy_to_guess` answers only yes or no. The UI says "easy to guess"
without saying why, because naming the rule would tell the clerk (who can see the
card's birth date) what the PIN is. Nothing here stores, logs or copies the PIN:
the checks read the caller's buffer in place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

_ZERO = 0x30


def _digits_of(text: str) -> bytes:
    return text.encode("ascii")


def birth_date_forms(birth_date: dt.date) -> tuple[bytes, ...]:
    """The ways a birth date is commonly written as a PIN (西暦 and 和暦-free digits).

    YYYY, MMDD, DDMM, YYMMDD and YYYYMMDD. These are card data the clerk may see,
    never a PIN; the caller keeps them only while the entry runs.
    """
    yyyy = f"{birth_date.year:04d}"
    mm = f"{birth_date.month:02d}"
    dd = f"{birth_date.day:02d}"
    return tuple(
        _digits_of(form)
        for form in (yyyy, mm + dd, dd + mm, yyyy[2:] + mm + dd, yyyy + mm + dd)
    )


def _one_character(pin: memoryview | bytearray) -> bool:
    return len(pin) > 1 and all(byte == pin[0] for byte in pin)


def _is_run(pin: memoryview | bytearray) -> bool:
    """Every step +1 or every step -1 (1234, 4321, 7890 and 0987 too, as on a dial)."""
    if len(pin) < 3 or not all(_ZERO <= byte <= _ZERO + 9 for byte in pin):
        return False
    steps = {(pin[i + 1] - pin[i]) % 10 for i in range(len(pin) - 1)}
    return steps in ({1}, {9})


def _contains(pin: memoryview | bytearray, form: bytes | bytearray) -> bool:
    # a sliding comparison on the caller's buffer: no copy of the PIN is made
    width = len(form)
    return any(
        all(pin[start + i] == form[i] for i in range(width))
        for start in range(len(pin) - width + 1)
    )


def is_easy_to_guess(
    pin: memoryview | bytearray, *, avoid: Sequence[bytes | bytearray] = ()
) -> bool:
    """Whether ``pin`` is a choice J-LIS advises against.

    All one character; a run of digits up or down; or containing one of ``avoid``
    (the birth-date forms of :func:`birth_date_forms`, read from the card). For a
    4-digit PIN only a whole-PIN match of a 4-digit form counts, for the signature
    password any of the forms inside it.
    """
    if _one_character(pin) or _is_run(pin):
        return True
    for form in avoid:
        if len(pin) == 4:
            if len(form) == 4 and _contains(pin, form):
                return True
        elif len(form) >= 4 and _contains(pin, form):
            return True
    return False
