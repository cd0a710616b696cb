"""Property test: random and malformed APDUs get a correct status word and never crash the card.

Sequences mix pure noise with commands built to reach deep states (an AP selected, a key EF
current, a PIN verified) and then mangled: truncated headers, lying Lc, extended forms, wrong
classes. Every answer must be at least two bytes, end in a status word from the documented set,
carry data only with 9000, and fit a vpcd frame; the only exception the card may raise is
LinkDropped, and only on the flaky profile.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.simcard import PROFILES, LinkDropped, make_card
from drivers.simcard.pki import TestPki

from . import apdus as A

ALLOWED_SW = {
    0x9000, 0x6700, 0x6A86, 0x6A82, 0x6D00, 0x6E00, 0x6882, 0x6881, 0x6884, 0x6986, 0x6981,
    0x6982, 0x6B00, 0x6A83, 0x6A81, 0x6A88, 0x6984, 0x6985, 0x66F1, 0x6A80,
    *range(0x63C0, 0x63D0),
}
AIDS = [A.JPKI, A.SUPPORT, A.FACE, A.JUKI, A.COMMON, bytes.fromhex("A0000001510000")]
FIDS = [0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007, 0x0008, 0x000A, 0x000B,
        0x0011, 0x0012, 0x0013, 0x0014, 0x0015, 0x0017, 0x0018, 0x001A, 0x001B, 0x001C]
SECRETS = [b"1234", b"ABC123", b"123456789018", b"60040120344321", b"600401", b"0000"]
INS = [0xA4, 0xB0, 0xB2, 0x20, 0x24, 0x84, 0x88, 0xCA, 0x2A, 0x32, 0xAE, 0xFC, 0xC0, 0x00, 0xFF]

byte = st.integers(0, 255)


@st.composite
def deep_state_command(draw: st.DrawFn) -> bytes:
    """A well-formed command that moves the card somewhere interesting."""
    kind = draw(st.sampled_from(["aid", "ef", "verify", "query", "read", "read", "sign",
                                 "change", "challenge", "data", "record"]))
    if kind == "aid":
        return A.select_aid(draw(st.sampled_from(AIDS)))
    if kind == "ef":
        return A.select_ef(draw(st.sampled_from(FIDS)))
    if kind == "verify":
        return A.verify(draw(st.sampled_from(SECRETS)).decode())
    if kind == "query":
        return A.verify()
    if kind == "read":
        offset = draw(st.one_of(st.integers(0, 600), st.integers(0, 0x7FFF)))
        return A.read_binary(offset, draw(byte))
    if kind == "challenge":
        return A.get_challenge(draw(byte))
    if kind == "data":
        return A.get_data(draw(st.sampled_from([0x0045, 0x00F0, 0x00F2, 0x5F51, 0x00F8])))
    if kind == "record":
        return bytes([0x00, 0xB2, draw(st.integers(0, 3)), draw(byte), 0x00])
    if kind == "sign":
        return A.compute_signature(A.digest_info(b"m"), p1=draw(st.integers(0, 6)),
                                   p2=draw(st.sampled_from([0x00, 0x80, 0x97, 0x9A])))
    return draw(st.sampled_from([A.change_reference_data, A.change_key]))(
        draw(st.sampled_from(SECRETS)).decode()
    )


@st.composite
def mangled_command(draw: st.DrawFn) -> bytes:
    """A header with a body in any of the ISO forms, or a deliberately wrong one."""
    cla = draw(st.one_of(st.sampled_from([0x00, 0x80, 0x0C, 0x84, 0x01, 0x10, 0x90]), byte))
    ins = draw(st.one_of(st.sampled_from(INS), byte))
    header = bytes([cla, ins, draw(byte), draw(byte)])
    data = draw(st.one_of(st.sampled_from(SECRETS), st.binary(max_size=300)))
    form = draw(st.sampled_from(["case1", "case2", "case3", "case4", "ext2", "ext3", "ext4",
                                 "lying_lc", "truncated", "ext_lying"]))
    lc = len(data) & 0xFF
    if form == "case1":
        return header
    if form == "case2":
        return header + bytes([draw(byte)])
    if form == "case3":
        return header + bytes([lc]) + data[:lc]
    if form == "case4":
        return header + bytes([lc]) + data[:lc] + bytes([draw(byte)])
    if form == "ext2":
        return header + b"\x00" + draw(st.binary(min_size=2, max_size=2))
    if form == "ext3":
        return header + b"\x00" + len(data).to_bytes(2, "big") + data
    if form == "ext4":
        return header + b"\x00" + len(data).to_bytes(2, "big") + data + draw(
            st.binary(min_size=2, max_size=2))
    if form == "lying_lc":
        return header + bytes([draw(byte)]) + data
    if form == "truncated":
        return header[: draw(st.integers(0, 3))]
    return header + b"\x00" + draw(st.binary(min_size=2, max_size=2)) + data


#: Paths into the states worth fuzzing: an AP open, a PIN verified, a data or key EF current.
PREFIXES: list[list[bytes]] = [
    [],
    [A.select_aid(A.JPKI), A.select_ef(0x0018), A.verify("1234"), A.select_ef(0x0017)],
    [A.select_aid(A.JPKI), A.select_ef(0x001B), A.verify("ABC123"), A.select_ef(0x0001)],
    [A.select_aid(A.SUPPORT), A.select_ef(0x0011), A.verify("1234"), A.select_ef(0x0002)],
    [A.select_aid(A.FACE), A.select_ef(0x0013), A.verify("123456789018"), A.select_ef(0x0002)],
    [A.select_aid(A.COMMON), A.select_ef(0x0001)],
    [A.select_aid(A.JUKI), A.select_ef(0x001C), A.verify("1234")],
]

commands = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(PREFIXES),
    st.lists(
        st.one_of(deep_state_command(), deep_state_command(), mangled_command(),
                  st.binary(max_size=64)),
        min_size=1, max_size=40,
    ),
)


def _options(profile: str) -> dict[str, object]:
    if profile == "slow":
        return {"apdu_delay_s": 0.0}
    if profile == "flaky":
        return {"drop_after": 7}
    return {}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=st.sampled_from(PROFILES), sequence=commands)
def test_every_answer_is_a_valid_status_word(
    sim_pki: TestPki, profile: str, sequence: list[bytes]
) -> None:
    card = make_card(profile, pki_dir=sim_pki.directory, **_options(profile))
    for apdu in sequence:
        try:
            response = card.process(apdu)
        except LinkDropped:
            assert profile == "flaky"
            card.reset()
            continue
        assert len(response) >= 2
        sw = int.from_bytes(response[-2:], "big")
        assert sw in ALLOWED_SW, f"{apdu[:4].hex()} (+{len(apdu) - 4}) -> {sw:04X}"
        if sw != 0x9000:
            assert len(response) == 2, f"{sw:04X} came with data"
        assert len(response) <= 65_535


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=600))
def test_pure_noise_never_crashes(sim_pki: TestPki, raw: bytes) -> None:
    card = make_card("standard", pki_dir=sim_pki.directory)
    response = card.process(raw)
    assert len(response) >= 2
    assert int.from_bytes(response[-2:], "big") in ALLOWED_SW
