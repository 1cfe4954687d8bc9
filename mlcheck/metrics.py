"""Model metrics, vectorised, with their sampling error.

Binary (labels 0/1, a positive-class score, a 0/1 decision): roc_auc, average_precision,
accuracy, precision, recall, f1, log_loss, brier. Multiclass (class indices 0..k-1, an n x k
probability matrix, a predicted index): accuracy, macro_f1, macro_precision, macro_recall,
log_loss (macro averages over the classes present in the truth or the predictions, an undefined
class counting 0, as scikit-learn's default). Regression: mae, rmse, r2,
mape. Each is checked in the tests against scikit-learn; an undefined value (recall without
positives, AUC with one class) is NaN rather than a made-up 0.

Confidence intervals: DeLong (the O(n log n) midrank form of Sun & Xu 2014) for ROC AUC; Wilson
for proportions (accuracy, precision, recall); a seeded bootstrap otherwise. The bootstrap draws
resamples as count vectors in blocks and evaluates the metric for a whole block with matrix
products, so 1000 resamples cost a few passes over the data rather than 1000 metric calls;
metrics that only depend on a confusion matrix (f1, the macro averages) resample the matrix's
cells from a multinomial, which is the row bootstrap exactly, in O(resamples).

`labels_needed` / `half_width` answer "how many labels for a given precision of measurement".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

# Probabilities are clipped to [eps, 1 - eps] in log loss, as scikit-learn does for float64.
LOG_LOSS_EPS = float(np.finfo(np.float64).eps)
# The bootstrap evaluates blocks of at most this many resample x row cells at once (memory), and
# lowers the number of resamples when resamples x rows exceeds the work budget (time), never below
# MIN_RESAMPLES. At a million rows the interval then rests on 100 resamples; it is reported.
BLOCK_CELLS = 1 << 22
WORK_BUDGET = 100_000_000
MIN_RESAMPLES = 100


@dataclass(frozen=True)
class Metric:
    """A metric's identity: task, direction, how its interval is computed, its range."""

    name: str
    task: str
    higher_is_better: bool
    interval: str  # "delong" | "wilson" | "bootstrap"
    low: float = 0.0
    high: float = math.inf


METRICS: dict[tuple[str, str], Metric] = {
    (m.task, m.name): m
    for m in (
        Metric("roc_auc", "binary", True, "delong", 0.0, 1.0),
        Metric("average_precision", "binary", True, "bootstrap", 0.0, 1.0),
        Metric("accuracy", "binary", True, "wilson", 0.0, 1.0),
        Metric("precision", "binary", True, "wilson", 0.0, 1.0),
        Metric("recall", "binary", True, "wilson", 0.0, 1.0),
        Metric("f1", "binary", True, "bootstrap", 0.0, 1.0),
        Metric("log_loss", "binary", False, "bootstrap"),
        Metric("brier", "binary", False, "bootstrap", 0.0, 1.0),
        Metric("accuracy", "multiclass", True, "wilson", 0.0, 1.0),
        Metric("macro_f1", "multiclass", True, "bootstrap", 0.0, 1.0),
        Metric("macro_precision", "multiclass", True, "bootstrap", 0.0, 1.0),
        Metric("macro_recall", "multiclass", True, "bootstrap", 0.0, 1.0),
        Metric("log_loss", "multiclass", False, "bootstrap"),
        Metric("mae", "regression", False, "bootstrap"),
        Metric("rmse", "regression", False, "bootstrap"),
        Metric("r2", "regression", True, "bootstrap", -math.inf, 1.0),
        Metric("mape", "regression", False, "bootstrap"),
    )
}
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}
# Multiclass metrics that depend only on the confusion matrix.
MACRO_METRICS = ("macro_f1", "macro_precision", "macro_recall")


def metric_info(task: str, name: str | None) -> Metric:
    """The metric called `name` for `task` (the task's default when None); ValueError if unknown."""
    chosen = name or DEFAULT_METRIC[task]
    info = METRICS.get((task, chosen))
    if info is None:
        known = ", ".join(n for t, n in METRICS if t == task)
        raise ValueError(f"metric {chosen!r} is not defined for a {task} task; use one of: {known}")
    return info


@dataclass(frozen=True)
class Outcomes:
    """What a metric needs: truth `y`, `score` (vector, or n x k matrix), hard `pred` (may be None).

    Binary: y and pred in {0, 1}. Multiclass: y and pred class indices, score rows are class
    probabilities. Regression: y and score real; pred unused.
    """

    y: np.ndarray
    score: np.ndarray
    pred: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def take(self, rows: np.ndarray) -> Outcomes:
        pred = None if self.pred is None else self.pred[rows]
        return Outcomes(self.y[rows], self.score[rows], pred)


