"""mlcheck.metrics: every metric against scikit-learn, every interval against a reference
(brute-force DeLong, statsmodels' Wilson, an explicit row bootstrap), and labels-needed against
hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics as skm
from statsmodels.stats.proportion import proportion_confint

from mlcheck import metrics as M
from mlcheck.cli import main


def binary_sample(n: int = 400, seed: int = 0) -> M.Outcomes:
    """Scores rounded to 2 decimals (many ties), labels drawn from the score, decision at 0.5."""
    rng = np.random.default_rng(seed)
    score = np.round(rng.random(n), 2)
    y = (rng.random(n) < score).astype(np.int64)
    return M.Outcomes(y, score, (score >= 0.5).astype(np.int64))


def multiclass_sample(n: int = 300, k: int = 4, seed: int = 1) -> M.Outcomes:
    """Dirichlet class probabilities (rows sum to 1), truth drawn from them, argmax decisions."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(k), size=n)
    y = (proba.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    return M.Outcomes(y, proba, proba.argmax(axis=1))


def regression_sample(n: int = 300, seed: int = 2) -> M.Outcomes:
    """y ~ N(5, 2) (never near 0, so MAPE is stable), predictions y + N(0, 1)."""
    rng = np.random.default_rng(seed)
    y = rng.normal(5, 2, n)
    return M.Outcomes(y, y + rng.normal(0, 1, n))


BINARY_REFERENCES = {
    "roc_auc": lambda o: skm.roc_auc_score(o.y, o.score),
    "average_precision": lambda o: skm.average_precision_score(o.y, o.score),
    "accuracy": lambda o: skm.accuracy_score(o.y, o.pred),
    "precision": lambda o: skm.precision_score(o.y, o.pred),
    "recall": lambda o: skm.recall_score(o.y, o.pred),
    "f1": lambda o: skm.f1_score(o.y, o.pred),
    "log_loss": lambda o: skm.log_loss(o.y, o.score),
    "brier": lambda o: skm.brier_score_loss(o.y, o.score),
}


@pytest.mark.parametrize("name", sorted(BINARY_REFERENCES))
@pytest.mark.parametrize("seed", [0, 7])
def test_binary_metrics_match_sklearn(name: str, seed: int) -> None:
    o = binary_sample(seed=seed)
    ours = M.compute(M.metric_info("binary", name), o)
    assert ours == pytest.approx(BINARY_REFERENCES[name](o), rel=1e-12, abs=1e-12)


def test_log_loss_clips_certain_mistakes_like_sklearn() -> None:
    o = M.Outcomes(np.array([1, 0, 1]), np.array([0.0, 1.0, 0.7]), np.array([0, 1, 1]))
    ours = M.compute(M.metric_info("binary", "log_loss"), o)
    assert ours == pytest.approx(skm.log_loss(o.y, o.score, labels=[0, 1]), rel=1e-12)


def test_multiclass_metrics_match_sklearn() -> None:
    o = multiclass_sample()
    labels = list(range(4))
    expected = {
        "accuracy": skm.accuracy_score(o.y, o.pred),
        "macro_f1": skm.f1_score(o.y, o.pred, average="macro"),
        "macro_precision": skm.precision_score(o.y, o.pred, average="macro", zero_division=0),
        "macro_recall": skm.recall_score(o.y, o.pred, average="macro", zero_division=0),
        "log_loss": skm.log_loss(o.y, o.score, labels=labels),
    }
    for name, value in expected.items():
        assert M.compute(M.metric_info("multiclass", name), o) == pytest.approx(value, rel=1e-12)


def test_macro_f1_averages_over_classes_present_in_truth_or_prediction() -> None:
    """Class 3 of 4 never occurs in truth or prediction: sklearn leaves it out of the average."""
    y, pred = np.array([0, 1, 2, 2, 1, 0]), np.array([0, 2, 2, 1, 1, 0])
    o = M.Outcomes(y, np.full((6, 4), 0.25), pred)
    assert M.macro_f1(o) == pytest.approx(skm.f1_score(y, pred, average="macro"))


def test_macro_precision_and_recall_count_an_undefined_class_as_zero_like_sklearn() -> None:
    """Class 2 is in the truth but never predicted (precision undefined), class 3 is predicted
    but never true (recall undefined): scikit-learn counts each as 0 and keeps it in the average."""
    y, pred = np.array([0, 1, 2, 2, 1, 0, 0]), np.array([0, 1, 1, 0, 3, 0, 3])
    o = M.Outcomes(y, np.full((7, 4), 0.25), pred)
    for name, reference in (("precision", skm.precision_score), ("recall", skm.recall_score)):
        ours = M.compute(M.metric_info("multiclass", f"macro_{name}"), o)
        assert ours == pytest.approx(reference(y, pred, average="macro", zero_division=0))


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("mae", skm.mean_absolute_error),
        ("rmse", lambda y, p: math.sqrt(skm.mean_squared_error(y, p))),
        ("r2", skm.r2_score),
        ("mape", skm.mean_absolute_percentage_error),
    ],
)
def test_regression_metrics_match_sklearn(name: str, reference) -> None:  # type: ignore[no-untyped-def]
    o = regression_sample()
    ours = M.compute(M.metric_info("regression", name), o)
    assert ours == pytest.approx(reference(o.y, o.score), rel=1e-12)


