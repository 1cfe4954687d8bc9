"""Direct loss estimation (DLE): a regression model's error on live rows without labels.

A regression model's residual size often depends on its inputs (older cars are priced less
precisely, extreme predictions miss more). DLE learns that dependence on research rows with
labels and predicts it for live rows:

1. Fit a small gradient-boosted ensemble of oblivious trees (least squares, histogram splits,
   numpy only) from (features, prediction) to the absolute error |y - ŷ| and, separately, the
   squared error, on the research baseline rows (held out from training, so their errors are
   honest).
2. On live rows, MAE is estimated as the mean predicted absolute error and RMSE as the square
   root of the mean predicted squared error; MSE-based metrics follow from the same sums.
3. Sampling error: the spread of the realized loss on the research rows, sd(loss) / sqrt(n),
   carried to RMSE by the delta method. It covers the luck of n live labels, not the model's
   own error.

Like CBPE, it assumes the input-error relation seen in research still holds live (no concept
drift): it follows covariate shift into regions where the model is known to miss more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlcheck.metrics import Estimate, z_value

# The loss model is small on purpose: a few hundred thousand cells per level, seconds at most.
TREES = 200
DEPTH = 6
LEARNING_RATE = 0.1
BINS = 32
MIN_LEAF = 20
LEAF_SHRINK = 1.0  # rows' worth of pull towards 0 in every leaf (L2 regularisation)
PREDICT_BLOCK = 1 << 15
MAX_FIT_ROWS = 20_000  # research rows beyond this are subsampled (seeded) for the fit
ESTIMABLE_REGRESSION = ("mae", "rmse")


@dataclass(frozen=True)
class Binning:
    """Per input column, interior quantile edges of research values (NaN: its own last bin)."""

    edges: list[np.ndarray]

    @classmethod
    def fit(cls, columns: np.ndarray) -> Binning:
        edges = []
        for j in range(columns.shape[1]):  # input columns, not rows
            finite = columns[:, j][np.isfinite(columns[:, j])]
            quantiles = np.linspace(0, 1, BINS)[1:-1]
            edges.append(np.unique(np.quantile(finite, quantiles)) if len(finite) else np.array([]))
        return cls(edges)

    def codes(self, columns: np.ndarray) -> np.ndarray:
        """Bin numbers 0..BINS-1 (NaN in the last), one row per input column: k x n uint8, so
        a split reads one contiguous row."""
        out = np.empty((len(self.edges), len(columns)), dtype=np.uint8)
        for j, edges in enumerate(self.edges):  # input columns, not rows
            found = np.searchsorted(edges, columns[:, j], side="right")
            out[j] = np.where(np.isnan(columns[:, j]), BINS - 1, found)
        return out


@dataclass(frozen=True)
class Tree:
    """An oblivious tree of depth DEPTH: every node of a level splits on the same (column, bin),
    so a row's leaf is the bits of its DEPTH comparisons, one contiguous pass each (a tree per
    node and row would gather across columns: 100x slower on a million live rows). A row goes
    right when its bin is above the level's cut; cut = BINS splits nothing."""

    column: np.ndarray  # int, DEPTH
    cut: np.ndarray  # int, DEPTH
    leaf: np.ndarray  # float, 2**DEPTH

    def leaves(self, codes: np.ndarray) -> np.ndarray:
        node = np.zeros(codes.shape[1], dtype=np.uint8)  # 2**DEPTH <= 256 leaves
        for column, cut in zip(self.column.tolist(), self.cut.tolist(), strict=True):  # levels
            node <<= 1
            node |= codes[column] > cut
        return node

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        return self.leaf[self.leaves(codes)]

    @property
    def scaled(self) -> np.ndarray:
        """Leaf values times the learning rate: what the tree adds to a boosted sum."""
        return LEARNING_RATE * self.leaf


