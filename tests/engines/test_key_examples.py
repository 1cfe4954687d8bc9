"""`key_comparison`'s example cells whatever the key: one integer or text column (DuckDB looks
the examples up by key after counting), two columns or a float (kept with the counts), and keys
duplicated on one side (only pairs unique on both sides are matched). Expected by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from mlcheck.compare import Kind
from mlcheck.engines import AggregateEngine
from mlcheck.engines.base import Tolerance

Register = Callable[[str, pa.Table], str]
COLUMNS: dict[str, Kind] = {"v": "float", "s": "text", "n": "integer"}


def sides(keys: list[Any]) -> tuple[pa.Table, pa.Table]:
    """Six rows; production changes v at rows 1 and 4, s at row 2 and empties n at row 5."""
    left = pa.table(
        {
            "k": keys,
            "v": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
            "s": ["a", "b", "c", "d", "e", "f"],
            "n": [10, 11, 12, 13, 14, 15],
        }
    )
    right = pa.table(
        {
            "k": keys,
            "v": [0.5, 9.0, 2.5, 3.5, -1.0, 5.5],
            "s": ["a", "b", "X", "d", "e", "f"],
            "n": pa.array([10, 11, 12, 13, 14, None], pa.int64()),
        }
    )
    return left, right


def shown(found: Any, column: str) -> list[tuple[Any, Any, Any]]:
    return [(e["key"], e["research"], e["production"]) for e in found.columns[column].examples]


@pytest.mark.parametrize(
    "keys",
    [
        [50, 40, 30, 20, 10, 0],  # integer: looked up by key, shown in key order
        ["f", "e", "d", "c", "b", "a"],  # text
        [5.0, 4.0, 3.0, 2.0, 1.0, 0.0],  # float: kept with the counts
    ],
)
def test_examples_by_key(engine: AggregateEngine, register: Register, keys: list[Any]) -> None:
    left, right = sides(keys)
    names = register("L", left), register("R", right)
    found = engine.key_comparison(*names, ["k"], COLUMNS, Tolerance(1e-9, 0.0), 5)
    assert shown(found, "v") == [(keys[4], 4.5, -1.0), (keys[1], 1.5, 9.0)]
    assert shown(found, "s") == [(keys[2], "c", "X")]
    assert shown(found, "n") == [(keys[5], 15, None)]
    assert found.columns["v"].beyond == 2 and found.columns["n"].null_right_only == 1
    one = engine.key_comparison(*names, ["k"], COLUMNS, Tolerance(1e-9, 0.0), 1)
    assert shown(one, "v") == [(keys[4], 4.5, -1.0)]
    none = engine.key_comparison(*names, ["k"], COLUMNS, Tolerance(1e-9, 0.0), 0)
    assert shown(none, "v") == [] and none.columns["v"].beyond == 2


def test_examples_with_two_key_columns(engine: AggregateEngine, register: Register) -> None:
    left, right = sides([3, 3, 2, 2, 1, 1])
    part = pa.array(["b", "a", "b", "a", "b", "a"])
    names = (
        register("L", left.append_column("p", part)),
        register("R", right.append_column("p", part)),
    )
    found = engine.key_comparison(*names, ["k", "p"], COLUMNS, Tolerance(1e-9, 0.0), 5)
    assert shown(found, "v") == [({"k": 1, "p": "b"}, 4.5, -1.0), ({"k": 3, "p": "a"}, 1.5, 9.0)]


def test_examples_skip_duplicated_keys(engine: AggregateEngine, register: Register) -> None:
    """Key 40 twice in production: its pairs are not matched, so not shown."""
    left, right = sides([50, 40, 30, 20, 10, 0])
    right = pa.concat_tables([right, right.slice(1, 1)])
    names = register("L", left), register("R", right)
    found = engine.key_comparison(*names, ["k"], COLUMNS, Tolerance(1e-9, 0.0), 5)
    assert shown(found, "v") == [(10, 4.5, -1.0)]
    assert shown(found, "s") == [(30, "c", "X")]
    assert found.matched == 5