def test_undefined_metrics_are_nan_not_zero() -> None:
    """One class only: AUC and recall have no denominator; no predicted positive: no precision."""
    y, score = np.zeros(5, dtype=np.int64), np.linspace(0.1, 0.4, 5)
    o = M.Outcomes(y, score, np.zeros(5, dtype=np.int64))
    for name in ("roc_auc", "recall", "precision", "f1", "average_precision"):
        assert math.isnan(M.compute(M.metric_info("binary", name), o)), name
    assert math.isnan(M.interval(M.metric_info("binary", "roc_auc"), o, 0.95).value)


def test_unknown_metric_for_task_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not defined for a regression task"):
        M.metric_info("regression", "roc_auc")
    assert M.metric_info("binary", None).name == "roc_auc"
    assert M.metric_info("regression", None).name == "rmse"


# --------------------------------------------------------------------------- DeLong


def brute_force_delong(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """DeLong's structural components by the definition: psi(x, y) = 1 if x > y, 1/2 if equal."""
    pos, neg = score[y == 1], score[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(psi.mean()), float(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_fast_delong_equals_brute_force_with_ties(seed: int) -> None:
    o = binary_sample(n=150, seed=seed)
    auc, variance = M.delong(o)
    ref_auc, ref_variance = brute_force_delong(o.y, o.score)
    assert auc == pytest.approx(ref_auc, rel=1e-12)
    assert variance == pytest.approx(ref_variance, rel=1e-10)


def test_delong_interval_is_auc_plus_minus_z_se_clipped() -> None:
    o = binary_sample(n=200, seed=5)
    found = M.delong_interval(o, 0.95)
    _, variance = brute_force_delong(o.y, o.score)
    half = 1.959963984540054 * math.sqrt(variance)
    assert found.lower == pytest.approx(max(found.value - half, 0.0))
    assert found.upper == pytest.approx(min(found.value + half, 1.0))
    perfect = M.Outcomes(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]), None)
    assert M.delong_interval(perfect, 0.95).upper == 1.0


# --------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(("k", "n"), [(0, 20), (3, 20), (87, 100), (999, 1000), (50, 50)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels(k: int, n: int, confidence: float) -> None:
    found = M.wilson_interval(k, n, confidence)
    lower, upper = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    assert (found.lower, found.upper) == pytest.approx((lower, upper), abs=1e-12)
    assert found.value == k / n


def test_proportion_metrics_count_the_right_trials() -> None:
    """accuracy: all rows; precision: predicted positives; recall: actual positives."""
    o = binary_sample(n=300, seed=4)
    tp, fp, fn, tn = M.confusion(o.y, o.pred)
    assert M.proportion_counts(M.metric_info("binary", "accuracy"), o) == (tp + tn, 300)
    assert M.proportion_counts(M.metric_info("binary", "precision"), o) == (tp, tp + fp)
    assert M.proportion_counts(M.metric_info("binary", "recall"), o) == (tp, tp + fn)
    assert M.interval(M.metric_info("binary", "recall"), o, 0.95).n == tp + fn


# --------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize(
    ("task", "name"),
    [
        ("binary", "average_precision"),
        ("binary", "log_loss"),
        ("binary", "brier"),
        ("multiclass", "log_loss"),
        ("regression", "mae"),
        ("regression", "rmse"),
        ("regression", "r2"),
        ("regression", "mape"),
    ],
)
def test_weighted_resamples_equal_the_metric_on_explicit_resamples(task: str, name: str) -> None:
    """Each count vector of a block is one resample: expanding it into row indices and computing
    the metric with scikit-learn gives the same value as the vectorised block."""
    o = {"binary": binary_sample, "multiclass": multiclass_sample, "regression": regression_sample}[
        task
    ](n=120)
    metric = M.metric_info(task, name)
    weights = next(M.weight_blocks(len(o), 5, np.random.default_rng(9)))
    vectorised = M._weighted_statistic(metric, o)(weights)
    for row, value in zip(weights, vectorised, strict=True):
        rows = np.repeat(np.arange(len(o)), row.astype(np.int64))
        assert value == pytest.approx(M.compute(metric, o.take(rows)), rel=1e-10)


