"""``madoguchi bench pinpad`` runs end to end and reports its keys (figures are not asserted)."""

from __future__ import annotations

import argparse

from madoguchi.bench import pinpad


def test_bench_reports_every_required_key() -> None:
    parser = argparse.ArgumentParser()
    pinpad.add_arguments(parser)
    args = parser.parse_args(["--keys", "60", "--latency-keys", "4", "--rest-seconds", "0.2"])
    result = pinpad.run(args)
    for key in ("key_to_event_ms_p50", "key_to_event_ms_p99", "rest_cpu_percent",
                "keys_lost", "keys_doubled"):
        assert key in result
    assert result["typing_run"]["keys"] == 60
    assert result["keys_lost"] == 0
    assert result["keys_doubled"] == 0
    assert result["typing_run"]["shorts"] == 0
