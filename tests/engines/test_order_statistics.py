"""`order_statistics`: values at 0-based ranks of each column's sorted non-null, non-NaN values,
many columns per question, checked against numpy's sort on both engines."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from mlcheck.engines import AggregateEngine


def _sorted_clean(values: list[float | None]) -> np.ndarray:
    x = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.sort(x[~np.isnan(x)])


def test_ranks_of_many_columns_match_numpy(
    engine: AggregateEngine, register: Callable[[str, pa.Table], str]
) -> None:
    """Floats with NaN, nulls, both infinities, ties and -0.0; integers; every rank asked."""
    rng = np.random.default_rng(7)
    floats = [float(v) for v in np.round(rng.normal(size=40), 1)]
    floats[:6] = [math.nan, math.inf, -math.inf, -0.0, 0.0, math.nan]
    floats_with_nulls: list[float | None] = [*floats[:-3], None, None, None]
    ints = [int(v) for v in rng.integers(-5, 5, size=40)]
    table = pa.table(
        {
            "f": pa.array(floats_with_nulls, pa.float64()),
            "g": pa.array([float(v) for v in rng.normal(size=40)], pa.float32()),
            "i": pa.array(ints, pa.int64()),
        }
    )
    name = register("t", table)
    expected = {
        "f": _sorted_clean(floats_with_nulls),
        "g": np.sort(table.column("g").to_numpy().astype(np.float64)),
        "i": np.sort(np.array(ints, dtype=np.float64)),
    }
    ranks = {c: list(range(len(v))) for c, v in expected.items()}
    found = engine.order_statistics(name, ranks)
    for c, values in expected.items():
        assert [found[c][i] for i in ranks[c]] == values.tolist()
        assert all(math.copysign(1.0, v) == 1.0 for v in found[c].values() if v == 0.0)


def test_ranks_outside_the_values_are_left_out(
    engine: AggregateEngine, register: Callable[[str, pa.Table], str]
) -> None:
    """Ranks past the end (or negative) and all-null or all-NaN columns give no values."""
    table = pa.table(
        {
            "x": pa.array([3.0, None, 1.0, 2.0], pa.float64()),
            "nulls": pa.array([None] * 4, pa.float64()),
            "nans": pa.array([math.nan] * 4, pa.float64()),
        }
    )
    name = register("t", table)
    found = engine.order_statistics(name, {"x": [-1, 0, 2, 3, 9], "nulls": [0], "nans": [0, 1]})
    assert found == {"x": {0: 1.0, 2: 3.0}, "nulls": {}, "nans": {}}
    assert engine.order_statistics(name, {"x": []}) == {}


def test_large_column_middle_ranks(
    engine: AggregateEngine, register: Callable[[str, pa.Table], str]
) -> None:
    """A column long enough that n * p rounds: the ranks around the median and the tails."""
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=20_011), 3)
    name = register("t", pa.table({"x": values}))
    n = len(values)
    ranks = [0, 1, n // 2 - 1, n // 2, n // 2 + 1, int(0.05 * (n - 1)), n - 2, n - 1]
    found = engine.order_statistics(name, {"x": ranks})
    ordered = np.sort(values)
    assert found == {"x": {i: float(ordered[i]) for i in ranks}}
    assert engine.order_statistics(name, {"x": ranks}, {"x": n}) == found
