"""PERF002 numeric drift from values the engine sorted: exact (scipy's KS and Wasserstein) up to
drift.DRIFT_GRID values a side, and past it a rank grid whose reported error bounds hold
against the exact statistics. Scenarios from test_performance_drop.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats
from test_performance_drop import by_column, context, live_of, run, write_scenario

from mlcheck import drift


def _train(tmp_path: Path, name: str) -> np.ndarray:
    """The research training rows' values (the first 60% of research rows are `train`)."""
    values = pq.read_table(tmp_path / "research_features.parquet").column(name).to_numpy()
    return values[: int(0.6 * len(values))]


def test_exact_statistics_are_scipys(tmp_path: Path) -> None:
    """Defect: x1 moved by 0.3 sd in live. Window and chunk KS and Wasserstein (in research sd)
    are scipy's on every value; no approximation is reported."""
    live = live_of(x1_shift=0.3)
    path = write_scenario(tmp_path, live, stage={"chunk": {"size": 1000}})
    x1 = by_column(run("PERF002", context(path)))["x1"]
    train = _train(tmp_path, "x1")
    ks = stats.ks_2samp(train, live["x1"])
    assert x1.details["ks"] == pytest.approx(ks.statistic, abs=1e-15)
    sd = np.std(train, ddof=1)
    expected = stats.wasserstein_distance(train, live["x1"]) / sd
    assert x1.details["wasserstein_sd"] == pytest.approx(expected, rel=1e-12)
    assert x1.details["n_reference"] == len(train) and x1.details["n_live"] == 3000
    assert "approximation" not in x1.details and "rank grid" not in x1.message
    for i, chunk in enumerate(x1.details["chunks"]):
        rows = live["x1"][i * 1000 : (i + 1) * 1000]
        want = stats.wasserstein_distance(train, rows) / sd
        assert chunk["statistic"] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("grid", [100, 700])
def test_rank_grid_bounds_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grid: int) -> None:
    """The same defect with the grid below both sides (1,800 training and 3,000 live values) and
    below or above the 1,000-row chunks: KS and Wasserstein within the reported bounds of
    scipy's exact values, the p-value at the true sizes, the message says so."""
    live = live_of(x1_shift=0.3)
    path = write_scenario(tmp_path, live, stage={"chunk": {"size": 1000}})
    monkeypatch.setattr(drift, "DRIFT_GRID", grid)
    x1 = by_column(run("PERF002", context(path)))["x1"]
    train = _train(tmp_path, "x1")
    note = x1.details["approximation"]
    assert note["method"] == "rank grid" and note["grid"] == grid
    assert note["ks_error"] == pytest.approx(1.0 / grid)
    assert "rank grid" in x1.message
    exact_ks = stats.ks_2samp(train, live["x1"]).statistic
    assert abs(x1.details["ks"] - exact_ks) < note["ks_error"]
    exact_w = stats.wasserstein_distance(train, live["x1"]) / np.std(train, ddof=1)
    assert abs(x1.details["wasserstein_sd"] - exact_w) <= note["wasserstein_sd_error"]
    assert note["wasserstein_sd_error"] < 0.25  # a bound that says something
    n, m = len(train), 3000
    assert (x1.details["n_reference"], x1.details["n_live"]) == (n, m)
    assert x1.details["p_value"] == drift.ks_p_value(x1.details["ks"], n, m)
    for i, chunk in enumerate(x1.details["chunks"]):
        rows = live["x1"][i * 1000 : (i + 1) * 1000]
        want = stats.wasserstein_distance(train, rows) / np.std(train, ddof=1)
        assert abs(chunk["statistic"] - want) <= note["wasserstein_sd_error"]


def test_rank_grid_histogram_counts_stand_for_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drifted feature's plot on a grid: counts scaled to the sides' rows (rounded)."""
    live = live_of(x1_shift=0.6)
    path = write_scenario(tmp_path, live)
    monkeypatch.setattr(drift, "DRIFT_GRID", 200)
    x1 = by_column(run("PERF002", context(path)))["x1"]
    assert x1.status.value != "pass"
    plot = x1.details["histogram"]
    assert abs(int(np.sum(plot["research"])) - 1800) <= len(plot["research"])
    assert abs(int(np.sum(plot["live"])) - 3000) <= len(plot["live"])


def test_grid_errors_by_hand() -> None:
    """Both sides exact: no error; a research grid of 4 points over 0..99: KS 1/4, and the
    Wasserstein bound covers the exact value."""
    from mlcheck.engines.base import SortedValues

    values = np.arange(100, dtype=np.float64)
    live_values = values + 10.0
    exact = SortedValues(100, values)
    reference = drift.NumericReference(values)
    live = SortedValues(100, live_values)
    found = drift.compare_sorted(reference, exact, live)
    assert drift.grid_errors(reference, exact, live, found) == (0.0, 0.0)
    ranks = [math.ceil(100 * i / 4) - 1 for i in range(1, 5)]  # 0-based ranks 24, 49, 74, 99
    grid = SortedValues(100, np.concatenate([[0.0], values[ranks]]))
    prepared = drift.NumericReference(grid.sample)
    approx = drift.compare_sorted(prepared, grid, live)
    ks_error, w_error = drift.grid_errors(prepared, grid, live, approx)
    assert ks_error == 0.25
    assert approx.n_reference == 100 and approx.n_live == 100
    exact_w = 10.0 / np.std(values, ddof=1)
    assert abs(approx.wasserstein - exact_w) <= w_error
    assert abs(approx.ks - 0.1) < ks_error