@dataclass(frozen=True)
class Estimate:
    """A metric value with its confidence interval and standard error."""

    value: float
    lower: float
    upper: float
    se: float
    n: int
    method: str
    resamples: int | None = None

    @property
    def half_width(self) -> float:
        return (self.upper - self.lower) / 2

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: _finite_or_none(getattr(self, k)) for k in ("value", "lower", "upper", "se")
        }
        out.update(n=self.n, method=self.method)
        if self.resamples is not None:
            out["resamples"] = self.resamples
        return out


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank: scipy.stats.rankdata's default, NaN
    anywhere making every rank NaN. Ties are averaged, so an unstable (faster) sort is enough,
    and scipy.stats (a second to import) is not needed."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and np.isnan(values).any():
        return np.full(len(values), np.nan)
    order = np.argsort(values)
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    ends = np.append(starts[1:], len(values))
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level (1.96 at 0.95)."""
    from scipy.special import ndtri  # the normal quantile (scipy.stats.norm.ppf computes it)

    return float(ndtri(0.5 + confidence / 2))


# --------------------------------------------------------------------------- binary metrics


def _ratio(numerator: Any, denominator: Any) -> Any:
    """numerator / denominator, NaN where the denominator is 0 (an undefined metric)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den != 0)
    return out if out.ndim else float(out)


