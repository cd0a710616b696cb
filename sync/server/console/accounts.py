"""Staff credentials of the office console: password hashes, TOTP, sessions.

Pure functions with no storage: :mod:`sync.server.console.store` keeps what they
make. Passwords are hashed with scrypt (``hashlib.scrypt``, memory-hard, in the
standard library); the second factor is a TOTP code (RFC 6238, ``pyotp``);
session and CSRF tokens are 256 random bits, and a session is stored only as the
SHA-256 of its token, so a copy of the database opens no session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp

from madoguchi.errors import ConfigError

#: scrypt cost: 2**14 × 8 × 128 bytes = 16 MiB per hash, about 50 ms on the server.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
#: Shortest password the console accepts when an account is made.
MIN_PASSWORD = 12
#: How a TOTP code is accepted: this many 30 s steps either side of now (clock skew).
TOTP_WINDOW = 1
#: The issuer an authenticator app shows next to the account.
TOTP_ISSUER = "madoguchi"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The stored form of ``password``: ``scrypt$N$r$p$salt$hash`` (base64 parts)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        maxmem=_SCRYPT_MAXMEM,
        dklen=32,
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` is the one ``stored`` was made from (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


#: Checked against when the account is unknown, so an unknown id costs the same time
#: as a wrong password (no timing oracle in sign-in).
DUMMY_HASH = hash_password("no such account", salt=b"\0" * 16)


def password_problem(password: str) -> str | None:
    """Why ``password`` is not accepted for a new account (None: it is)."""
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    if not password.isprintable():
        return "printable characters only"
    return None


def new_totp_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def totp_uri(secret: str, staff_id: str) -> str:
    """The ``otpauth://`` URI an authenticator app enrols from."""
    return pyotp.TOTP(secret).provisioning_uri(name=staff_id, issuer_name=TOTP_ISSUER)


def totp_step(secret: str, code: str, at: float, last_step: int) -> int | None:
    """The time step ``code`` is valid for at ``at`` (None: not valid). A step at or
    before ``last_step`` (the last one used) is refused: a code works once."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(at) // totp.interval
    for step in range(now_step - TOTP_WINDOW, now_step + TOTP_WINDOW + 1):
        if step > last_step and hmac.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def new_token() -> str:
    """A session or CSRF token (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """How a session token is stored."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewAccount:
    """What making an account hands out once: the id and the TOTP enrolment."""

    staff_id: str
    totp_secret: str
    totp_uri: str


def check_staff_id(staff_id: str) -> str:
    """``staff_id`` if it is a usable account id (else :class:`ConfigError`)."""
    if not (
        1 <= len(staff_id) <= 64
        and staff_id.isascii()
        and staff_id.isprintable()
        and " " not in staff_id
        and ":" not in staff_id
    ):
        raise ConfigError("a staff id is 1-64 printable ASCII characters, no space or colon")
    return staff_id