def test_weight_blocks_are_resamples_of_n_rows_in_bounded_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    weights = np.vstack(list(M.weight_blocks(1000, 30, np.random.default_rng(0))))
    assert weights.shape == (30, 1000)
    assert (weights.sum(axis=1) == 1000).all()
    monkeypatch.setattr(M, "BLOCK_CELLS", 1000)
    blocks = list(M.weight_blocks(500, 5, np.random.default_rng(0)))
    assert [len(b) for b in blocks] == [2, 2, 1]  # at most BLOCK_CELLS cells per block


def test_confusion_bootstrap_matches_row_bootstrap_spread() -> None:
    """f1 resampled as multinomial confusion cells has the spread of an explicit row bootstrap."""
    o = binary_sample(n=500, seed=2)
    metric = M.metric_info("binary", "f1")
    fast = M.bootstrap_interval(metric, o, 0.95, 2000, seed=1)
    rows = np.random.default_rng(2).integers(0, 500, size=(2000, 500))  # explicit resamples
    y, pred = o.y[rows], o.pred[rows]
    tp = (y & pred).sum(axis=1)
    explicit = 2 * tp / (y.sum(axis=1) + pred.sum(axis=1))  # f1 = 2tp / (positives + predicted)
    assert fast.se == pytest.approx(np.std(explicit, ddof=1), rel=0.1)
    assert fast.lower < fast.value < fast.upper


@pytest.mark.parametrize("name", ["macro_precision", "macro_recall"])
def test_macro_confusion_bootstrap_matches_row_bootstrap_spread(name: str) -> None:
    """Macro precision/recall resampled as multinomial confusion cells have the spread of an
    explicit row bootstrap scored by scikit-learn."""
    o = multiclass_sample(n=400, k=3, seed=3)
    fast = M.bootstrap_interval(M.metric_info("multiclass", name), o, 0.95, 2000, seed=1)
    score = {"macro_precision": skm.precision_score, "macro_recall": skm.recall_score}[name]
    rows = np.random.default_rng(2).integers(0, 400, size=(400, 400))  # explicit resamples
    explicit = [score(o.y[r], o.pred[r], average="macro", zero_division=0) for r in rows]
    assert fast.se == pytest.approx(np.std(explicit, ddof=1), rel=0.15)
    assert fast.lower < fast.value < fast.upper


def test_bootstrap_is_deterministic_per_seed_and_reports_resamples() -> None:
    o = regression_sample(n=200)
    metric = M.metric_info("regression", "mae")
    first = M.interval(metric, o, 0.95, resamples=300, seed=4)
    assert first == M.interval(metric, o, 0.95, resamples=300, seed=4)
    assert first != M.interval(metric, o, 0.95, resamples=300, seed=5)
    assert first.resamples == 300 and first.method == "bootstrap"
    assert first.lower < first.value < first.upper


def test_bootstrap_mae_interval_covers_the_normal_theory_interval() -> None:
    """For a mean of absolute errors, the percentile bootstrap agrees with mean ± z·sd/sqrt(n)."""
    o = regression_sample(n=2000, seed=8)
    found = M.interval(M.metric_info("regression", "mae"), o, 0.95, resamples=2000, seed=0)
    errors = np.abs(o.y - o.score)
    half = 1.96 * errors.std(ddof=1) / math.sqrt(len(errors))
    assert found.lower == pytest.approx(errors.mean() - half, abs=0.15 * half)
    assert found.upper == pytest.approx(errors.mean() + half, abs=0.15 * half)


def test_resamples_shrink_within_the_work_budget_but_not_below_the_floor() -> None:
    assert M.affordable_resamples(1_000, 1000) == 1000
    assert M.affordable_resamples(1_000_000, 1000) == M.WORK_BUDGET // 1_000_000
    assert M.affordable_resamples(50_000_000, 1000) == M.MIN_RESAMPLES