def confusion(y: np.ndarray, pred: np.ndarray) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) of 0/1 truth and decisions."""
    y, pred = y.astype(bool), pred.astype(bool)
    tp = int(np.count_nonzero(y & pred))
    fp = int(np.count_nonzero(~y & pred))
    fn = int(np.count_nonzero(y & ~pred))
    return tp, fp, fn, len(y) - tp - fp - fn


def roc_auc(o: Outcomes) -> float:
    """Mann–Whitney AUC from midranks: ties between a positive and a negative count one half."""
    positive = o.y == 1
    n_pos = int(positive.sum())
    n_neg = len(o.y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = midranks(o.score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(o: Outcomes) -> float:
    return float(_weighted_average_precision(o, np.ones((1, len(o))))[0])


def accuracy(o: Outcomes) -> float:
    assert o.pred is not None
    return _ratio(np.count_nonzero(o.y == o.pred), len(o.y))


def precision(o: Outcomes) -> float:
    assert o.pred is not None
    tp, fp, _, _ = confusion(o.y, o.pred)
    return _ratio(tp, tp + fp)


def recall(o: Outcomes) -> float:
    assert o.pred is not None
    tp, _, fn, _ = confusion(o.y, o.pred)
    return _ratio(tp, tp + fn)


def f1(o: Outcomes) -> float:
    assert o.pred is not None
    tp, fp, fn, _ = confusion(o.y, o.pred)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def binary_log_loss_terms(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Per-row cross-entropy of 0/1 truth against a positive-class probability."""
    p = np.clip(score, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def log_loss(o: Outcomes) -> float:
    return _mean(_loss_terms("log_loss", o))


def brier(o: Outcomes) -> float:
    return _mean((o.score - o.y) ** 2)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


# --------------------------------------------------------------------------- multiclass


def multiclass_log_loss_terms(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-row cross-entropy; rows are normalised to sum to 1, then clipped (as scikit-learn)."""
    proba = proba / proba.sum(axis=1, keepdims=True)
    chosen = np.clip(proba[np.arange(len(y)), y], LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return -np.log(chosen)


def confusion_matrix(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """k x k counts, truth by row, prediction by column."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def macro_f1(o: Outcomes) -> float:
    return _macro("macro_f1", o)


def macro_precision(o: Outcomes) -> float:
    return _macro("macro_precision", o)


def macro_recall(o: Outcomes) -> float:
    return _macro("macro_recall", o)


def _macro(name: str, o: Outcomes) -> float:
    assert o.pred is not None
    k = _n_classes(o)
    cells = confusion_matrix(o.y, o.pred, k).reshape(1, -1)
    return float(_macro_from_cells(name, cells, k, _present_classes(o, k))[0])


def _n_classes(o: Outcomes) -> int:
    width = o.score.shape[1] if o.score.ndim == 2 else 0
    top = max(int(o.y.max(initial=-1)), int(o.pred.max(initial=-1)) if o.pred is not None else -1)
    return max(width, top + 1)


def _present_classes(o: Outcomes, k: int) -> np.ndarray:
    # scikit-learn averages over the classes present in the truth or the predictions.
    assert o.pred is not None
    return np.bincount(np.concatenate([o.y, o.pred]), minlength=k) > 0


def _macro_from_cells(name: str, cells: np.ndarray, k: int, present: np.ndarray) -> np.ndarray:
    """A macro average per confusion matrix (rows of `cells`); a class whose denominator is 0
    counts 0 (scikit-learn's zero_division default)."""
    matrices = cells.reshape(-1, k, k).astype(np.float64)
    tp = np.diagonal(matrices, axis1=1, axis2=2)
    support = matrices.sum(axis=2)
    predicted = matrices.sum(axis=1)
    numerator, denominator = {
        "macro_f1": (2 * tp, support + predicted),
        "macro_precision": (tp, predicted),
        "macro_recall": (tp, support),
    }[name]
    per_class = np.divide(numerator, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return per_class[:, present].mean(axis=1)


# --------------------------------------------------------------------------- regression


def mae(o: Outcomes) -> float:
    return _mean(np.abs(o.y - o.score))


def rmse(o: Outcomes) -> float:
    return math.sqrt(_mean((o.y - o.score) ** 2))


def r2(o: Outcomes) -> float:
    return float(_weighted_r2(o, np.ones((1, len(o))))[0])


def mape(o: Outcomes) -> float:
    return _mean(_loss_terms("mape", o))


def _loss_terms(name: str, o: Outcomes) -> np.ndarray:
    """Per-row terms of the metrics that are plain means over rows."""
    if name == "log_loss":
        if o.score.ndim == 2:
            return multiclass_log_loss_terms(o.y, o.score)
        return binary_log_loss_terms(o.y, o.score)
    if name == "brier":
        return (o.score - o.y) ** 2
    if name == "mae":
        return np.abs(o.y - o.score)
    if name == "mape":
        return np.abs(o.y - o.score) / np.maximum(np.abs(o.y), LOG_LOSS_EPS)
    raise KeyError(name)


_FUNCTIONS: dict[tuple[str, str], Callable[[Outcomes], float]] = {
    ("binary", "roc_auc"): roc_auc,
    ("binary", "average_precision"): average_precision,
    ("binary", "accuracy"): accuracy,
    ("binary", "precision"): precision,
    ("binary", "recall"): recall,
    ("binary", "f1"): f1,
    ("binary", "log_loss"): log_loss,
    ("binary", "brier"): brier,
    ("multiclass", "accuracy"): accuracy,
    ("multiclass", "macro_f1"): macro_f1,
    ("multiclass", "macro_precision"): macro_precision,
    ("multiclass", "macro_recall"): macro_recall,
    ("multiclass", "log_loss"): log_loss,
    ("regression", "mae"): mae,
    ("regression", "rmse"): rmse,
    ("regression", "r2"): r2,
    ("regression", "mape"): mape,
}


def compute(metric: Metric, o: Outcomes) -> float:
    """The metric's value on `o` (NaN when undefined or empty)."""
    if len(o) == 0:
        return math.nan
    # Extreme scores or labels (1e308, inf) overflow squares and sums to inf or NaN: callers
    # treat a non-finite value as "cannot be computed", so numpy need not warn about it.
    with np.errstate(over="ignore", invalid="ignore"):
        return float(_FUNCTIONS[(metric.task, metric.name)](o))


# --------------------------------------------------------------------------- intervals


def interval(
    metric: Metric, o: Outcomes, confidence: float, *, resamples: int = 1000, seed: int = 0
) -> Estimate:
    """The metric on `o` with its confidence interval (DeLong, Wilson or bootstrap); an
    undefined metric (one class only, no predicted positive) comes back as NaN."""
    if metric.interval == "delong":
        return delong_interval(o, confidence)
    if metric.interval == "wilson":
        successes, trials = proportion_counts(metric, o)
        return wilson_interval(successes, trials, confidence)
    return bootstrap_interval(metric, o, confidence, resamples, seed)


def delong(o: Outcomes) -> tuple[float, float]:
    """(AUC, variance) by DeLong's method in the fast midrank form of Sun & Xu (2014).

    The placement of each positive among the negatives is its midrank among all rows minus its
    midrank among positives, over the number of negatives (and symmetrically for negatives); the
    variance is var(positive placements)/n_pos + var(negative placements)/n_neg.
    """
    positive = o.y == 1
    pos, neg = o.score[positive], o.score[~positive]
    n_pos, n_neg = len(pos), len(neg)
    if n_pos == 0 or n_neg == 0:
        return math.nan, math.nan
    all_ranks = midranks(np.concatenate([pos, neg]))
    v10 = (all_ranks[:n_pos] - midranks(pos)) / n_neg
    v01 = 1.0 - (all_ranks[n_pos:] - midranks(neg)) / n_pos
    auc = float(v10.mean())
    if n_pos < 2 or n_neg < 2:
        return auc, math.nan
    return auc, float(v10.var(ddof=1) / n_pos + v01.var(ddof=1) / n_neg)


def delong_interval(o: Outcomes, confidence: float) -> Estimate:
    auc, variance = delong(o)
    se = math.sqrt(variance) if math.isfinite(variance) else math.nan
    half = z_value(confidence) * se
    lower, upper = max(auc - half, 0.0), min(auc + half, 1.0)
    return Estimate(auc, lower, upper, se, len(o), "delong")


def proportion_counts(metric: Metric, o: Outcomes) -> tuple[int, int]:
    """(successes, trials) of a proportion metric: all rows, predicted positives, or positives."""
    assert o.pred is not None
    if metric.name == "accuracy":
        return int(np.count_nonzero(o.y == o.pred)), len(o.y)
    tp, fp, fn, _ = confusion(o.y, o.pred)
    return (tp, tp + fp) if metric.name == "precision" else (tp, tp + fn)


def wilson_interval(successes: int, trials: int, confidence: float) -> Estimate:
    """Wilson score interval of a binomial proportion."""
    if trials == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0, "wilson")
    z = z_value(confidence)
    p = successes / trials
    shrink = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / shrink
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / shrink
    se = math.sqrt(p * (1 - p) / trials)
    return Estimate(p, max(centre - half, 0.0), min(centre + half, 1.0), se, trials, "wilson")


def bootstrap_interval(
    metric: Metric, o: Outcomes, confidence: float, resamples: int, seed: int
) -> Estimate:
    """Percentile bootstrap interval over resampled rows (seeded, deterministic)."""
    rng = np.random.default_rng(seed)
    value = compute(metric, o)
    if not math.isfinite(value):
        return Estimate(value, math.nan, math.nan, math.nan, len(o), "bootstrap")
    if metric.name in ("f1", *MACRO_METRICS):
        replicates = _confusion_bootstrap(metric, o, resamples, rng)
        used = resamples
    else:
        used = affordable_resamples(len(o), resamples)
        statistic = _weighted_statistic(metric, o)
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite replicates dropped below
            replicates = np.concatenate([statistic(w) for w in weight_blocks(len(o), used, rng)])
    replicates = replicates[np.isfinite(replicates)]
    if len(replicates) < 2:
        return Estimate(value, math.nan, math.nan, math.nan, len(o), "bootstrap", used)
    tail = (1 - confidence) / 2
    lower, upper = np.quantile(replicates, [tail, 1 - tail])
    se = float(replicates.std(ddof=1))
    return Estimate(value, float(lower), float(upper), se, len(o), "bootstrap", used)


def affordable_resamples(n: int, wanted: int) -> int:
    """Resamples within the work budget: `wanted` for small n, never fewer than MIN_RESAMPLES."""
    return int(min(wanted, max(MIN_RESAMPLES, WORK_BUDGET // max(n, 1))))


def weight_blocks(n: int, resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Bootstrap resamples as (block x n) count matrices: row r counts how often each row is drawn."""
    per_block = max(1, BLOCK_CELLS // max(n, 1))
    done = 0
    while done < resamples:
        b = min(per_block, resamples - done)
        draws = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        done += b


def _weighted_statistic(metric: Metric, o: Outcomes) -> Callable[[np.ndarray], np.ndarray]:
    """The metric as a function of a block of count vectors W (b x n) -> b values."""
    n = len(o)
    if metric.name == "average_precision":
        return lambda w: _weighted_average_precision(o, w)
    if metric.name == "r2":
        return lambda w: _weighted_r2(o, w)
    if metric.name == "rmse":
        squared = (o.y - o.score) ** 2
        return lambda w: np.sqrt(w @ squared / n)
    terms = _loss_terms(metric.name, o)
    return lambda w: w @ terms / n


def _weighted_average_precision(o: Outcomes, w: np.ndarray) -> np.ndarray:
    """Average precision sum_k (R_k - R_{k-1}) P_k over distinct score thresholds, per weight row.

    This is scikit-learn's definition: no interpolation; tied scores form one threshold.
    """
    order = np.argsort(-o.score, kind="stable")
    score, y = o.score[order], o.y[order].astype(np.float64)
    ends = np.append(np.flatnonzero(np.diff(score) != 0), len(score) - 1)
    weights = w[:, order]
    tp = np.cumsum(weights * y, axis=1)[:, ends]
    predicted = np.cumsum(weights, axis=1)[:, ends]
    gained = np.diff(tp, axis=1, prepend=0.0)
    precision_at = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    return _ratio((gained * precision_at).sum(axis=1), tp[:, -1])


def _weighted_r2(o: Outcomes, w: np.ndarray) -> np.ndarray:
    n = len(o)
    residual = w @ ((o.y - o.score) ** 2)
    total = w @ (o.y**2) - (w @ o.y) ** 2 / n
    return 1 - _ratio(residual, total)


def _confusion_bootstrap(
    metric: Metric, o: Outcomes, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """f1 / macro replicates: a row bootstrap only moves rows between confusion cells, so
    drawing the cell counts from a multinomial is the same distribution, in O(resamples)."""
    assert o.pred is not None
    n = len(o)
    if metric.name == "f1":
        cells = np.array(confusion(o.y, o.pred), dtype=np.float64)
        draws = rng.multinomial(n, cells / n, size=resamples)
        tp, fp, fn = draws[:, 0], draws[:, 1], draws[:, 2]
        return _ratio(2 * tp, 2 * tp + fp + fn)
    k = _n_classes(o)
    cells = confusion_matrix(o.y, o.pred, k).ravel().astype(np.float64)
    draws = rng.multinomial(n, cells / n, size=resamples)
    return _macro_from_cells(metric.name, draws, k, _present_classes(o, k))


# --------------------------------------------------------------------------- labels needed

LABEL_METRICS = ("accuracy", "precision", "recall", "roc_auc")


def _share_counted(metric: str, prevalence: float | None, positive_rate: float | None) -> float:
    """The share of labelled rows a metric's estimate actually uses."""
    if metric == "accuracy":
        return 1.0
    if metric == "recall":
        return _rate("prevalence", prevalence)
    if metric == "precision":
        return _rate("positive rate", positive_rate if positive_rate is not None else prevalence)
    raise ValueError(f"labels-needed supports {', '.join(LABEL_METRICS)}, not {metric!r}")


def _rate(name: str, value: float | None) -> float:
    if value is None or not 0 < value < 1:
        raise ValueError(f"the {name} must be given, strictly between 0 and 1")
    return value


def hanley_mcneil_variance(auc: float, n_pos: float, n_neg: float) -> float:
    """Hanley & McNeil (1982) variance of an AUC estimate from n_pos positives, n_neg negatives."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    a2 = auc * auc
    return (auc * (1 - auc) + (n_pos - 1) * (q1 - a2) + (n_neg - 1) * (q2 - a2)) / (n_pos * n_neg)


def labels_needed(
    metric: str,
    expected: float,
    margin: float,
    confidence: float,
    *,
    prevalence: float | None = None,
    positive_rate: float | None = None,
) -> int:
    """Labelled rows needed so the metric's CI half-width is at most `margin`.

    Proportions (normal approximation): n = z²·p(1-p)/margin², divided by the share of labelled
    rows the metric counts (1 for accuracy, the prevalence for recall, the predicted-positive
    rate for precision). ROC AUC: the smallest n whose Hanley–McNeil variance with n·prevalence
    positives gives z·sd <= margin (a quadratic in n, solved in closed form).
    """
    _check_inputs(expected, margin, confidence)
    z = z_value(confidence)
    if metric == "roc_auc":
        return _auc_labels_needed(expected, margin, z, _rate("prevalence", prevalence))
    share = _share_counted(metric, prevalence, positive_rate)
    return _ceil(z * z * expected * (1 - expected) / (margin * margin) / share)


def _auc_labels_needed(auc: float, margin: float, z: float, prevalence: float) -> int:
    # Var(n) = (a + b·n) / (c·n²) with n_pos = π·n, n_neg = (1-π)·n; solve z²·Var(n) = margin².
    q1, q2, a2 = auc / (2 - auc), 2 * auc * auc / (1 + auc), auc * auc
    a = auc * (1 - auc) - (q1 - a2) - (q2 - a2)
    b = prevalence * (q1 - a2) + (1 - prevalence) * (q2 - a2)
    c = prevalence * (1 - prevalence)
    t = (margin / z) ** 2
    n = (b + math.sqrt(max(b * b + 4 * t * c * a, 0.0))) / (2 * t * c)
    return _ceil(n)


def half_width(
    metric: str,
    expected: float,
    labels: int,
    confidence: float,
    *,
    prevalence: float | None = None,
    positive_rate: float | None = None,
) -> float:
    """The CI half-width that `labels` labelled rows give (the inverse of `labels_needed`)."""
    _check_inputs(expected, 1.0, confidence)
    if labels < 1:
        raise ValueError("the number of labels must be at least 1")
    z = z_value(confidence)
    if metric == "roc_auc":
        pi = _rate("prevalence", prevalence)
        return z * math.sqrt(hanley_mcneil_variance(expected, pi * labels, (1 - pi) * labels))
    share = _share_counted(metric, prevalence, positive_rate)
    return z * math.sqrt(expected * (1 - expected) / (labels * share))


def _check_inputs(expected: float, margin: float, confidence: float) -> None:
    if not 0 < expected < 1:
        raise ValueError("the expected metric value must be strictly between 0 and 1")
    if not margin > 0:
        raise ValueError("the margin must be positive")
    if not 0 < confidence < 1:
        raise ValueError("the confidence must be strictly between 0 and 1")


def _ceil(x: float) -> int:
    # Guard against 1199.9999999 becoming 1200 only because of float noise.
    return max(1, math.ceil(x - 1e-9))


def labels_needed_report(
    metric: str,
    expected: float,
    confidence: float,
    *,
    margin: float | None = None,
    labels: int | None = None,
    prevalence: float | None = None,
    positive_rate: float | None = None,
) -> str:
    """The text of `mlcheck labels-needed`: labels for a margin, or the margin `labels` give."""
    if (margin is None) == (labels is None):
        raise ValueError("give exactly one of --margin (labels needed) or --labels (margin given)")
    rates = {"prevalence": prevalence, "positive_rate": positive_rate}
    level = f"{confidence:.0%} confidence"
    if margin is not None:
        n = labels_needed(metric, expected, margin, confidence, **rates)
        head = f"{metric} {expected:g} ± {margin:g} at {level} needs {n:,} labelled rows"
    else:
        assert labels is not None
        n = labels
        width = half_width(metric, expected, labels, confidence, **rates)
        head = f"{labels:,} labelled rows measure {metric} {expected:g} ± {width:.4g} at {level}"
    counted = _counted_rows(metric, n, prevalence, positive_rate)
    return "\n".join([head + counted + ".", *_notes(metric, prevalence, positive_rate)]) + "\n"


def _counted_rows(
    metric: str, n: int, prevalence: float | None, positive_rate: float | None
) -> str:
    """ ", of which about k positives" for the metrics that only count part of the rows."""
    if metric == "recall" and prevalence:
        return f", of which about {round(n * prevalence):,} positives"
    share = positive_rate if positive_rate is not None else prevalence
    if metric == "precision" and share:
        return f", of which about {round(n * share):,} predicted positives"
    if metric == "roc_auc" and prevalence:
        return f", of which about {round(n * min(prevalence, 1 - prevalence)):,} in the rarer class"
    return ""


def _notes(metric: str, prevalence: float | None, positive_rate: float | None) -> list[str]:
    formula = {
        "accuracy": "n = z²·p(1-p) / margin²  (normal approximation; every labelled row counts)",
        "recall": "n = z²·p(1-p) / margin² / prevalence  (only positives count)",
        "precision": "n = z²·p(1-p) / margin² / positive_rate  (only predicted positives count)",
        "roc_auc": "smallest n with z·sqrt(Var_HanleyMcNeil(AUC, n·prevalence, "
        "n·(1-prevalence))) <= margin",
    }[metric]
    notes = [f"formula: {formula}"]
    if metric == "precision" and positive_rate is None:
        notes.append("assumed: the predicted-positive rate equals the prevalence (--positive-rate)")
    rare = positive_rate if metric == "precision" and positive_rate else prevalence
    times = (
        f" (here about {1 / min(rare, 1 - rare):,.0f}x)" if rare and metric != "accuracy" else ""
    )
    notes.append(
        "note: a rare positive class multiplies the labels needed: recall sees only positives, "
        f"precision only predicted positives, ROC AUC is limited by the rarer class{times}; "
        "an accuracy that looks precise can hide a badly measured recall."
    )
    return notes
