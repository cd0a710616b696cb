"""What a virtual card holds: the holder's data, PINs and card metadata, per profile.

Values are documented in ``docs/virtual-card.md`` (tests and the card driver rely on them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: (first day, Gregorian year of era year 1) — newest first (reference §6, SOL ``data.rs``).
_ERAS: tuple[tuple[dt.date, int], ...] = (
    (dt.date(2019, 5, 1), 2019),   # 令和
    (dt.date(1989, 1, 8), 1989),   # 平成
    (dt.date(1926, 12, 25), 1926),  # 昭和
    (dt.date(1912, 7, 30), 1912),  # 大正
    (dt.date(1868, 1, 25), 1868),  # 明治
)


def era_yymmdd(day: dt.date) -> str:
    """``YYMMDD`` with the Japanese-era year, as 照合番号B and the 生年月日 key use it."""
    for start, first_year in _ERAS:
        if day >= start:
            return f"{day.year - first_year + 1:02d}{day.month:02d}{day.day:02d}"
    raise ValueError(f"{day} predates the Meiji era")


def my_number_check_digit(eleven: str) -> str:
    """The check digit of an individual number (個人番号) over its first 11 digits."""
    if len(eleven) != 11 or not eleven.isdigit():
        raise ValueError("need 11 digits")
    total = 0
    for n in range(1, 12):
        p = int(eleven[11 - n])
        q = n + 1 if n <= 6 else n - 5
        total += p * q
    remainder = total % 11
    return "0" if remainder <= 1 else str(11 - remainder)


@dataclass(frozen=True)
class CardFacts:
    """Everything a virtual card holds that a test may want to compare against.

    Test data only: these PINs and this individual number belong to no one.
    """

    profile: str
    token: str
    name: str
    address: str
    birth_date: dt.date
    sex: str
    my_number: str
    expiry_date: dt.date
    issue_date: dt.date
    security_code: str
    serial: str
    municipality_code: str
    auth_pin: str | None
    sign_password: str | None
    support_pin: str | None
    juki_pin: str | None
    has_sign_certificate: bool
    face_auth: bool
    has_text_aps: bool
    key_bits: int

    @property
    def verification_code_b(self) -> str:
        """照合番号B: 和暦 YYMMDD of birth + expiry year + security code (14 digits)."""
        return f"{era_yymmdd(self.birth_date)}{self.expiry_date.year:04d}{self.security_code}"

    @property
    def birth_code(self) -> str:
        """The 券面AP 生年月日 key: 和暦 YYMMDD."""
        return era_yymmdd(self.birth_date)

    @property
    def pins(self) -> dict[str, str | None]:
        """Holder PINs by retry-counter name (``None`` = not set on this card)."""
        return {
            "jpki_auth": self.auth_pin,
            "jpki_sign": self.sign_password,
            "support": self.support_pin,
            "juki": self.juki_pin,
        }

    def __repr__(self) -> str:
        # Even test PINs stay out of logs and assertion messages by default.
        return f"CardFacts(profile={self.profile!r}, token={self.token!r}, serial={self.serial!r})"


STANDARD_EXPIRY = dt.date(2034, 4, 1)

#: JPKI EF 0006 token names (reference §11.1). Public type names, not secrets.
TOKEN_TYPES: dict[str, str] = {
    "my_number_card": "JPKIAPICCTOKEN2",
    "juki_card": "JPKIAPICCTOKEN",
    "android": "JPKIAPGPSETOKEN",
}


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def facts_for(profile: str, index: int, *, today: dt.date, expired_days: int = 30) -> CardFacts:
    """The facts of ``profile`` (``index`` = its position in PROFILES, for the serial)."""
    eleven = "12345678901"
    birth = dt.date(1985, 4, 1)
    expiry = STANDARD_EXPIRY
    issue = dt.date(2024, 4, 1)
    token = TOKEN_TYPES["my_number_card"]
    pins: dict[str, str | None] = {
        "auth": "1234", "sign": "ABC123", "support": "1234", "juki": "1234",
    }
    sign_cert = True
    face_auth = False
    text_aps = True
    key_bits = 2048
    if profile == "face-auth":
        pins = dict.fromkeys(pins)
        sign_cert = False
        face_auth = True
    elif profile == "expired":
        expiry = today - dt.timedelta(days=expired_days)
        issue = _years_before(expiry, 10)
    elif profile == "under-15":
        birth = dt.date(2016, 6, 15)
        issue = dt.date(2026, 6, 15)
        expiry = dt.date(2031, 6, 15)
        pins["sign"] = None
        sign_cert = False
    elif profile == "juki-card":
        token = TOKEN_TYPES["juki_card"]
        pins["support"] = None
        text_aps = False
        key_bits = 1024
    elif profile == "android":
        token = TOKEN_TYPES["android"]
        pins["support"] = None
        pins["juki"] = None
        text_aps = False
    return CardFacts(
        profile=profile,
        token=token,
        name="番号　花子",
        address="東京都千代田区永田町１－２－３",
        birth_date=birth,
        sex="2",
        my_number=eleven + my_number_check_digit(eleven),
        expiry_date=expiry,
        issue_date=issue,
        security_code="4321",
        serial=f"2024040100000{index + 1:02d}",
        municipality_code="13101",
        auth_pin=pins["auth"],
        sign_password=pins["sign"],
        support_pin=pins["support"],
        juki_pin=pins["juki"],
        has_sign_certificate=sign_cert,
        face_auth=face_auth,
        has_text_aps=text_aps,
        key_bits=key_bits,
    )
