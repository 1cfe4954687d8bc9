"""`sorted_values`: per group, the sorted finite values (exact), or the least value and the
elements of ranks ceil(n * i / grid) past `grid` values; the same answer on every engine,
checked against numpy."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest

from mlcheck.engines import AggregateEngine

Register = Callable[[str, pa.Table], str]


def _table() -> pa.Table:
    """Three groups (a: 10 values with ties, NaN, +-inf, -0.0 and a null; b: 3 values; null
    group: 2 values) of a float column, and an integer column."""
    x = [3.0, 1.0, 2.0, 2.0, None, math.nan, math.inf, -math.inf, -0.0, 7.5, 0.5, 9.0,
         4.0, 6.0, 5.0, -1.0, 8.0]  # fmt: skip
    g = ["a"] * 12 + ["b"] * 3 + [None] * 2
    return pa.table({"g": g, "x": x, "i": list(range(17))})


def _finite(table: pa.Table, group: str | None) -> np.ndarray:
    x = np.array([math.nan if v is None else v for v in table.column("x").to_pylist()])
    g = np.array(table.column("g").to_pylist(), dtype=object)
    picked = x[(g == group) if group is not None else np.array([v is None for v in g])]
    return np.sort(picked[np.isfinite(picked)]) + 0.0


def test_exact_values_per_group(engine: AggregateEngine, register: Register) -> None:
    """No group larger than the grid: every finite value, ascending, -0.0 as 0.0."""
    table = _table()
    name = register("t", table)
    found = engine.sorted_values(name, "x", "g", grid=100)
    assert list(found) == ["a", "b", None]  # ordered by group, nulls last
    for group, answer in found.items():
        expected = _finite(table, group)
        assert answer.n == len(expected) and answer.exact
        np.testing.assert_array_equal(answer.values, expected)
        assert not np.any((answer.values == 0) & np.signbit(answer.values))  # -0.0 as 0.0


def test_whole_relation_and_integers(engine: AggregateEngine, register: Register) -> None:
    name = register("t", _table())
    found = engine.sorted_values(name, "i")
    assert list(found) == [None]
    np.testing.assert_array_equal(found[None].values, np.arange(17, dtype=np.float64))


def test_rank_grid_past_the_grid(engine: AggregateEngine, register: Register) -> None:
    """Group a has 8 finite values, grid 3: the least, then ranks ceil(8 * i / 3) = 3, 6, 8
    (numpy's inverted_cdf quantiles at i / 3); b (3 values) stays exact."""
    table = _table()
    name = register("t", table)
    found = engine.sorted_values(name, "x", "g", grid=3)
    a = _finite(table, "a")
    assert found["a"].n == 8 and not found["a"].exact
    expected = [a[0], *np.quantile(a, [1 / 3, 2 / 3, 1.0], method="inverted_cdf")]
    np.testing.assert_array_equal(found["a"].values, expected)
    np.testing.assert_array_equal(found["a"].values[1:], a[[2, 5, 7]])
    np.testing.assert_array_equal(found["a"].sample, a[[2, 5, 7]])
    assert found["b"].exact and found["b"].n == 3


@pytest.mark.parametrize("grid", [7, 64, 1000])
def test_grid_bounds_the_cdf(engine: AggregateEngine, register: Register, grid: int) -> None:
    """The grid's CDF G is within [F - 1/grid, F] of the data's F at every value (the bound
    PERF002 documents for its approximation), on 5,000 values with ties."""
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=5_000), 2)
    name = register("t", pa.table({"x": x}))
    answer = engine.sorted_values(name, "x", grid=grid)[None]
    assert len(answer.values) == grid + 1 and answer.values[0] == x.min()
    data, sample = np.sort(x), answer.sample
    points = np.unique(np.concatenate([data, data - 0.005]))
    f = np.searchsorted(data, points, side="right") / len(data)
    g = np.searchsorted(sample, points, side="right") / grid
    assert np.all(g <= f + 1e-12) and np.all(f < g + 1.0 / grid)


@pytest.mark.parametrize("grid", [100, 3])
def test_only_the_asked_groups(engine: AggregateEngine, register: Register, grid: int) -> None:
    """`groups`: the answer of those groups only (a null group too), each as when all are asked."""
    name = register("t", _table())
    every = engine.sorted_values(name, "x", "g", grid=grid)
    asked = engine.sorted_values(name, "x", "g", grid=grid, groups=["b", None])
    assert list(asked) == ["b", None]
    for group, answer in asked.items():
        assert answer.n == every[group].n
        np.testing.assert_array_equal(answer.values, every[group].values)
    assert engine.sorted_values(name, "x", "g", grid=grid, groups=["z"]) == {}
