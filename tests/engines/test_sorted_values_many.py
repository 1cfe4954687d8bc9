"""`sorted_values_many`: per column and group, the sorted finite values (exact), the least value
and the elements of ranks ceil(n * i / grid) past `grid` values, or the values at given
0-based ranks; the same answer on every engine, checked against numpy's sort and
`np.quantile(..., method="inverted_cdf")` by rank. Both ways an engine answers are covered: at
most `grid` rows (fetched, sorted in numpy) and past it (numbered by the engine)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest

from mlcheck.engines import AggregateEngine
from mlcheck.engines.sorting import batches

Register = Callable[[str, pa.Table], str]


def _table() -> pa.Table:
    """Groups a (12 rows: ties, NaN, +-inf, -0.0, a null), b (3), null (2) and e (2 rows, no
    finite value: left out); a float column `x`, an integer `i`, a float32 `f` (null in b)."""
    x = [3.0, 1.0, 2.0, 2.0, None, math.nan, math.inf, -math.inf, -0.0, 7.5, 0.5, 9.0,
         4.0, 6.0, 5.0, -1.0, 8.0, math.nan, None]  # fmt: skip
    g = ["a"] * 12 + ["b"] * 3 + [None] * 2 + ["e"] * 2
    f = [float(v) / 4 for v in range(19)]
    f[13] = None  # type: ignore[call-overload]
    return pa.table({"g": g, "x": x, "i": list(range(19)), "f": pa.array(f, pa.float32())})


def _finite(table: pa.Table, column: str, group: str | None, whole: bool = False) -> np.ndarray:
    values = table.column(column).to_pylist()
    x = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    g = np.array(table.column("g").to_pylist(), dtype=object)
    picked = x if whole else x[np.array([v == group for v in g])]
    return np.sort(picked[np.isfinite(picked)]) + 0.0


@pytest.mark.parametrize("grid", [100, 19])
def test_exact_values_of_many_columns_per_group(
    engine: AggregateEngine, register: Register, grid: int
) -> None:
    """No group past the grid (19 rows: fetched and sorted in numpy): every finite value per
    column and group, ascending, -0.0 as 0.0; groups ordered, nulls last, e left out."""
    table = _table()
    name = register("t", table)
    found = engine.sorted_values_many(name, ["x", "i", "f"], "g", grid=grid)
    assert list(found) == ["x", "i", "f"]
    assert list(found["x"]) == ["a", "b", None]
    assert list(found["i"]) == ["a", "b", "e", None]
    for column, groups in found.items():
        for group, answer in groups.items():
            expected = _finite(table, column, group)
            assert answer.n == len(expected) and answer.exact
            np.testing.assert_array_equal(answer.values, expected)
            assert not np.any((answer.values == 0) & np.signbit(answer.values))


@pytest.mark.parametrize("grid", [100, 5])
def test_whole_relation(engine: AggregateEngine, register: Register, grid: int) -> None:
    """Ungrouped: one answer (group None) per column; past the grid (19 rows > 5) the grid."""
    table = _table()
    name = register("t", table)
    found = engine.sorted_values_many(name, ["x", "i"], grid=grid)
    for column in ("x", "i"):
        data = _finite(table, column, None, whole=True)
        answer = found[column][None]
        assert answer.n == len(data)
        if len(data) <= grid:
            np.testing.assert_array_equal(answer.values, data)
        else:
            k = np.arange(1, grid + 1) / grid
            expected = [data[0], *np.quantile(data, k, method="inverted_cdf")]
            np.testing.assert_array_equal(answer.values, expected)


def test_rank_grid_past_the_grid(engine: AggregateEngine, register: Register) -> None:
    """Group a has 8 finite values, grid 3: the least, then ranks ceil(8 * i / 3) = 3, 6, 8
    (numpy's inverted_cdf quantiles at i / 3); b (3 values) stays exact."""
    table = _table()
    name = register("t", table)
    found = engine.sorted_values_many(name, ["x"], "g", grid=3)["x"]
    a = _finite(table, "x", "a")
    assert found["a"].n == 8 and not found["a"].exact
    expected = [a[0], *np.quantile(a, [1 / 3, 2 / 3, 1.0], method="inverted_cdf")]
    np.testing.assert_array_equal(found["a"].values, expected)
    np.testing.assert_array_equal(found["a"].sample, a[[2, 5, 7]])
    assert found["b"].exact and found["b"].n == 3
    assert found["b"].at(2) == _finite(table, "x", "b")[2]
    with pytest.raises(KeyError):  # a grid holds ranks other than its positions
        found["a"].at(1)


@pytest.mark.parametrize("grid", [7, 64, 1000])
def test_grid_bounds_the_cdf(engine: AggregateEngine, register: Register, grid: int) -> None:
    """The grid's CDF G is within [F - 1/grid, F] of the data's F at every value (the bound
    PERF002 documents for its approximation), on 5,000 values with ties."""
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=5_000), 2)
    name = register("t", pa.table({"x": x}))
    answer = engine.sorted_values_many(name, ["x"], grid=grid)["x"][None]
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
    every = engine.sorted_values_many(name, ["x", "i"], "g", grid=grid)
    asked = engine.sorted_values_many(name, ["x", "i"], "g", grid=grid, groups=["b", None])
    for column in ("x", "i"):
        assert list(asked[column]) == ["b", None]
        for group, answer in asked[column].items():
            assert answer.n == every[column][group].n
            np.testing.assert_array_equal(answer.values, every[column][group].values)
    assert engine.sorted_values_many(name, ["x"], "g", grid=grid, groups=["z"]) == {"x": {}}
    for only in ("a", "b", None, "e"):  # one group asked (its rows filtered by the engine)
        alone = engine.sorted_values_many(name, ["x", "i"], "g", grid=grid, groups=[only])
        for column in ("x", "i"):
            assert list(alone[column]) == ([only] if only in every[column] else [])
            for group, answer in alone[column].items():
                assert answer.n == every[column][group].n
                np.testing.assert_array_equal(answer.values, every[column][group].values)


