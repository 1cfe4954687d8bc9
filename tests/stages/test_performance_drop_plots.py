"""Plot data of stage 5's drift checks: research vs live counts on shared bins (details.histogram).

The HTML report draws these; the scenarios come from test_performance_drop.py (a simulated
scorecard whose research and live rows are spelled out there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_performance_drop import (
    by_column,
    context,
    live_of,
    one,
    run,
    simulate,
    write_scenario,
)

from mlcheck.results import Status
from mlcheck.stages.performance_drop import PLOT_BINS, plot_histogram


def test_plot_histogram_counts_match_numpy_with_tails_in_the_end_bins() -> None:
    rng = np.random.default_rng(3)
    reference, live = rng.normal(0, 1, 2000), rng.normal(0.5, 2, 1000)
    live[:3] = [np.nan, np.inf, 1e9]  # non-finite values are left out; 1e9 lands in the last bin
    found = plot_histogram(reference, live)
    edges = found["edges"]
    finite = live[2:]
    q = {"method": "inverted_cdf"}  # order statistics: no interpolation
    low = min(np.quantile(reference, 0.01, **q), np.quantile(finite, 0.01, **q))
    high = max(np.quantile(reference, 0.99, **q), np.quantile(finite, 0.99, **q))
    assert edges == pytest.approx(np.linspace(low, high, PLOT_BINS + 1))
    assert list(found["research"]) == list(np.histogram(np.clip(reference, low, high), edges)[0])
    assert int(np.sum(found["live"])) == 998  # 1000 minus NaN and inf
    assert list(found["live"]) == list(np.histogram(np.clip(finite, low, high), edges)[0])
    assert found["live"][-1] == np.sum(finite >= edges[-2])


def test_plot_histogram_gives_whole_numbers_one_bin_each() -> None:
    reference = np.array([0, 0, 1, 2, 2, 2, 3], dtype=float)
    live = np.array([0, 1, 1, 1, 5], dtype=float)
    found = plot_histogram(reference, live)
    low, high = 0, 5  # the 99th percentiles (order statistics) are 3 and 5
    assert list(found["edges"]) == list(np.arange(low - 0.5, np.ceil(high) + 1.0))  # -0.5 .. 5.5
    assert list(found["research"]) == [2, 1, 3, 1, 0, 0]
    assert list(found["live"]) == [1, 3, 0, 0, 0, 1]


def test_plot_histogram_of_values_near_the_float_limits_stays_finite() -> None:
    huge = np.finfo(np.float64).max
    found = plot_histogram(np.array([-huge, 0.0, huge]), np.array([-huge, huge, huge]))
    assert np.all(np.isfinite(found["edges"])) and np.all(np.diff(found["edges"]) > 0)
    assert found["research"][0] == 1 and found["research"][-1] == 1
    assert int(np.sum(found["research"])) == 3 and int(np.sum(found["live"])) == 3


def test_plot_histogram_of_a_constant_or_empty_sample() -> None:
    constant = plot_histogram(np.full(5, 2.5), np.full(3, 2.5))
    assert list(constant["research"]) == [5] and list(constant["live"]) == [3]
    assert plot_histogram(np.array([np.nan]), np.ones(3)) == {
        "edges": [],
        "research": [],
        "live": [],
    }


def test_drifted_features_carry_a_histogram_and_quiet_ones_do_not(tmp_path: Path) -> None:
    """Defect: x1 moved by 0.5 sd; x2 and cat untouched (categorical features have no bins)."""
    findings = by_column(run("PERF002", context(write_scenario(tmp_path, live_of(x1_shift=0.5)))))
    x1 = findings["x1"]
    assert x1.status is Status.WARN
    histogram = x1.details["histogram"]
    assert int(np.sum(histogram["research"])) == x1.details["n_reference"] == 1800
    assert int(np.sum(histogram["live"])) == x1.details["n_live"] == 3000
    train, live = simulate(np.random.default_rng(0), 3000)["x1"][:1800], live_of(x1_shift=0.5)
    assert histogram == _same(plot_histogram(train, live["x1"]))
    # the live mass sits further right: its mean bin index is higher
    centres = np.arange(PLOT_BINS)
    assert np.average(centres, weights=histogram["live"]) > np.average(
        centres, weights=histogram["research"]
    )
    assert "histogram" not in findings["x2"].details
    assert "histogram" not in findings["cat"].details


def test_the_score_always_carries_a_histogram_of_its_valid_live_rows(tmp_path: Path) -> None:
    found = one("PERF003", context(write_scenario(tmp_path, live_of())))
    assert found.status is Status.PASS
    histogram = found.details["histogram"]
    assert int(np.sum(histogram["research"])) == found.details["n_reference"]
    assert int(np.sum(histogram["live"])) == found.details["n_live"] == 3000
    assert len(histogram["edges"]) == PLOT_BINS + 1


def _same(found: dict[str, object]) -> dict[str, object]:
    """Arrays compared by value: pytest.approx for the edges, lists for the counts."""
    return {
        "edges": pytest.approx(found["edges"]),
        "research": pytest.approx(found["research"]),
        "live": pytest.approx(found["live"]),
    }
