"""mlcheck.estimation (CBPE): the calibrator against scikit-learn's isotonic regression, the
expected-pairs AUC against a brute-force double sum, point estimates against the expected
confusion matrix by hand, and sampling errors against a simulation of the labels."""

from __future__ import annotations

import math
from pathlib import Path

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


# --------------------------------------------------------------------------- multiclass

MULTICLASS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "log_loss")
NANNYML_DATA = Path(__file__).parent / "data" / "nannyml_multiclass.parquet"


def multiclass_research(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes; the model's probabilities are the truth's sharpened (p**2, renormalised)
    and rounded to 0.01 (ties), so each one-vs-rest calibration has something to undo."""
    rng = np.random.default_rng(seed)
    truth = rng.dirichlet([1.0, 1.5, 2.0], n)
    y = (truth.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    sharp = truth**2 / (truth**2).sum(axis=1, keepdims=True)
    return np.round(sharp, 2), y.astype(np.float64)


def test_class_calibrators_are_isotonic_one_vs_rest_then_renormalised() -> None:
    """Each column: scikit-learn's IsotonicRegression(out_of_bounds="clip") of the column against
    `y == j`; then every row divided by its sum (NannyML's multiclass calibration)."""
    score, y = multiclass_research()
    calibrators = E.fit_class_calibrators(score, y)
    probe = np.clip(score[:500] + np.random.default_rng(1).normal(0, 0.05, (500, 3)), -0.1, 1.1)
    columns = [
        IsotonicRegression(out_of_bounds="clip").fit(score[:, j], y == j).predict(probe[:, j])
        for j in range(3)
    ]
    expected = np.column_stack(columns)
    expected /= expected.sum(axis=1, keepdims=True)
    assert calibrators(probe) == pytest.approx(expected, abs=1e-12)
    assert calibrators(probe).sum(axis=1) == pytest.approx(np.ones(500))


def test_class_calibrators_leave_out_unlabelled_rows_and_spread_an_all_zero_row() -> None:
    """The unlabelled fourth row is not fitted on (three distinct scores per class remain). A
    row that every class calibrator puts at 0 carries no information: it becomes uniform."""
    score = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.5, 0.5]])
    y = np.array([0.0, 0.0, 1.0, np.nan])
    calibrators = E.fit_class_calibrators(score, y)
    assert [c.scores.tolist() for c in calibrators.per_class] == [[0.2, 0.8, 0.9], [0.1, 0.2, 0.8]]
    never = E.Calibrator(np.array([0.0, 1.0]), np.array([0.0, 0.0]))
    assert E.ClassCalibrators((never, never))(np.array([[0.3, 0.7]])).tolist() == [[0.5, 0.5]]


def test_multiclass_point_estimates_from_the_expected_confusion_matrix() -> None:
    """Four rows, three classes, by hand. Predicted: 0, 0, 1, 2 (predicted counts 2, 1, 1).
    Expected true positives per class: TP0 = .7 + .5 = 1.2, TP1 = .6, TP2 = .5; expected
    supports N = column sums of p = (1.5, 1.5, 1.0)."""
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.2, 0.6, 0.2], [0.1, 0.4, 0.5]])
    pred = np.array([0, 0, 1, 2])
    tp, support, predicted = (
        np.array([1.2, 0.6, 0.5]),
        np.array([1.5, 1.5, 1.0]),
        np.array([2, 1, 1]),
    )
    expected = {
        "accuracy": tp.sum() / 4,
        "macro_precision": np.mean(tp / predicted),
        "macro_recall": np.mean(tp / support),
        "macro_f1": np.mean(2 * tp / (predicted + support)),
        "log_loss": -np.mean(np.sum(p * np.log(p), axis=1)),  # the scores are p themselves
    }
    for name, value in expected.items():
        found = E.estimate(M.metric_info("multiclass", name), p, pred, p, 0.95)
        assert found.value == pytest.approx(value, rel=1e-12), name
        assert found.method == "cbpe" and found.n == 4


def test_multiclass_accuracy_sampling_error_is_the_bernoulli_sum() -> None:
    """Accuracy is a sum of independent Bernoulli(p of the predicted class) over n: its
    variance is sum q(1 - q) / n² exactly."""
    score, _ = multiclass_research(n=400, seed=3)
    p = score / score.sum(axis=1, keepdims=True)
    pred = np.argmax(score, axis=1)
    q = p[np.arange(400), pred]
    found = E.estimate(M.metric_info("multiclass", "accuracy"), score, pred, p, 0.95)
    assert found.se == pytest.approx(math.sqrt(np.sum(q * (1 - q))) / 400, rel=1e-6)
    assert found.lower == pytest.approx(found.value - 1.959963984540054 * found.se)