# --------------------------------------------------------------------------- labels needed


def test_labels_needed_for_proportions_by_hand() -> None:
    z = 1.959963984540054
    # recall 0.9 ± 0.01 at prevalence 1%: 1.96²·0.09/0.0001 = 3457.3 positives -> /0.01
    assert M.labels_needed("recall", 0.9, 0.01, 0.95, prevalence=0.01) == math.ceil(
        z * z * 0.09 / 0.0001 / 0.01
    )
    assert M.labels_needed("recall", 0.9, 0.01, 0.95, prevalence=0.01) == 345_732
    assert M.labels_needed("accuracy", 0.8, 0.02, 0.95) == 1537  # 1.96²·0.16/0.0004 = 1536.6
    assert M.labels_needed("precision", 0.7, 0.05, 0.95, positive_rate=0.2) == 1614  # 322.7/0.2
    # precision without a positive rate assumes predicted positives are as common as positives
    assert M.labels_needed("precision", 0.7, 0.05, 0.95, prevalence=0.2) == 1614


def hanley_mcneil_by_hand(auc: float, n_pos: float, n_neg: float) -> float:
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    return (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
        n_pos * n_neg
    )


def test_hanley_mcneil_variance_by_hand() -> None:
    """AUC 0.8, 20 positives, 80 negatives: Q1 = 0.8/1.2, Q2 = 1.28/1.8, by the 1982 formula."""
    q1, q2 = 0.8 / 1.2, 1.28 / 1.8
    by_hand = (0.16 + 19 * (q1 - 0.64) + 79 * (q2 - 0.64)) / 1600
    assert M.hanley_mcneil_variance(0.8, 20, 80) == pytest.approx(by_hand, rel=1e-12)


def test_labels_needed_for_roc_auc_is_the_smallest_n_meeting_the_margin() -> None:
    z = 1.959963984540054
    n = M.labels_needed("roc_auc", 0.8, 0.02, 0.95, prevalence=0.2)
    assert z * math.sqrt(hanley_mcneil_by_hand(0.8, 0.2 * n, 0.8 * n)) <= 0.02
    assert z * math.sqrt(hanley_mcneil_by_hand(0.8, 0.2 * (n - 1), 0.8 * (n - 1))) > 0.02
    rare = M.labels_needed("roc_auc", 0.8, 0.02, 0.95, prevalence=0.01)
    assert rare > 15 * n  # a rare class multiplies the labels needed


def test_half_width_is_the_inverse_of_labels_needed() -> None:
    for metric, rates in [
        ("accuracy", {}),
        ("recall", {"prevalence": 0.05}),
        ("precision", {"positive_rate": 0.1}),
        ("roc_auc", {"prevalence": 0.3}),
    ]:
        n = M.labels_needed(metric, 0.85, 0.03, 0.9, **rates)
        assert M.half_width(metric, 0.85, n, 0.9, **rates) <= 0.03
        assert M.half_width(metric, 0.85, n - 1, 0.9, **rates) > 0.03


def test_labels_needed_rejects_what_it_cannot_answer() -> None:
    with pytest.raises(ValueError, match="not 'f1'"):
        M.labels_needed("f1", 0.9, 0.01, 0.95)
    with pytest.raises(ValueError, match="prevalence must be given"):
        M.labels_needed("recall", 0.9, 0.01, 0.95)
    with pytest.raises(ValueError, match="margin must be positive"):
        M.labels_needed("accuracy", 0.9, 0.0, 0.95)
    with pytest.raises(ValueError, match="exactly one of --margin"):
        M.labels_needed_report("accuracy", 0.9, 0.95, margin=0.01, labels=100)


def test_labels_needed_command(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["labels-needed", "--metric", "recall", "--prevalence", "0.01", "--expected", "0.9"]
    with pytest.raises(SystemExit) as done:
        main([*argv, "--margin", "0.01"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert "345,732 labelled rows" in out and "3,457 positives" in out
    assert "rare positive class multiplies the labels needed" in out
    with pytest.raises(SystemExit) as done:
        main([*argv, "--labels", "345732"])
    assert done.value.code == 0 and "± 0.01" in capsys.readouterr().out


def test_labels_needed_command_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["labels-needed", "--metric", "f1", "--expected", "0.9", "--margin", "0.01"])
    assert done.value.code == 2
    assert "not 'f1'" in capsys.readouterr().err
