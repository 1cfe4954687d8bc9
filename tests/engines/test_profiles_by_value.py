"""A non-float column's profile from one grouping of its values (DuckDB, long tables): the same
statistics, digit for digit, as the row-by-row queries; and the fixed-point sums that skip the
NaN/infinity flags where the column's extremes prove them absent still see every infinity."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcheck.compare import _normalize, column_stats, pair_kind
from mlcheck.engines import AggregateEngine
from mlcheck.engines import duck as duck_engine
from mlcheck.engines.base import EngineSettings

Register = Any


def grouped_values() -> pa.Table:
    """600 rows: few integers (summed from their groups), many integers beyond 2**53 and
    negative (summed row by row), unsigned near the top, booleans, text and timestamps with
    nulls, dates, and a column of nulls only."""
    rng = np.random.default_rng(11)
    n = 600
    nulls = np.arange(n) % 37 == 5
    return pa.table(
        {
            "few": pa.array(rng.integers(-3, 4, n), mask=nulls),
            "many": pa.array(rng.integers(-(2**62), 2**62, n)),
            "big": pa.array(2**63 + rng.integers(0, 2**62, n).astype(np.uint64), pa.uint64()),
            "flag": pa.array(rng.integers(0, 2, n).astype(bool), mask=nulls),
            "text": pa.array(rng.choice(["a", "bb", "", "é"], n), mask=np.arange(n) % 11 == 3),
            "when": pa.array(
                np.datetime64("2024-01-01", "s") + rng.integers(0, 50, n) * 3600,
                mask=np.arange(n) % 13 == 0,
            ),
            "day": pa.array(np.datetime64("2020-01-01", "D") + rng.integers(0, 9, n)),
            "none": pa.array([None] * n, pa.int64()),
        }
    )


def kinds_of(engine: AggregateEngine, name: str) -> dict[str, Any]:
    return {f.name: pair_kind(f.type, f.type) for f in engine.schema(name)}


@pytest.mark.parametrize("layout", ["arrow", "parquet"])
def test_grouping_gives_the_row_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, layout: str
) -> None:
    engine = duck_engine.DuckDBEngine(EngineSettings("duckdb", threads=2))
    table = grouped_values()
    if layout == "arrow":
        engine.register("T", table)
    else:
        pq.write_table(table, tmp_path / "t.parquet")
        engine.register("T", tmp_path / "t.parquet")
    kinds = kinds_of(engine, "T")
    by_rows = engine.profiles("T", kinds, 3)
    monkeypatch.setattr(duck_engine, "_BY_VALUE_ROWS", 0)
    asked: list[str] = []
    ask = engine._rows

    def logged(sql: str, params: Any = ()) -> Any:
        asked.append(sql)
        return ask(sql, params)

    monkeypatch.setattr(engine, "_rows", logged)
    by_value = engine.profiles("T", kinds, 3)
    assert repr(by_value) == repr(by_rows)
    # one grouping a column; sums weighted only for few groups: few (7 values and null) and
    # flag (2 and null), two queries each; many and big (600 groups) are summed row by row
    assert sum("GROUP BY ALL" in q for q in asked) == len(kinds)
    assert sum("AS w__" in q for q in asked) == 4
    values = [v for v in table.column("few").to_pylist() if v is not None]
    assert by_value["few"].sum == sum(values) and by_value["few"].distinct == 7
    assert by_value["many"].sum == math.fsum(float(v) for v in table.column("many").to_pylist())
    table = table.cast(engine.schema("T"))  # parquet keeps seconds as microseconds
    for column, kind in kinds.items():
        norm = _normalize(table.column(column), kind, table.schema.field(column).type)
        reference = column_stats(norm.values, norm.valid, kind, 3, norm.unit_ns)
        for stat in ("count", "nulls", "distinct", "min", "max", "top"):
            assert getattr(by_value[column], stat) == getattr(reference, stat), (column, stat)
    engine.close()


def test_weighted_sums_are_exact_beyond_two_to_the_53() -> None:
    """Three values, each 10,000 times: 2**62 - 1 is not a double (it rounds to 2**62, as the
    row-by-row sums round it); the sums are exact over the rounded values."""
    engine = duck_engine.DuckDBEngine(EngineSettings("duckdb", threads=2))
    values = [2**62 - 1, -(2**61) + 3, 12345] * 10_000
    engine.register("T", pa.table({"v": pa.array(values, pa.int64())}))
    by_rows = engine.profiles("T", {"v": "integer"}, 2)
    saved = duck_engine._BY_VALUE_ROWS
    duck_engine._BY_VALUE_ROWS = 0
    try:
        by_value = engine.profiles("T", {"v": "integer"}, 2)
    finally:
        duck_engine._BY_VALUE_ROWS = saved
    assert repr(by_value) == repr(by_rows)
    rounded = [float(v) for v in values]
    assert by_value["v"].sum == math.fsum(rounded)
    assert by_value["v"].rms == math.sqrt(math.fsum(v * v for v in rounded) / len(rounded))
    engine.close()


@pytest.mark.parametrize(
    ("values", "sum_", "rms"),
    [
        ([1.0, math.inf, 2.0], math.inf, math.inf),
        ([1.0, math.inf, -math.inf], math.nan, math.inf),
        ([1e200, -1e200, 1e190], 1e190, math.inf),  # squares overflow: the bound is finite
        ([1.5, math.nan, -2.5], -1.0, math.sqrt((1.5**2 + 2.5**2) / 2)),
    ],
)
def test_infinities_and_overflow_still_flagged(
    engine: AggregateEngine, register: Register, values: list[float], sum_: float, rms: float
) -> None:
    found = engine.profiles(register("T", pa.table({"x": values})), {"x": "float"}, 0)["x"]
    for got, want in ((found.sum, sum_), (found.rms, rms)):
        assert (math.isnan(got) and math.isnan(want)) or got == want
