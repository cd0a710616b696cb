"""``madoguchi bench card``: the figures exist and are consistent (speed is never asserted)."""

from __future__ import annotations

import argparse

import pytest

from drivers.simcard.pki import TestPki
from madoguchi.bench import card as bench
from tests.support.vpcd import vpcd_port

KEYS = {
    "tap_to_ready_apdus", "identity_check_apdus", "tap_to_ready_ms_wall_p50",
    "overhead_per_apdu_ms_p50", "tap_to_ready_ms_modeled_106k", "tap_to_ready_ms_modeled_424k",
    "myna_tap_to_ready_apdus", "card_face_decode_ms_p50",
}


def test_model_matches_the_references_back_of_envelope() -> None:
    # §12: a 258-byte response is about 25 ms of air time at 106 kbit/s, 6 ms at 424.
    air_106 = bench.modeled_ms([(0, 258)], 106) - bench.READER_OVERHEAD_MS
    air_424 = bench.modeled_ms([(0, 258)], 424) - bench.READER_OVERHEAD_MS
    assert 24 < air_106 < 29
    assert 6 < air_424 < 7.5
    assert bench.modeled_ms([], 106) == 0


def test_myna_sequences_follow_the_reference() -> None:
    # §7.2 B: 3 AIDs + 7 x (SELECT EF + query) + 2 token = 19; 住基 the TRET way adds 3;
    # the 共通AP expiry record adds SELECT EF + READ RECORD (its AID is the 住基 one).
    assert len(bench.myna_tap_to_ready_sequence()) == 19 + 3 + 2
    # §9.2: 3 + 1 + 1 + ceil((L - 7) / 256)
    assert len(bench.myna_auth_cert_sequence(1300)) == 5 + 6


@pytest.mark.pcsc
def test_bench_runs_through_pcsc(sim_pki: TestPki) -> None:
    args = argparse.Namespace(iterations=2, port=vpcd_port(), pki_dir=sim_pki.directory)
    result = bench.run(args)
    assert set(result) >= KEYS
    assert result["replays_answered"] is True
    assert result["tap_to_ready_apdus"] <= 16
    assert result["identity_check_apdus"] <= 30
    assert result["myna_tap_to_ready_apdus"] > result["tap_to_ready_apdus"]
    assert result["tap_to_ready_ms_modeled_106k"] > result["tap_to_ready_ms_modeled_424k"]
    assert result["card_face_decode_ms_p50"] > 0  # the photo really was decoded
