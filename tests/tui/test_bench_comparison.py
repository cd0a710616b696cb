"""``bench tui``'s comparison figure runs end to end on the real app (figures not asserted)."""

from __future__ import annotations

from madoguchi.bench import comparison


def test_the_comparison_render_is_measured_per_run() -> None:
    timings = comparison.measure(2, (80, 24))
    assert len(timings) == 2
    assert all(timing > 0 for timing in timings)  # the photo came after the card read
    figures = comparison.figures(timings)
    assert set(figures) == {"comparison_render_ms_p50", "comparison_render_ms_p95",
                            "comparison_runs"}
    assert figures["comparison_runs"] == 2
