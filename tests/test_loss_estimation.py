"""Direct loss estimation (regression without labels): trees against hand computations and
scikit-learn's histogram gradient boosting, estimates against a known error model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlcheck import loss_estimation as dle


def test_a_tree_splits_a_step_where_it_is_and_leaves_hold_group_means() -> None:
    """Residual 0 below bin 12 of column 1 and 5 from it; column 0 is noise. The first level
    splits column 1 at bin 11 (bins <= 11 left), and every leaf holds the mean of its rows,
    shrunk by LEAF_SHRINK rows: sum / (count + LEAF_SHRINK)."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, dle.BINS, size=(2, 4000)).astype(np.uint8)
    residual = np.where(codes[1] >= 12, 5.0, 0.0) + rng.normal(0, 0.1, 4000)
    tree, leaves = dle.fit_tree(codes, residual)
    assert (tree.column[0], tree.cut[0]) == (1, 11)
    assert ((leaves >> (dle.DEPTH - 1)) == (codes[1] >= 12)).all()
    for leaf in np.unique(leaves):  # leaves, not rows
        mine = residual[leaves == leaf]
        assert tree.leaf[leaf] == pytest.approx(mine.sum() / (len(mine) + dle.LEAF_SHRINK))
    np.testing.assert_array_equal(tree.leaves(codes), leaves)


def test_a_node_with_too_few_rows_is_not_split() -> None:
    codes = np.zeros((1, dle.MIN_LEAF), dtype=np.uint8)
    codes[0, : dle.MIN_LEAF // 2] = 3
    tree, leaves = dle.fit_tree(codes, np.arange(dle.MIN_LEAF, dtype=np.float64))
    assert (tree.cut == dle.BINS).all() and (leaves == 0).all()


def test_booster_agrees_with_sklearn_histogram_gradient_boosting() -> None:
    """Same model class (least squares, 200 rounds at 0.1, 20 rows a leaf, 32 quantile bins,
    depth 6), though ours are oblivious trees (one split per level): no worse on a smooth
    function, and predictions agree up to those details."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(1)
    x = rng.normal(size=(6000, 3))
    y = np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2 + rng.normal(0, 0.3, 6000)
    ours = dle.fit_booster(x, y)
    reference = HistGradientBoostingRegressor(
        max_iter=dle.TREES,
        learning_rate=dle.LEARNING_RATE,
        max_depth=dle.DEPTH,
        max_leaf_nodes=None,
        min_samples_leaf=dle.MIN_LEAF,
        max_bins=dle.BINS - 1,
        l2_regularization=0.0,
        early_stopping=False,
    ).fit(x, y)
    probe = rng.normal(size=(2000, 3))
    truth = np.sin(2 * probe[:, 0]) + 0.5 * probe[:, 1] ** 2
    ours_error = np.sqrt(np.mean((ours(probe) - truth) ** 2))
    their_error = np.sqrt(np.mean((reference.predict(probe) - truth) ** 2))
    assert ours_error < 1.15 * their_error
    assert np.corrcoef(ours(probe), reference.predict(probe))[0, 1] > 0.98


def known_error_sample(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (x, prediction) and truth; the error is N(0, sigma(x)²), sigma = 0.5 + |x|."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    prediction = 3 * x
    truth = prediction + rng.normal(0, 1, n) * (0.5 + np.abs(x))
    return np.column_stack([x, prediction]), truth


def test_estimates_follow_the_known_error_model_under_covariate_shift() -> None:
    """E|e| = sigma·sqrt(2/pi) and E[e²] = sigma² per row, so a chunk's expected MAE and RMSE
    are known by hand from its inputs alone. Live x moved by 0.5 sd (still inside research's
    range): both estimates land within 3% of those values."""
    inputs, truth = known_error_sample(20_000, 0.0, seed=2)
    model = dle.fit_loss_model(inputs, truth)
    live, _ = known_error_sample(5_000, 0.5, seed=3)
    sigma = 0.5 + np.abs(live[:, 0])
    expected_mae = float(np.mean(sigma) * math.sqrt(2 / math.pi))
    expected_rmse = float(np.sqrt(np.mean(sigma**2)))
    assert model.estimate("mae", live, 0.95).value == pytest.approx(expected_mae, rel=0.03)
    assert model.estimate("rmse", live, 0.95).value == pytest.approx(expected_rmse, rel=0.03)


def test_sampling_error_is_the_research_loss_spread_over_root_n() -> None:
    """se(MAE) = sd(|e|) / sqrt(n); se(RMSE) = sd(e²) / (sqrt(n) · 2 · RMSE) (delta method);
    the interval is the estimate ± z·se (z = 1.959964 at 95%), clipped at 0."""
    inputs, truth = known_error_sample(5_000, 0.0, seed=4)
    model = dle.fit_loss_model(inputs, truth)
    error = truth - inputs[:, 1]
    live = inputs[:400]
    mae = model.estimate("mae", live, 0.95)
    assert mae.se == pytest.approx(np.abs(error).std(ddof=1) / 20)
    assert mae.method == "dle" and mae.n == 400
    assert (mae.lower, mae.upper) == pytest.approx(
        (mae.value - 1.959964 * mae.se, mae.value + 1.959964 * mae.se)
    )
    rmse = model.estimate("rmse", live, 0.95)
    assert rmse.se == pytest.approx((error**2).std(ddof=1) / 20 / (2 * rmse.value))
    with pytest.raises(ValueError, match="r2 cannot be estimated"):
        model.estimate("r2", live, 0.95)
    assert math.isnan(model.estimate("mae", live[:0], 0.95).value)


def test_fitting_is_deterministic_and_subsamples_large_research() -> None:
    inputs, truth = known_error_sample(dle.MAX_FIT_ROWS + 500, 0.0, seed=5)
    truth[:3] = np.nan  # rows without a label are left out
    first = dle.fit_loss_model(inputs, truth, seed=7)
    again = dle.fit_loss_model(inputs, truth, seed=7)
    probe = inputs[:1000]
    np.testing.assert_array_equal(first.absolute(probe), again.absolute(probe))
    assert np.isfinite(first.absolute(probe)).all()