def _best_split(
    codes: np.ndarray, node: np.ndarray, residual: np.ndarray, nodes: int
) -> tuple[int, int]:
    """The (column, bin) that, applied to every node of the level, most reduces squared error:
    histograms of residual sums and counts per (node, column, bin); a node side with fewer
    than MIN_LEAF rows adds no gain. (0, BINS) when nothing helps."""
    k = codes.shape[0]
    sums = np.empty((nodes, k, BINS))
    counts = np.empty((nodes, k, BINS))
    offset = node * BINS
    for j in range(k):  # input columns, not rows
        cell = offset + codes[j]
        sums[:, j] = np.bincount(cell, residual, nodes * BINS).reshape(nodes, BINS)
        counts[:, j] = np.bincount(cell, None, nodes * BINS).reshape(nodes, BINS)
    left_sum, left_n = np.cumsum(sums, axis=2), np.cumsum(counts, axis=2)
    total_sum, total_n = left_sum[:, :, -1:], left_n[:, :, -1:]
    right_sum, right_n = total_sum - left_sum, total_n - left_n
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = left_sum**2 / left_n + right_sum**2 / right_n - total_sum**2 / total_n
    gain[~((left_n >= MIN_LEAF) & (right_n >= MIN_LEAF))] = 0.0
    total = gain.sum(axis=0).ravel()
    best = int(np.argmax(total))
    return (best // BINS, best % BINS) if total[best] > 0 else (0, BINS)


def fit_tree(codes: np.ndarray, residual: np.ndarray) -> tuple[Tree, np.ndarray]:
    """One least-squares oblivious tree, grown level by level, and the leaf of each fitted row.
    Leaf values shrink towards 0 by LEAF_SHRINK rows (L2 regularisation)."""
    node = np.zeros(codes.shape[1], dtype=np.intp)
    columns, cuts = [], []
    for level in range(DEPTH):  # levels, not rows
        column, cut = _best_split(codes, node, residual, 1 << level)
        columns.append(column)
        cuts.append(cut)
        node = 2 * node + (codes[column] > cut)
    leaves = 1 << DEPTH
    sums = np.bincount(node, residual, leaves)
    counts = np.bincount(node, None, leaves)
    leaf = sums / (counts + LEAF_SHRINK)
    return Tree(np.array(columns), np.array(cuts), leaf), node


@dataclass(frozen=True)
class Booster:
    """A gradient-boosted sum of trees on binned inputs (least squares)."""

    binning: Binning
    base: float
    trees: list[Tree]

    def __call__(self, columns: np.ndarray) -> np.ndarray:
        codes = self.binning.codes(columns)
        out = np.full(codes.shape[1], self.base)
        # Blocks of rows small enough that every tree's passes stay in the CPU cache.
        for start in range(0, codes.shape[1], PREDICT_BLOCK):  # blocks, not rows
            block = codes[:, start : start + PREDICT_BLOCK]
            total = out[start : start + PREDICT_BLOCK]
            for tree in self.trees:  # trees, not rows
                total += tree.scaled[tree.leaves(block)]
        return out


def fit_booster(columns: np.ndarray, target: np.ndarray) -> Booster:
    binning = Binning.fit(columns)
    codes = binning.codes(columns)
    base = float(target.mean())
    fitted = np.full(len(target), base)
    trees = []
    for _ in range(TREES):  # trees, not rows
        tree, leaves = fit_tree(codes, target - fitted)
        fitted += LEARNING_RATE * tree.leaf[leaves]
        trees.append(tree)
    return Booster(binning, base, trees)


@dataclass(frozen=True)
class LossModel:
    """Predicted absolute and squared error of each row, and the research spread of each."""

    absolute: Booster
    squared: Booster
    sd_absolute: float
    sd_squared: float

    def predict(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's expected absolute and squared error (inputs then prediction)."""
        return np.maximum(self.absolute(columns), 0), np.maximum(self.squared(columns), 0)

    def estimate(self, name: str, columns: np.ndarray, confidence: float) -> Estimate:
        """Expected MAE or RMSE of rows `columns` (inputs then prediction), with its interval."""
        return self.summarise(name, *self.predict(columns), confidence)

    def summarise(
        self, name: str, absolute: np.ndarray, squared: np.ndarray, confidence: float
    ) -> Estimate:
        """MAE or RMSE from rows' predicted losses, with its sampling error."""
        n = len(absolute)
        if n == 0:
            return Estimate(math.nan, math.nan, math.nan, math.nan, 0, "dle")
        if name == "mae":
            value = float(absolute.mean())
            se = self.sd_absolute / math.sqrt(n)
        elif name == "rmse":
            value = math.sqrt(float(squared.mean()))
            se = self.sd_squared / math.sqrt(n) / (2 * value) if value > 0 else math.nan
        else:
            raise ValueError(f"{name} cannot be estimated without labels for a regression task")
        half = z_value(confidence) * se
        return Estimate(value, max(value - half, 0.0), value + half, se, n, "dle")


def fit_loss_model(columns: np.ndarray, truth: np.ndarray, seed: int = 0) -> LossModel:
    """Fit on research rows: `columns` = inputs then the model's prediction, `truth` the label."""
    keep = np.isfinite(truth) & np.isfinite(columns[:, -1])
    columns, truth = columns[keep], truth[keep]
    if len(truth) > MAX_FIT_ROWS:
        chosen = np.sort(np.random.default_rng(seed).choice(len(truth), MAX_FIT_ROWS, False))
        columns, truth = columns[chosen], truth[chosen]
    error = truth - columns[:, -1]
    absolute, squared = np.abs(error), error**2
    return LossModel(
        fit_booster(columns, absolute),
        fit_booster(columns, squared),
        float(absolute.std(ddof=1)),
        float(squared.std(ddof=1)),
    )
