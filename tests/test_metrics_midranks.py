"""`metrics.midranks` is scipy.stats.rankdata (average ties, NaN propagates), without scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from mlcheck.metrics import midranks

RNG = np.random.default_rng(8)


@pytest.mark.parametrize(
    "values",
    [
        np.round(RNG.normal(size=5000), 1),  # many ties
        RNG.normal(size=3000),  # none
        RNG.integers(0, 4, 200),  # integers, heavy ties
        np.array([2.0, 2.0, 2.0]),
        np.array([7.0]),
        np.array([], dtype=np.float64),
        np.array([1.0, np.nan, 0.5]),  # NaN: every rank NaN, as rankdata's default policy
    ],
)
def test_midranks_equal_scipy_rankdata(values: np.ndarray) -> None:
    np.testing.assert_array_equal(midranks(values), rankdata(values))
