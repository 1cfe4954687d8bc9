"""Extreme values through all six stages: the run completes and numpy prints no warning.

Every numeric column of every table (raw sources, features, scores, labels, live traffic) gets
float64's extremes (+-1e308, +-1.797e308, +-inf, 5e-324, 1e300) or int64's (+-9.2e18) on every
7th/11th row; production flips the sign of a third of them, so stages 1, 2 and 4 compare
differences that overflow float64 and stage 5 measures drift between samples whose sums,
squares and prefix sums overflow. A real `python -m mlcheck` process must leave stderr empty
(overflow is expected and handled: a statistic beyond float64 is inf, never a warning).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from robustness_support import Outcome, Project, run_processes

from mlcheck.drift import NumericReference, finite_sorted
from mlcheck.results import STAGE_ORDER

FLOATS = np.array([1e308, -1e308, np.inf, -np.inf, 1.7976931348623157e308, -1.7976931348623157e308])
FLOATS = np.append(FLOATS, [5e-324, 1e300])
INTS = np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min, 2**62, -(2**62)], dtype=np.int64)
ROLES = {"application_id", "customer_id", "decision", "fold", "defaulted"}


def _extreme(values: np.ndarray, flip: bool) -> np.ndarray:
    """`values` with extremes on every 7th (float) or 11th (integer) row, in key order."""
    out = values.copy()
    table = FLOATS if out.dtype.kind == "f" else INTS
    rows = np.arange(0, len(out), 7 if out.dtype.kind == "f" else 11)
    out[rows] = table[np.arange(len(rows)) % len(table)]
    if flip:  # production: a third of the extremes change sign (int64 min has no opposite)
        out[rows[::3]] = -out[rows[::3]] if out.dtype.kind == "f" else out[rows[::3]] // 2
    return out


def _make_extreme(p: Project, regression: bool) -> None:
    """Every numeric non-key column of every table, scores and regression labels included."""
    for name, table in list(p.files.items()):
        if not isinstance(table, pa.Table):
            continue
        order = np.argsort(table["application_id"].to_numpy())  # same rows get the same values
        for column in table.column_names:
            kind = table.schema.field(column).type
            is_label = regression and column == "defaulted"
            if column in ROLES and not is_label:
                continue
            if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
                continue
            values = table[column].to_numpy()[order]
            values = values.astype(np.float64) if is_label else values
            changed = np.empty_like(values)
            changed[order] = _extreme(values, flip=name.startswith("production"))
            p.set_column(name, column, pa.array(changed))
    if regression:
        p.checklist["task"] = "regression"
        p.checklist["columns"].pop("prediction")
        p.checklist["stages"]["performance_drop"]["metric"] = "rmse"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    runs = []
    for task in ("binary", "regression"):
        project = Project(tmp_path_factory.mktemp(task))
        _make_extreme(project, regression=task == "regression")
        runs.append((project.write(), ("--keep-going",)))
    return dict(zip(("binary", "regression"), run_processes(runs, workers=2), strict=True))


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_extreme_values_leave_stderr_empty(outcomes: dict[str, Outcome], task: str) -> None:
    outcome = outcomes[task]
    assert outcome.stderr == "", outcome.stderr
    assert outcome.code in (0, 1)
    assert [s["id"] for s in outcome.report["stages"]] == list(STAGE_ORDER)
    ran = [s for s in outcome.report["stages"] if s["status"] not in ("skipped", "not_run")]
    assert len(ran) == len(STAGE_ORDER)
    assert not [c["id"] for c in outcome.checks() if c["status"] == "error"]


def test_extreme_values_are_found_as_differences(outcomes: dict[str, Outcome]) -> None:
    """Sign flips of 1e308 are differences (beyond float64: max |diff| is inf), not noise."""
    checks = outcomes["binary"].checks()
    raw = [c for c in checks if c["id"] == "RAW010" and c["column"] == "income"]
    assert raw and raw[0]["status"] == "fail"
    scores = next(c for c in checks if c["id"] == "PRD004")
    assert scores["status"] == "fail"
    assert scores["details"]["max_abs_diff"] == "inf"  # 1e308 - (-1e308) exceeds float64
    assert isinstance(scores["details"]["mean_abs_diff"], float)  # finite: computed scaled


def test_drift_of_extreme_samples_is_scale_free() -> None:
    """Wasserstein / sd and KS do not change when both samples are multiplied by 2**900 (an
    exact scaling that pushes squares and prefix sums past float64), checked against scipy."""
    from scipy import stats

    rng = np.random.default_rng(7)
    research, live = rng.normal(0, 1, 500), rng.normal(0.3, 1.2, 400)
    expected_w = stats.wasserstein_distance(research, live) / np.std(research, ddof=1)
    expected_ks = stats.ks_2samp(research, live).statistic
    for factor in (1.0, 2.0**900, -(2.0**1000)):
        with np.errstate(over="raise", invalid="raise"):
            found = NumericReference(finite_sorted(research * factor)).compare(
                np.sort(live * factor)
            )
        assert found is not None
        assert found.wasserstein == pytest.approx(expected_w, rel=1e-9)
        assert found.ks == pytest.approx(expected_ks, abs=1e-12)


def test_drift_clips_live_values_far_beyond_research() -> None:
    """Live values of 1e308 against research near 0: finite, enormous drift, no overflow."""
    research = np.sort(np.random.default_rng(1).normal(0, 1, 300))
    live = np.sort(np.concatenate([research[:200], np.full(100, 1e308)]))
    with np.errstate(over="raise", invalid="raise"):
        found = NumericReference(research).compare(live)
    assert found is not None and np.isfinite(found.wasserstein) and found.wasserstein > 1e200