@pytest.mark.parametrize("grid", [1_000_000, 7])
def test_values_at_ranks_match_numpy(
    engine: AggregateEngine, register: Register, grid: int
) -> None:
    """Given ranks of many columns (floats with NaN, nulls, +-inf, ties and -0.0; float32;
    integers), every rank asked, and ranks outside the finite values left out; at most and
    past `grid` rows alike."""
    rng = np.random.default_rng(7)
    floats: list[float | None] = [float(v) for v in np.round(rng.normal(size=40), 1)]
    floats[:6] = [math.nan, math.inf, -math.inf, -0.0, 0.0, math.nan]
    floats[-3:] = [None, None, None]
    ints = [int(v) for v in rng.integers(-5, 5, size=40)]
    table = pa.table(
        {
            "f": pa.array(floats, pa.float64()),
            "h": pa.array([float(v) for v in rng.normal(size=40)], pa.float32()),
            "i": pa.array(ints, pa.int64()),
        }
    )
    name = register("t", table)
    expected = {
        "f": np.sort([v for v in floats if v is not None and math.isfinite(v)]) + 0.0,
        "h": np.sort(table.column("h").to_numpy().astype(np.float64)),
        "i": np.sort(np.array(ints, dtype=np.float64)),
    }
    ranks = {c: [-1, *range(len(v)), len(v), 99] for c, v in expected.items()}
    found = engine.sorted_values_many(name, list(ranks), grid=grid, ranks=ranks)
    for c, values in expected.items():
        answer = found[c][None]
        assert answer.n == len(values) and not answer.exact
        assert answer.ranks.tolist() == list(range(len(values)))
        assert [answer.at(i) for i in range(len(values))] == values.tolist()
        assert all(math.copysign(1.0, v) == 1.0 for v in answer.values if v == 0.0)
        with pytest.raises(KeyError):
            answer.at(len(values))


def test_ranks_of_columns_without_finite_values(
    engine: AggregateEngine, register: Register
) -> None:
    """An all-null, all-NaN or all-infinite column has no group; a column asked without ranks
    in the same question gets all its values."""
    table = pa.table(
        {
            "x": pa.array([3.0, None, 1.0, 2.0], pa.float64()),
            "nulls": pa.array([None] * 4, pa.float64()),
            "nans": pa.array([math.nan, math.nan, math.inf, -math.inf], pa.float64()),
        }
    )
    name = register("t", table)
    found = engine.sorted_values_many(
        name, ["x", "nulls", "nans"], ranks={"nulls": [0], "nans": [0, 1]}
    )
    assert found["nulls"] == {} and found["nans"] == {}
    np.testing.assert_array_equal(found["x"][None].values, [1.0, 2.0, 3.0])
    assert engine.sorted_values_many(name, []) == {}


@pytest.mark.parametrize("grid", [1_000_000, 1_000])
def test_large_column_middle_ranks(engine: AggregateEngine, register: Register, grid: int) -> None:
    """20,011 values: the ranks around the median and the tails, as numpy's sort has them."""
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(size=20_011), 3)
    name = register("t", pa.table({"x": values}))
    n = len(values)
    ranks = [0, 1, n // 2 - 1, n // 2, n // 2 + 1, int(0.05 * (n - 1)), n - 2, n - 1]
    answer = engine.sorted_values_many(name, ["x"], grid=grid, ranks={"x": ranks})["x"][None]
    ordered = np.sort(values)
    assert {i: answer.at(i) for i in ranks} == {i: float(ordered[i]) for i in ranks}


def test_batches_bound_the_doubles_held() -> None:
    """A batch of columns holds at most four grids of doubles (one column at the least), and
    at most 64 columns (a statement's size on wide tables)."""
    columns = [f"c{j}" for j in range(200)]
    assert [len(b) for b in batches(columns[:10], 1_000_000, 1_000_000)] == [4, 4, 2]
    assert [len(b) for b in batches(columns[:3], 5_000_000, 1_000_000)] == [1, 1, 1]
    assert [len(b) for b in batches(columns, 20, 1_000_000)] == [64, 64, 64, 8]
    assert [c for b in batches(columns, 7, 3) for c in b] == columns
