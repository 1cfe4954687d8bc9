"""Confidence-based performance estimation (CBPE): a binary classifier's metrics without labels.

1. Calibrate: fit an isotonic map from research scores to research outcomes
   (`scipy.optimize.isotonic_regression`, tied scores pooled into one point first), so a live
   row's calibrated probability p_i estimates P(y_i = 1 | score_i).
2. Estimate: treat each live label as an independent Bernoulli(p_i). Every binary metric is then
   a function of a few sums that are linear in the labels (expected true positives, expected
   positives, the expected rank sum of positives, ...). The estimate is the metric at the expected
   sums -- the expected confusion matrix for the threshold metrics -- except ROC AUC, which is
   computed exactly as expected correctly ordered positive-negative pairs over expected pairs,
   in O(n log n), and average precision, the mean over simulated label draws.
3. Sampling error: the covariance of those sums is known exactly (sum of p(1-p) products), and
   the delta method carries it through the metric; average precision, which is not a smooth
   function of a few sums, uses a seeded parametric bootstrap (labels ~ Bernoulli(p)).

The estimate is only as good as its assumption: the score-to-outcome relation seen in research
still holds live (no concept drift). Covariate shift is what it handles; concept drift needs labels.
The interval covers the sampling error of the live labels, not the calibration's own error.
Multiclass models are estimated one-vs-rest from the same calibrator (the multiclass section).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from mlcheck.metrics import (
    BLOCK_CELLS,
    LOG_LOSS_EPS,
    METRICS,
    Estimate,
    Metric,
    affordable_resamples,
    midranks,
    z_value,
)

# Every binary metric can be estimated from calibrated probabilities; derived, not repeated.
ESTIMABLE = tuple(name for (task, name) in METRICS if task == "binary")


@dataclass(frozen=True)
class Calibrator:
    """A monotone map score -> P(y = 1): isotonic values at the distinct research scores,
    linearly interpolated between them and clipped outside (as scikit-learn's
    `IsotonicRegression(out_of_bounds="clip")`)."""

    scores: np.ndarray
    probabilities: np.ndarray

    def __call__(self, score: np.ndarray) -> np.ndarray:
        score = np.asarray(score, dtype=np.float64)
        if len(score) < _SORT_BEFORE_INTERP:
            return np.interp(score, self.scores, self.probabilities)
        # np.interp starts each search from the previous one: in score order it walks the
        # research scores once instead of a cold binary search per row (3-4x at a million).
        order = np.argsort(score)
        out = np.empty_like(score)
        out[order] = np.interp(score[order], self.scores, self.probabilities)
        return out


# Rows from which sorting them first makes `Calibrator.__call__` faster.
_SORT_BEFORE_INTERP = 1 << 16


def fit_calibrator(score: np.ndarray, labels: np.ndarray) -> Calibrator:
    """Isotonic calibration of research scores against 0/1 research labels (finite scores only)."""
    from scipy.optimize import isotonic_regression  # scipy only when a stage needs it

    finite = np.isfinite(score)
    score, labels = np.asarray(score[finite], np.float64), np.asarray(labels[finite], np.float64)
    if len(score) == 0:
        raise ValueError("no research rows with a finite score and a label to calibrate on")
    distinct, inverse = np.unique(score, return_inverse=True)
    counts = np.bincount(inverse).astype(np.float64)
    positives = np.bincount(inverse, weights=labels)
    # Tied scores must get one calibrated value, so they enter the fit as one weighted point.
    fitted = isotonic_regression(positives / counts, weights=counts, increasing=True).x
    return Calibrator(distinct, np.clip(fitted, 0.0, 1.0))


def expected_roc_auc(score: np.ndarray, p: np.ndarray) -> float:
    """Expected-pairs AUC: sum_{i != j} p_i (1 - p_j) [s_i > s_j] (ties count 1/2) over
    sum_{i != j} p_i (1 - p_j), in O(n log n) by grouping tied scores."""
    _, group = np.unique(score, return_inverse=True)
    pos = np.bincount(group, weights=p)
    neg = np.bincount(group, weights=1 - p)
    both = np.bincount(group, weights=p * (1 - p))  # a row is never paired with itself
    negatives_below = np.cumsum(neg) - neg
    ordered = np.sum(pos * negatives_below) + 0.5 * np.sum(pos * neg - both)
    pairs = p.sum() * (1 - p).sum() - both.sum()
    return float(ordered / pairs) if pairs > 0 else math.nan


@dataclass(frozen=True)
class _LinearForm:
    """A metric written as f(S), S = y @ columns, with labels y ~ Bernoulli(p) independently,
    and f's gradient in closed form (the delta method's input)."""

    columns: np.ndarray  # n x k
    of_sums: Callable[[np.ndarray], float]
    gradient: Callable[[np.ndarray], np.ndarray]


def _linear_form(name: str, score: np.ndarray, pred: np.ndarray) -> _LinearForm:
    n = len(score)
    pred = pred.astype(np.float64)
    ones = np.ones(n)
    predicted = pred.sum()
    per_row = lambda s: np.array([1 / n])  # noqa: E731  (a mean of the sum)
    if name == "accuracy":
        return _LinearForm(np.c_[2 * pred - 1], lambda s: (n - predicted + s[0]) / n, per_row)
    if name == "precision":
        return _LinearForm(
            np.c_[pred], lambda s: _div(s[0], predicted), lambda s: np.array([_div(1, predicted)])
        )
    if name == "recall":
        return _LinearForm(
            np.c_[pred, ones],
            lambda s: _div(s[0], s[1]),
            lambda s: np.array([_div(1, s[1]), _div(-s[0], s[1] * s[1])]),
        )
    if name == "f1":
        return _LinearForm(
            np.c_[pred, ones],
            lambda s: _div(2 * s[0], predicted + s[1]),
            lambda s: np.array(
                [_div(2, predicted + s[1]), _div(-2 * s[0], (predicted + s[1]) ** 2)]
            ),
        )
    if name == "roc_auc":
        return _LinearForm(
            np.c_[_midranks(score), ones], partial(_auc_of_sums, n), partial(_auc_gradient, n)
        )
    if name == "brier":
        base = np.sum(score**2)
        return _LinearForm(np.c_[1 - 2 * score], lambda s: (base + s[0]) / n, per_row)
    if name == "log_loss":
        clipped = np.clip(score, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
        base = -np.sum(np.log1p(-clipped))
        return _LinearForm(
            np.c_[np.log1p(-clipped) - np.log(clipped)], lambda s: (base + s[0]) / n, per_row
        )
    raise ValueError(f"metric {name!r} cannot be estimated without labels")


def _div(num: float, den: float) -> float:
    return num / den if den != 0 else math.nan


def _auc_of_sums(n: int, s: np.ndarray) -> float:
    """AUC from S = (rank sum of positives, positives) among n rows (Mann-Whitney)."""
    return _div(s[0] - s[1] * (s[1] + 1) / 2, s[1] * (n - s[1]))


def _auc_gradient(n: int, s: np.ndarray) -> np.ndarray:
    """d AUC / d S of `_auc_of_sums`: with N = s0 - s1(s1+1)/2 and D = s1(n - s1),
    (1/D, (-(s1 + 1/2) D - N (n - 2 s1)) / D^2)."""
    numerator, pairs = s[0] - s[1] * (s[1] + 1) / 2, s[1] * (n - s[1])
    d_s1 = -(s[1] + 0.5) * pairs - numerator * (n - 2 * s[1])
    return np.array([_div(1, pairs), _div(d_s1, pairs * pairs)])


def _midranks(score: np.ndarray) -> np.ndarray:
    return midranks(score)  # scipy.stats.rankdata's ranks, without importing scipy.stats


def _delta_method_se(form: _LinearForm, p: np.ndarray) -> float:
    """sd of f(S) from the exact covariance of S = y @ columns and f's gradient."""
    mean = p @ form.columns
    cov = form.columns.T @ (form.columns * (p * (1 - p))[:, None])
    return _gradient_se(form.of_sums, mean, cov, form.gradient)


