"""mlcheck.estimation (CBPE): the calibrator against scikit-learn's isotonic regression, the
expected-pairs AUC against a brute-force double sum, point estimates against the expected
confusion matrix by hand, and sampling errors against a simulation of the labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from mlcheck import estimation as E
from mlcheck import metrics as M


def research_sample(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores on a 0.01 grid (ties) with labels drawn from score**1.5: the scores are
    miscalibrated on purpose, so the calibration has something to do."""
    rng = np.random.default_rng(seed)
    score = np.round(rng.beta(2, 3, n), 2)
    return score, (rng.random(n) < score**1.5).astype(np.int64)


def test_calibrator_matches_sklearn_isotonic_with_ties_and_clipping() -> None:
    score, y = research_sample()
    calibrator = E.fit_calibrator(score, y)
    reference = IsotonicRegression(out_of_bounds="clip").fit(score, y)
    probe = np.concatenate([np.linspace(-0.5, 1.5, 401), score])
    assert calibrator(probe) == pytest.approx(reference.predict(probe), abs=1e-12)


def test_calibrator_pools_tied_scores_into_one_value() -> None:
    """Scores 0.3 (labels 1, 0, 0) and 0.6 (labels 0, 1): each tie group enters as its mean
    (1/3, 1/2), already increasing. Scores 0.3 (1, 1) and 0.6 (0, 1): means 1 and 1/2 decrease,
    so the two groups are pooled, weighted by their sizes: (1 + 1 + 0 + 1) / 4 = 0.75."""
    calibrator = E.fit_calibrator(np.array([0.3, 0.3, 0.3, 0.6, 0.6]), np.array([1, 0, 0, 0, 1]))
    assert calibrator.scores.tolist() == [0.3, 0.6]
    assert calibrator.probabilities.tolist() == pytest.approx([1 / 3, 1 / 2])
    flipped = E.fit_calibrator(np.array([0.3, 0.3, 0.6, 0.6]), np.array([1, 1, 0, 1]))
    assert flipped.probabilities.tolist() == pytest.approx([0.75, 0.75])


def test_calibrator_needs_rows() -> None:
    with pytest.raises(ValueError, match="no research rows"):
        E.fit_calibrator(np.array([np.nan]), np.array([1]))


def test_expected_auc_equals_the_pairwise_definition() -> None:
    """sum_{i != j} p_i (1 - p_j) ([s_i > s_j] + [s_i == s_j] / 2) / sum_{i != j} p_i (1 - p_j)."""
    rng = np.random.default_rng(4)
    score = np.round(rng.random(200), 1)  # heavy ties
    p = rng.random(200)
    i, j = np.meshgrid(np.arange(200), np.arange(200), indexing="ij")
    weight = p[i] * (1 - p[j]) * (i != j)
    ordered = (score[i] > score[j]) + 0.5 * (score[i] == score[j])
    assert E.expected_roc_auc(score, p) == pytest.approx((weight * ordered).sum() / weight.sum())


def test_point_estimates_from_the_expected_confusion_matrix() -> None:
    """Four rows, calibrated p = (0.9, 0.6, 0.3, 0.1), decisions (1, 1, 0, 0):
    E[tp] = 1.5, E[fp] = 0.5, E[fn] = 0.4, E[tn] = 1.6, E[positives] = 1.9."""
    score = np.array([0.8, 0.7, 0.4, 0.2])
    p = np.array([0.9, 0.6, 0.3, 0.1])
    pred = np.array([1, 1, 0, 0])
    by_hand = {
        "accuracy": (1.5 + 1.6) / 4,
        "precision": 1.5 / 2,
        "recall": 1.5 / 1.9,
        "f1": 3.0 / (3.0 + 0.5 + 0.4),
        "brier": float(np.mean(p * (1 - score) ** 2 + (1 - p) * score**2)),
        "log_loss": float(np.mean(-(p * np.log(score) + (1 - p) * np.log(1 - score)))),
    }
    for name, value in by_hand.items():
        found = E.estimate(M.metric_info("binary", name), score, pred, p, 0.95)
        assert found.value == pytest.approx(value, rel=1e-12), name
        assert found.method == "cbpe" and found.n == 4


