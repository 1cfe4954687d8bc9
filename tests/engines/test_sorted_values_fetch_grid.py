"""DuckDB's `sorted_values_many` past the grid: up to `sorting.FETCH_ROWS` rows it fetches the
values and picks the rank grid in numpy; past that the engine numbers them (`large_sql`). Both
ways must give the same answer, value for value, grouped or not, with given ranks too. The
data: 3,000 rows, groups of 1,800 / 900 / 300 rows (one null group), rounded normals (ties),
a NaN, infinities and nulls sprinkled in."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mlcheck.engines import sorting
from mlcheck.engines.base import EngineSettings, make_engine


def _table() -> pa.Table:
    rng = np.random.default_rng(11)
    x = np.round(rng.normal(size=3_000), 2)
    x[[5, 700]] = np.nan
    x[[9, 2_000]] = [np.inf, -np.inf]
    g = np.array(["a"] * 1_800 + ["b"] * 900 + [None] * 300, dtype=object)
    mask = np.zeros(3_000, dtype=bool)
    mask[[17, 2_500]] = True
    y = np.round(rng.exponential(size=3_000), 1)
    return pa.table({"g": g, "x": pa.array(x, mask=mask), "y": y})


def _answers(monkeypatch: pytest.MonkeyPatch, fetch_rows: int, **asked: object) -> dict:
    monkeypatch.setattr(sorting, "FETCH_ROWS", fetch_rows)
    engine = make_engine(EngineSettings("duckdb", threads=2))
    try:
        engine.register("t", _table())
        return engine.sorted_values_many("t", ["x", "y"], **asked)  # type: ignore[arg-type]
    finally:
        engine.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "asked",
    [
        {"by": "g", "grid": 250},
        {"by": None, "grid": 1_000},
        {"by": "g", "grid": 100, "groups": ["a"]},
        {"by": "g", "grid": 100, "groups": ["b", None]},
        {"by": "g", "grid": 100, "ranks": {"x": [0, 10, 899, 1_799, 5_000], "y": [3]}},
    ],
)
def test_fetched_grid_equals_the_engines(monkeypatch: pytest.MonkeyPatch, asked: dict) -> None:
    fetched = _answers(monkeypatch, 10_000, **asked)
    numbered = _answers(monkeypatch, 0, **asked)
    assert fetched.keys() == numbered.keys()
    for column, groups in numbered.items():
        assert list(fetched[column]) == list(groups)
        for group, answer in groups.items():
            mine = fetched[column][group]
            assert (mine.n, mine.exact) == (answer.n, answer.exact)
            np.testing.assert_array_equal(mine.values, answer.values)


def test_on_grid_keeps_the_least_value_and_grid_ranks() -> None:
    """n = 10, grid 4: rank 1, then ranks r with floor(4r/10) > floor(4(r-1)/10): 3, 5, 8, 10
    (by hand: 4r/10 crosses 1 at r=3, 2 at r=5, 3 at r=8, 4 at r=10)."""
    ordered = np.arange(10.0) * 10
    np.testing.assert_array_equal(sorting.on_grid(ordered, 4), [0.0, 20.0, 40.0, 70.0, 90.0])
