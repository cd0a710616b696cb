"""A card that answers nonsense: every operation ends in a typed error of the tree, never an
unhandled exception, and a VERIFY is never sent unless the answer before it was a count."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.card.layout import PinKind
from device.card.reading import identity_check, read_certificate, tap_to_ready
from device.card.session import CardSession
from drivers.transport.base import CardTransport
from madoguchi.errors import MadoguchiError

#: Status words a lying card might use, weighted towards the ones the session branches on.
WORDS = st.sampled_from(
    [0x9000, 0x9000, 0x9000, 0x6282, 0x63C3, 0x63C1, 0x63C0, 0x6300, 0x6984, 0x6982, 0x6A82,
     0x6A86, 0x6B00, 0x6700, 0x6C10, 0x6D00, 0x6F00, 0x6A88, 0x6A81]
)
ANSWER = st.one_of(
    st.tuples(st.binary(max_size=300), WORDS).map(lambda t: t[0] + t[1].to_bytes(2, "big")),
    st.binary(max_size=4),
)


class ScriptedCard(CardTransport):
    """Answers each command with the next scripted response; records what was sent."""

    def __init__(self, answers: list[bytes]) -> None:
        super().__init__(reader_name="scripted", atr=bytes.fromhex("3BE000FF8131FE4514"))
        self._answers = answers
        self.sent: list[bytes] = []
        self.words: list[int | None] = []

    def _transmit_raw(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        answer = self._answers.pop(0) if self._answers else b"\x90\x00"
        self.words.append((answer[-2] << 8) | answer[-1] if len(answer) >= 2 else None)
        return answer


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ANSWER, max_size=60), st.sampled_from(["tap", "identity", "cert", "verify"]))
def test_nonsense_answers_give_typed_errors(answers: list[bytes], operation: str) -> None:
    card = ScriptedCard(list(answers))
    session = CardSession(card)
    try:
        if operation == "tap":
            tap_to_ready(session)
        elif operation == "identity":
            identity_check(session, bytearray(b"60040120344321"), None)
        elif operation == "cert":
            read_certificate(session, 0x000A)
        else:
            session.verify(PinKind.JPKI_AUTH, bytearray(b"1234"))
    except MadoguchiError as exc:
        message = str(exc)
        assert message
    # PIN safety holds whatever the card says: a VERIFY with data only right after a query
    # that answered a count of 2 or more (no confirmation was given), or "no counter" for a
    # 照合番号 key, whose limit is unknown.
    for index, command in enumerate(card.sent):
        if command[:4] == b"\x00\x20\x00\x80" and len(command) > 4:
            assert card.sent[index - 1] == b"\x00\x20\x00\x80"
            word = card.words[index - 1]
            assert word is not None
            counted = word >> 4 == 0x63C and word & 0xF >= 2
            assert counted or (word == 0x6300 and operation == "identity")