@pytest.mark.parametrize("name", E.ESTIMABLE)
def test_sampling_error_matches_simulated_labels(name: str) -> None:
    """Draw labels ~ Bernoulli(p) 3000 times and compute the realized metric (itself checked
    against scikit-learn): its mean is the estimate and its spread the reported standard error."""
    score, y = research_sample(n=400, seed=1)
    p = E.fit_calibrator(score, y)(score)
    pred = (score >= 0.4).astype(np.int64)
    metric = M.metric_info("binary", name)
    found = E.estimate(metric, score, pred, p, 0.95, seed=3)
    draws = np.random.default_rng(5).random((3000, len(p))) < p
    realized = np.array(
        [M.compute(metric, M.Outcomes(d.astype(np.int64), score, pred)) for d in draws]
    )
    assert found.value == pytest.approx(np.nanmean(realized), abs=0.2 * found.se)
    assert found.se == pytest.approx(np.nanstd(realized), rel=0.08)
    assert found.lower < found.value < found.upper


def test_interval_is_estimate_plus_minus_z_se_within_the_metric_range() -> None:
    score = np.array([0.95, 0.9, 0.85, 0.2, 0.1])
    p = np.array([0.99, 0.99, 0.98, 0.01, 0.02])
    found = E.estimate(M.metric_info("binary", "roc_auc"), score, (score > 0.5).astype(int), p, 0.9)
    assert found.upper <= 1.0
    assert found.lower == pytest.approx(found.value - 1.6448536269514722 * found.se)


def test_estimation_is_deterministic_and_refuses_other_tasks() -> None:
    score, y = research_sample(n=300)
    p = E.fit_calibrator(score, y)(score)
    pred = (score >= 0.5).astype(np.int64)
    ap = M.metric_info("binary", "average_precision")
    assert E.estimate(ap, score, pred, p, 0.95, seed=1) == E.estimate(
        ap, score, pred, p, 0.95, seed=1
    )
    with pytest.raises(ValueError, match="cannot be estimated"):
        E.estimate(M.metric_info("regression", "mae"), score, pred, p, 0.95)
    empty = E.estimate(ap, score[:0], pred[:0], p[:0], 0.95)
    assert empty.n == 0 and math.isnan(empty.value)


def test_estimate_tracks_performance_under_covariate_shift() -> None:
    """Simulated covariate shift with a fixed score-outcome relation (the CBPE assumption):
    live rows concentrate where the model is least certain, so accuracy falls; the estimate
    from research calibration follows the realized value within its interval."""
    rng = np.random.default_rng(11)
    research_score = rng.beta(2, 2, 5000)
    research_y = (rng.random(5000) < research_score).astype(np.int64)
    calibrator = E.fit_calibrator(research_score, research_y)
    accuracy = M.metric_info("binary", "accuracy")
    for a in (2, 6, 12):  # ever more live rows near 0.5
        live = rng.beta(a, a, 4000)
        truth = (rng.random(4000) < live).astype(np.int64)
        pred = (live >= 0.5).astype(np.int64)
        found = E.estimate(accuracy, live, pred, calibrator(live), 0.99)
        realized = M.compute(accuracy, M.Outcomes(truth, live, pred))
        assert found.lower <= realized <= found.upper, a


def test_calibrating_many_rows_sorted_first_gives_the_same_probabilities() -> None:
    """Past the size where rows are sorted before interpolating: every probability equals
    np.interp's, row by row (NaN scores stay NaN, scores outside the range are clipped)."""
    rng = np.random.default_rng(12)
    calibrator = E.Calibrator(np.sort(rng.random(500)), np.sort(rng.random(500)))
    scores = rng.uniform(-0.1, 1.1, E._SORT_BEFORE_INTERP + 7)
    scores[:2] = np.nan
    expected = np.interp(scores, calibrator.scores, calibrator.probabilities)
    np.testing.assert_array_equal(calibrator(scores), expected)