@pytest.mark.parametrize("name", MULTICLASS)
def test_multiclass_sampling_error_matches_simulated_labels(name: str) -> None:
    """Draw 2000 label vectors from the calibrated probabilities and score each with the
    realized metric (itself checked against scikit-learn in test_metrics): the estimate is their
    mean and its standard error their spread."""
    score, y = multiclass_research(n=3000, seed=4)
    live, _ = multiclass_research(n=1500, seed=5)
    p = E.fit_class_calibrators(score, y)(live)
    pred = np.argmax(live, axis=1)
    metric = M.metric_info("multiclass", name)
    found = E.estimate(metric, live, pred, p, 0.95)
    rng = np.random.default_rng(6)
    draws = [
        M.compute(
            metric, M.Outcomes((p.cumsum(axis=1) < rng.random((1500, 1))).sum(axis=1), live, pred)
        )
        for _ in range(2000)  # simulated label vectors, not rows
    ]
    assert found.value == pytest.approx(np.mean(draws), abs=0.15 * found.se)
    assert found.se == pytest.approx(np.std(draws, ddof=1), rel=0.08)


def nannyml_chunks() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Research scores/labels, live scores/predictions and the live labels (kept out of the
    estimate) of the committed NannyML sample."""
    import pyarrow.parquet as pq

    table = pq.read_table(NANNYML_DATA)
    analysis = np.asarray(table.column("analysis").to_numpy(), dtype=bool)
    score = np.column_stack([table.column(f"p_{c}").to_numpy() / 100 for c in CARDS])
    y = np.asarray(table.column("y_true").combine_chunks().indices, dtype=np.float64)
    pred = np.asarray(table.column("y_pred").combine_chunks().indices, dtype=np.int64)
    return score[~analysis], y[~analysis], score[analysis], pred[analysis], y[analysis]


# The class order of the sample's columns and dictionaries (NannyML's own column order).
CARDS = ("prepaid_card", "highstreet_card", "upmarket_card")
# NannyML 0.13.1 CBPE on the committed sample (every third row of NannyML's synthetic multiclass
# dataset: reference 20,000 rows, analysis 20,000 rows), chunk_size=2000, metrics accuracy, f1,
# precision, recall (macro), in a separate environment: estimated value per analysis chunk.
NANNYML_ESTIMATES = {
    "accuracy": [
        0.755125,
        0.761533,
        0.764178,
        0.754611,
        0.755947,
        0.639847,
        0.639529,
        0.640372,
        0.644702,
        0.643561,
    ],
    "macro_f1": [
        0.754623,
        0.761479,
        0.764207,
        0.754411,
        0.755917,
        0.634246,
        0.633556,
        0.634987,
        0.639977,
        0.634746,
    ],
    "macro_precision": [
        0.754853,
        0.761507,
        0.764243,
        0.754436,
        0.755942,
        0.635919,
        0.635502,
        0.637287,
        0.641308,
        0.637514,
    ],
    "macro_recall": [
        0.754455,
        0.761591,
        0.764254,
        0.754449,
        0.755948,
        0.633852,
        0.632777,
        0.634775,
        0.639793,
        0.634041,
    ],
}
# NannyML's sampling error of each metric (the same for every chunk of 2000 rows).
NANNYML_SAMPLING_ERROR = {
    "accuracy": 0.009622,
    "macro_f1": 0.009789,
    "macro_precision": 0.00962,
    "macro_recall": 0.009618,
}


@pytest.mark.parametrize("name", sorted(NANNYML_ESTIMATES))
def test_multiclass_estimates_land_within_half_a_standard_error_of_nannyml(name: str) -> None:
    """NannyML's synthetic multiclass ("credit card") data, a sample committed under
    tests/data (from NannyML 0.13.1's bundled `mc_reference.csv`, `mc_analysis.csv` and
    `mc_analysis_gt.csv`, Apache-2.0; every third row, probabilities kept as their 0.01
    percentages). Calibrated on the reference labels, estimated per chunk of 2000 analysis rows
    without labels: every chunk within half a standard error of NannyML's estimate. (NannyML
    skips calibrating a class whose cross-validated calibration error does not improve,
    here highstreet_card; mlcheck always calibrates, which costs about 0.3 standard errors.)
    Our standard error agrees with NannyML's within 15%."""
    research_score, research_y, live_score, live_pred, _ = nannyml_chunks()
    p = E.fit_class_calibrators(research_score, research_y)(live_score)
    metric = M.metric_info("multiclass", name)
    for i, reference in enumerate(NANNYML_ESTIMATES[name]):
        rows = slice(2000 * i, 2000 * (i + 1))
        found = E.estimate(metric, live_score[rows], live_pred[rows], p[rows], 0.95)
        assert abs(found.value - reference) <= 0.5 * found.se, (i, found.value, reference)
        assert found.se == pytest.approx(NANNYML_SAMPLING_ERROR[name], rel=0.15)


