"""Strange cards through the real stack: pyscard -> pcscd -> vpcd -> a ``defective`` card.

Every defect is read by the PC/SC backend with the test PKI's anchors, and ends as
``test_card_strange_cards.py`` says it must in process; then ``madoguchi card read
--reader`` on the same slot prints the reason and the verdict instead of failing
(what it did with SW 6986 and "CV certificate key id has no digits", issue 14).
Run under ``flock /tmp/madoguchi-pcsc.lock``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from device.card.chip import TrustAnchors
from device.card.reading import identity_check
from device.card.session import CardSession
from drivers import open_reader
from drivers.simcard.names import DEFECTS
from drivers.simcard.pki import TestPki
from madoguchi.cli import main
from tests.support.vpcd import AttachedCard

from .test_card_strange_cards import EXPECTED, assert_soft

pytestmark = pytest.mark.pcsc

Attach = Callable[..., AttachedCard]


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_every_defect_through_pcsc(defect: str, vpcd_card: Attach, sim_pki: TestPki) -> None:
    attached = vpcd_card("defective", defect=defect)
    facts = attached.card.facts
    anchors = TrustAnchors.from_mapping(sim_pki.trust_anchors())
    reader = open_reader("pcsc", name=attached.reader_name)
    try:
        with reader.connect() as transport:
            report = identity_check(
                CardSession(transport), bytearray(facts.verification_code_b.encode()), anchors
            )
    finally:
        reader.close()
    assert_soft(report, defect, facts.name)


@pytest.mark.parametrize(("defect", "words"), [
    ("cv-refused", "SW 6986"),
    ("cv-malformed", "CV certificate key id has no digits"),
    ("cv-bad-signature", "signature does not verify"),
])
def test_card_read_on_the_reader_names_the_reason(
    defect: str, words: str, vpcd_card: Attach, sim_pki: TestPki, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    attached = vpcd_card("defective", defect=defect)
    sim_pki.export_trust_anchors(tmp_path)
    genuine = EXPECTED[defect][0]
    for as_json in (False, True):
        monkeypatch.setattr("sys.stdin",
                            io.StringIO(attached.card.facts.verification_code_b + "\n"))
        code = main(["card", "read", "--basic4", "--card-face", "--reader", attached.reader_name,
                     "--trust-anchors", str(tmp_path), *(["--json"] if as_json else [])])
        out, err = capsys.readouterr()
        assert code == (1 if genuine is False else 0), err
        assert "Traceback" not in err
        if as_json:
            data = json.loads(out)
            assert data["genuine"] is genuine
            assert data["basic4"]["name"] == attached.card.facts.name
        else:
            assert words in out
            assert ("偽造カードの疑い" if genuine is False else "真正性: 確認できません") in out
            assert "券面事項の一致として扱えません" in out