def _gradient_se(
    of_sums: Callable[[np.ndarray], float],
    mean: np.ndarray,
    cov: np.ndarray,
    exact: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """sd of f(S) by the delta method: f's gradient at E[S], Cov(S) given. The gradient in
    closed form (`exact`) where it is finite: a central difference keeps only about ten
    significant digits, and which ten depends on the order E[S] was summed in (the last bits
    of E[S]), while the reports show twelve. Elsewhere (multiclass; a component undefined at
    E[S]) a central difference."""
    steps = 1e-6 * np.maximum(1.0, np.abs(mean))
    gradient = np.full(len(mean), np.nan) if exact is None else exact(mean)
    for j in np.flatnonzero(~np.isfinite(gradient)):  # 2k sums (k classes), not rows
        up, down = mean.copy(), mean.copy()
        up[j] += steps[j]
        down[j] -= steps[j]
        gradient[j] = (of_sums(up) - of_sums(down)) / (2 * steps[j])
    variance = float(gradient @ cov @ gradient)
    return math.sqrt(max(variance, 0.0)) if math.isfinite(variance) else math.nan


def estimate(
    metric: Metric,
    score: np.ndarray,
    pred: np.ndarray,
    p: np.ndarray,
    confidence: float,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> Estimate:
    """The expected value of a binary metric on unlabelled rows, given calibrated probabilities
    `p`, with a confidence interval for the value the labels will show once they arrive
    (a multiclass metric: `estimate_multiclass`, `score` and `p` then n x k)."""
    if metric.task == "multiclass":
        return estimate_multiclass(metric, score, pred, p, confidence)
    n = len(score)
    if metric.task != "binary" or metric.name not in ESTIMABLE:
        raise ValueError(
            f"{metric.name} cannot be estimated without labels for a {metric.task} task"
        )
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0, "cbpe")
    if metric.name == "average_precision":
        return _bootstrap_average_precision(score, p, confidence, resamples, seed)
    form = _linear_form(metric.name, score, pred)
    value = (
        expected_roc_auc(score, p) if metric.name == "roc_auc" else form.of_sums(p @ form.columns)
    )
    se = _delta_method_se(form, p)
    half = z_value(confidence) * se
    lower, upper = max(value - half, metric.low), min(value + half, metric.high)
    return Estimate(value, lower, upper, se, n, "cbpe")


def _bootstrap_average_precision(
    score: np.ndarray, p: np.ndarray, confidence: float, resamples: int, seed: int
) -> Estimate:
    """Average precision under labels ~ Bernoulli(p): mean and percentile interval of draws."""
    used = affordable_resamples(len(score), resamples)
    values = _average_precision_draws(score, p, used, np.random.default_rng(seed))
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return Estimate(math.nan, math.nan, math.nan, math.nan, len(score), "cbpe", used)
    tail = (1 - confidence) / 2
    lower, upper = np.quantile(values, [tail, 1 - tail])
    spread = float(values.std(ddof=1))
    return Estimate(
        float(values.mean()), float(lower), float(upper), spread, len(score), "cbpe", used
    )


def _average_precision_draws(
    score: np.ndarray, p: np.ndarray, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """AP of `draws` label vectors drawn from Bernoulli(p), in blocks of bounded size."""
    order = np.argsort(-score, kind="stable")
    sorted_score, sorted_p = score[order], p[order]
    ends = np.append(np.flatnonzero(np.diff(sorted_score) != 0), len(score) - 1)
    per_block = max(1, BLOCK_CELLS // len(score))
    out = []
    for start in range(0, draws, per_block):  # blocks of resamples, not rows
        labels = rng.random((min(per_block, draws - start), len(score))) < sorted_p
        tp = np.cumsum(labels, axis=1)[:, ends].astype(np.float64)
        gained = np.diff(tp, axis=1, prepend=0.0)
        with np.errstate(invalid="ignore", divide="ignore"):  # no positive drawn: NaN, dropped
            out.append((gained * tp / (ends + 1)).sum(axis=1) / tp[:, -1])
    return np.concatenate(out)


# --------------------------------------------------------------------------- multiclass
#
# One-vs-rest: class j's score column is calibrated (isotonic, as above) against "the label is
# j" on research labels; a live row's calibrated vector is then normalised to sum to 1, and its
# label is treated as one independent draw from that categorical distribution. Accuracy and the
# macro averages are functions of 2k sums -- per class the expected true positives TP_j (rows
# predicted j whose label is j) and the expected support N_j (rows whose label is j); predicted
# counts are fixed -- evaluated at their expectations (the expected confusion matrix), with a
# delta-method sampling error from their exact multinomial covariance. This is the per-class
# binary estimate of NannyML's multiclass CBPE, averaged over classes.

ESTIMABLE_MULTICLASS = tuple(name for (task, name) in METRICS if task == "multiclass")


@dataclass(frozen=True)
class ClassCalibrators:
    """One Calibrator per score column (class); calling it gives rows that sum to 1."""

    per_class: tuple[Calibrator, ...]

    def __call__(self, proba: np.ndarray) -> np.ndarray:
        calibrated = np.column_stack([c(proba[:, j]) for j, c in enumerate(self.per_class)])
        total = calibrated.sum(axis=1, keepdims=True)
        uniform = np.full_like(calibrated, 1.0 / len(self.per_class))
        # A row every calibrator puts at 0 carries no information: uniform, as NannyML does.
        return np.divide(calibrated, total, out=uniform, where=total > 0)


def fit_class_calibrators(proba: np.ndarray, labels: np.ndarray) -> ClassCalibrators:
    """One-vs-rest isotonic calibration of each score column against `labels == j` (class
    positions; NaN = unlabelled rows are left out)."""
    known = ~np.isnan(labels)
    proba, labels = proba[known], labels[known]
    return ClassCalibrators(
        tuple(
            fit_calibrator(proba[:, j], (labels == j).astype(np.float64))
            for j in range(proba.shape[1])  # classes, not rows
        )
    )


@dataclass(frozen=True)
class _ClassSums:
    """E[S] and Cov(S) of S = (TP_1..TP_k, N_1..N_k) under labels ~ Categorical(p), and the
    fixed predicted counts per class."""

    mean: np.ndarray
    cov: np.ndarray
    predicted: np.ndarray


def _class_sums(pred: np.ndarray, p: np.ndarray) -> _ClassSums:
    n, k = p.shape
    hit = p[np.arange(n), pred]  # probability that the prediction is right
    predicted = np.bincount(pred, minlength=k).astype(np.float64)
    tp = np.bincount(pred, weights=hit, minlength=k)
    support = p.sum(axis=0)
    # Rows predicted j: TP_j is a sum of Bernoulli(hit); classes' TP use disjoint rows.
    cov_tp = np.diag(np.bincount(pred, weights=hit * (1 - hit), minlength=k))
    cov_n = np.diag(support) - p.T @ p  # multinomial: Cov(1[y=c], 1[y=d]) = [c=d]p_c - p_c p_d
    # by_pred[c, d]: sum over rows predicted c of hit_i * p_id (a bincount per class d).
    by_pred = np.column_stack(
        [np.bincount(pred, weights=hit * p[:, d], minlength=k) for d in range(k)]  # classes
    )
    cov_tp_n = np.diag(tp) - by_pred
    cov = np.block([[cov_tp, cov_tp_n], [cov_tp_n.T, cov_n]])
    return _ClassSums(np.concatenate([tp, support]), cov, predicted)


def _macro_of_sums(name: str, predicted: np.ndarray) -> Callable[[np.ndarray], float]:
    """The metric as a function of S = (TP, N): classes that are predicted or expected count."""
    k = len(predicted)
    n = predicted.sum()

    def of_sums(s: np.ndarray) -> float:
        tp, support = s[:k], s[k:]
        if name == "accuracy":
            return float(tp.sum() / n)
        present = (predicted > 0) | (support > 0)
        numerator, denominator = {
            "macro_f1": (2 * tp, predicted + support),
            "macro_precision": (tp, predicted),
            "macro_recall": (tp, support),
        }[name]
        per_class = np.divide(numerator, denominator, out=np.zeros(k), where=denominator > 0)
        return float(per_class[present].mean())

    return of_sums


def estimate_multiclass(
    metric: Metric, score: np.ndarray, pred: np.ndarray, p: np.ndarray, confidence: float
) -> Estimate:
    """The expected value of a multiclass metric on unlabelled rows, from calibrated class
    probabilities `p` (n x k, rows summing to 1), the predicted class positions `pred` and the
    model's own scores (for log loss), with a confidence interval for the realized value."""
    n = len(pred)
    if metric.task != "multiclass" or metric.name not in ESTIMABLE_MULTICLASS:
        raise ValueError(
            f"{metric.name} cannot be estimated without labels for a {metric.task} task"
        )
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0, "cbpe")
    if metric.name == "log_loss":
        value, se = _expected_log_loss(score, p)
    else:
        sums = _class_sums(pred.astype(np.int64), p)
        of_sums = _macro_of_sums(metric.name, sums.predicted)
        value, se = of_sums(sums.mean), _gradient_se(of_sums, sums.mean, sums.cov)
    half = z_value(confidence) * se
    lower, upper = max(value - half, metric.low), min(value + half, metric.high)
    return Estimate(value, lower, upper, se, n, "cbpe")


def _expected_log_loss(score: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Mean over rows of E[-log s_(i,y_i)], y_i ~ Categorical(p_i), the model's scores
    normalised and clipped as in `metrics.multiclass_log_loss_terms`; rows are independent, so
    the variance is the sum of each row's variance over n^2."""
    normalised = score / score.sum(axis=1, keepdims=True)
    loss = -np.log(np.clip(normalised, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS))
    mean = (p * loss).sum(axis=1)
    variance = (p * loss**2).sum(axis=1) - mean**2
    n = len(score)
    return float(mean.mean()), math.sqrt(max(float(variance.sum()), 0.0)) / n