@pytest.mark.parametrize("name", sorted(NANNYML_ESTIMATES))
def test_multiclass_estimates_track_realized_until_the_concept_changes(name: str) -> None:
    """The labels kept out of the estimate: in the first five chunks (the research relation
    holds) each estimate is within two of its standard errors of the realized metric; in the
    last five the input-outcome relation changed (realized about 0.56), which no estimate from
    scores can see: the estimate still shows a drop of 0.11, but the realized one is larger."""
    research_score, research_y, live_score, live_pred, live_y = nannyml_chunks()
    p = E.fit_class_calibrators(research_score, research_y)(live_score)
    metric = M.metric_info("multiclass", name)
    for i in range(10):
        rows = slice(2000 * i, 2000 * (i + 1))
        found = E.estimate(metric, live_score[rows], live_pred[rows], p[rows], 0.95)
        truth = M.Outcomes(live_y[rows].astype(np.int64), live_score[rows], live_pred[rows])
        realized = M.compute(metric, truth)
        if i < 5:
            assert abs(found.value - realized) <= 2 * found.se, (i, found.value, realized)
        else:
            assert realized < found.value - 4 * found.se < 0.7, (i, found.value, realized)


# The delta method by hand in exact rational arithmetic: S = y @ columns with y ~ Bernoulli(p),
# E[S] = p @ columns, Cov(S) = columns' diag(p(1-p)) columns, and the metric as a function of S.
EXACT_FORMS = {
    "accuracy": (lambda pred, rank: [2 * pred - 1], lambda s, n, k: (n - k + s[0]) / n),
    "precision": (lambda pred, rank: [pred], lambda s, n, k: s[0] / k),
    "recall": (lambda pred, rank: [pred, 1], lambda s, n, k: s[0] / s[1]),
    "f1": (lambda pred, rank: [pred, 1], lambda s, n, k: 2 * s[0] / (k + s[1])),
    "roc_auc": (
        lambda pred, rank: [rank, 1],
        lambda s, n, k: (s[0] - s[1] * (s[1] + 1) / 2) / (s[1] * (n - s[1])),
    ),
}


@pytest.mark.parametrize("name", sorted(EXACT_FORMS))
def test_sampling_error_is_the_delta_method_to_the_last_reported_digit(name: str) -> None:
    """The same delta method computed exactly with fractions from the same float inputs (the
    gradient as an exact central difference with a step of 1e-40, whose error is below any
    float's), against `estimate`: reports show 12 significant digits, so the standard error
    must hold 13. A float central difference held about ten, and which ten depended on the
    order the rows were summed in; shuffled rows now give the same digits."""
    from fractions import Fraction as F

    score, y = research_sample(n=240, seed=4)
    p = E.fit_calibrator(score, y)(score)
    pred = (score >= 0.4).astype(np.int64)
    ranks = M.midranks(score)
    columns_of, of_sums = EXACT_FORMS[name]
    n, k = len(score), int(pred.sum())
    rows = [[F(float(c)) for c in columns_of(int(d), r)] for d, r in zip(pred, ranks, strict=True)]
    weights = [(F(float(q)), F(float(q)) * (1 - F(float(q)))) for q in p]
    m = len(rows[0])
    mean = [sum(w[0] * r[j] for w, r in zip(weights, rows, strict=True)) for j in range(m)]
    cov = [
        [sum(w[1] * r[i] * r[j] for w, r in zip(weights, rows, strict=True)) for j in range(m)]
        for i in range(m)
    ]
    h = F(1, 10**40)
    gradient = []
    for j in range(m):
        up, down = list(mean), list(mean)
        up[j] += h
        down[j] -= h
        gradient.append((of_sums(up, n, k) - of_sums(down, n, k)) / (2 * h))
    variance = sum(gradient[i] * cov[i][j] * gradient[j] for i in range(m) for j in range(m))
    expected = math.sqrt(float(variance))
    metric = M.metric_info("binary", name)
    found = E.estimate(metric, score, pred, p, 0.95)
    assert found.se == pytest.approx(expected, rel=1e-13)
    shuffled = np.random.default_rng(0).permutation(n)
    again = E.estimate(metric, score[shuffled], pred[shuffled], p[shuffled], 0.95)
    assert f"{again.se:.12g}" == f"{found.se:.12g}"
