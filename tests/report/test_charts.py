"""Load-run charts: the histogram counts every sample, the time series plots each one."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from harness.report.charts import latency_histogram, latency_timeline, nice_ticks, percentile

SAMPLES = [(100.0 + i * 0.1, 0.010 + (i % 10) * 0.002) for i in range(200)]


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 99) == 5
    assert percentile(list(range(101)), 95) == 95
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


@pytest.mark.parametrize(
    ("low", "high", "count", "expected"),
    [
        (0, 28, 3, [0, 10, 20, 30]),
        (0, 1, 5, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 0, 5, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (3, 41, 4, [0, 10, 20, 30, 40, 50]),
    ],
)
def test_ticks_are_round_and_cover_the_range(
    low: float, high: float, count: int, expected: list[float]
) -> None:
    assert nice_ticks(low, high, count) == expected


def test_the_histogram_counts_every_sample_and_marks_percentiles() -> None:
    svg = latency_histogram(SAMPLES)
    root = ET.fromstring(svg)
    counts = [int(t.rsplit(": ", 1)[1]) for t in re.findall(r"<title>([^<]*)</title>", svg)]
    assert sum(counts) == len(SAMPLES)
    assert root.get("role") == "img"
    for marker in ("p50 ", "p95 ", "p99 "):
        assert marker in svg
    assert "200 samples" in svg


def test_the_time_series_plots_each_sample() -> None:
    svg = latency_timeline(SAMPLES)
    assert svg.count('class="point"') == len(SAMPLES)
    assert "over 19.9 s" in svg
    ET.fromstring(svg)


def test_no_samples_says_so() -> None:
    assert "no samples" in latency_histogram([])
    assert "no samples" in latency_timeline([])
