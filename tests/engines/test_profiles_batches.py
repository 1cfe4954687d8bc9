"""`profiles` asked column by column (long tables) or many columns at a time (short ones),
and without the float distinct count: the same statistics, on every engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcheck.compare import pair_kind
from mlcheck.engines import AggregateEngine
from mlcheck.engines import duck as duck_engine
from mlcheck.engines.base import EngineSettings, Tolerance

Register = Callable[[str, pa.Table], str]


def mixed() -> pa.Table:
    """Floats with a NaN, a null, -0.0 and repeats; integers; text; booleans; one all-null."""
    x = [1.5, float("nan"), None, -0.0, 0.0, 1.5, -2.25, 1e300, 7.0, 7.0]
    return pa.table(
        {
            "x": pa.array(x, pa.float64()),
            "i": pa.array([3, 1, None, 3, -9, 3, 2, 2, 0, 5], pa.int64()),
            "s": pa.array(["b", "a", None, "b", "c", "b", "a", "a", "d", "b"]),
            "b": pa.array([True, False, None, True, True, False, True, True, None, True]),
            "z": pa.array([None] * 10, pa.float64()),
        }
    )


def kinds_of(engine: AggregateEngine, name: str) -> dict[str, Any]:
    schema = engine.schema(name)
    return {f.name: pair_kind(f.type, f.type) for f in schema}


def test_float_distinct_left_out_only(engine: AggregateEngine, register: Register) -> None:
    name = register("T", mixed())
    kinds = kinds_of(engine, name)
    full = engine.profiles(name, kinds, 3)
    lean = engine.profiles(name, kinds, 3, float_distinct=False)
    # by hand: 1.5, NaN, 0.0 (= -0.0), -2.25, 1e300, 7.0
    assert full["x"].distinct == 6 and lean["x"].distinct is None
    assert full["z"].distinct == 0 and lean["z"].distinct is None
    assert repr(dataclasses.replace(full["x"], distinct=None)) == repr(lean["x"])  # NaN-safe
    for column in ("i", "s", "b"):
        assert lean[column] == full[column], column
    assert (full["i"].distinct, full["s"].distinct, full["b"].distinct) == (6, 4, 2)


@pytest.mark.parametrize("cells", [1, 25])
def test_column_batches_give_the_same_profiles(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cells: int
) -> None:
    """One column per query (1 cell a statement) or two (25 cells over 10 rows): the answers
    of one statement for all columns (DuckDB batches; parquet read in place)."""
    engine = duck_engine.DuckDBEngine(EngineSettings("duckdb", threads=2))
    name = "T"
    pq.write_table(mixed(), tmp_path / "t.parquet")
    engine.register(name, tmp_path / "t.parquet")
    kinds = kinds_of(engine, name)
    together = engine.profiles(name, kinds, 2)
    monkeypatch.setattr(duck_engine, "_DISTINCT_CELLS", cells)
    apart = engine.profiles(name, kinds, 2)
    assert repr(apart) == repr(together)
    assert duck_engine._column_batches(list("abcde"), 10) == (
        [["a"], ["b"], ["c"], ["d"], ["e"]] if cells == 1 else [["a", "b"], ["c", "d"], ["e"]]
    )


def test_cell_examples_come_with_counts(engine: AggregateEngine, register: Register) -> None:
    """Examples beyond tolerance (and null on one side) are the first by key, per column,
    whatever the batch; a column without one has none."""
    n = 50
    order = np.random.default_rng(3).permutation(n)
    left = pa.table({"id": order, "v": order * 1.0, "w": order % 4, "u": order * 2})
    v = (order * 1.0).copy()
    v[order % 10 == 7] += 0.5  # keys 7, 17, 27, 37, 47
    w = pa.array([None if k == 30 else int(k % 4) for k in order])
    right = pa.table({"id": order, "v": v, "w": w, "u": order * 2})
    names = register("L", left), register("R", right)
    columns: dict[str, Any] = {"v": "float", "w": "integer", "u": "integer"}
    found = engine.key_comparison(*names, ["id"], columns, Tolerance(1e-9, 0.0), 3)
    assert [e["key"] for e in found.columns["v"].examples] == [7, 17, 27]
    assert found.columns["v"].examples[0] == {"key": 7, "research": 7.0, "production": 7.5}
    assert found.columns["w"].examples == ({"key": 30, "research": 2, "production": None},)
    assert found.columns["u"].examples == ()
    assert (found.columns["v"].beyond, found.columns["w"].null_right_only) == (5, 1)
