"""Enrolment tokens are usable as printed: ``device enroll --token <token>`` (issue 18).

``secrets.token_urlsafe`` draws from an alphabet with ``-``; a token beginning with it
is read by the command line as an option, so the device's enrolment failed (in the nspawn
test: one boot in 64, then every scenario after enrolment). The draw is injected here, so
the test is deterministic: the real parser refuses such a token, and the server's command
never prints one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from madoguchi.cli import build_parser
from sync.server.app import new_enrolment_token


def _draws(*tokens: str) -> Iterator[str]:
    yield from tokens
    raise AssertionError("drew more tokens than the test planned")


def _enroll_argv(token: str) -> list[str]:
    return ["device", "enroll", "--token", token, "--server-ca", "/etc/madoguchi/ca.crt"]


def test_a_token_beginning_with_a_dash_cannot_be_typed_after_token() -> None:
    parser = build_parser(_enroll_argv("-x9AbCdEf"))
    with pytest.raises(SystemExit):
        parser.parse_args(_enroll_argv("-x9AbCdEf"))


def test_the_server_never_hands_out_such_a_token() -> None:
    draws = _draws("-x9AbCdEf", "--Zz", "k-_9AbCdEf")
    token = new_enrolment_token(lambda: next(draws))
    assert token == "k-_9AbCdEf"  # a dash or underscore inside is fine
    args = build_parser(_enroll_argv(token)).parse_args(_enroll_argv(token))
    assert args.token == token


def test_real_tokens_are_long_and_parse() -> None:
    tokens = {new_enrolment_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert len(token) == 32
        assert not token.startswith("-")
        assert build_parser(_enroll_argv(token)).parse_args(_enroll_argv(token)).token == token
