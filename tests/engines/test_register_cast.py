"""`register_cast` and `register_excluded`: views for comparing slots typed differently (s1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyarrow as pa

from mlcheck.engines import AggregateEngine

Register = Callable[[str, pa.Table], str]


def test_cast_to_common_types(engine: AggregateEngine, register: Register) -> None:
    """int64 -> float64 and string, a date -> timestamp[s]; untouched columns keep their type."""
    table = pa.table(
        {
            "i": [1, 2, 3],
            "d": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2), None]),
            "k": [10, 20, 30],
            "keep": ["a", "b", "c"],
        }
    )
    register("t", table)
    engine.register_cast("v", "t", {"i": pa.float64(), "k": pa.string(), "d": pa.timestamp("s")})
    schema = engine.schema("v")
    assert schema.names == ["i", "d", "k", "keep"]
    assert schema.field("i").type == pa.float64() and schema.field("k").type == pa.string()
    assert schema.field("keep").type == pa.string()
    assert engine.value_counts("v", "k") == {None: (("10", 1), ("20", 1), ("30", 1))}
    assert engine.value_counts("v", "i") == {None: ((1.0, 1), (2.0, 1), (3.0, 1))}
    assert engine.num_rows("v") == 3


def test_excluded_rows_are_null_or_repeated_keys(
    engine: AggregateEngine, register: Register
) -> None:
    """id 2 twice and a null id are set aside (3 rows); ids 1 and 5 are not; on a composite
    key a null part sets the row aside."""
    register("t", pa.table({"id": [1, 2, 2, None, 5], "x": [0.5, 1.5, 1.6, 3.5, 4.5]}))
    engine.register_excluded("e", "t", ["id"])
    assert engine.schema("e").names == ["id", "x"]
    assert engine.value_counts("e", "x") == {None: ((1.5, 1), (1.6, 1), (3.5, 1))}
    register("c", pa.table({"a": [1, 1, 2], "b": ["x", None, "y"], "v": [1, 2, 3]}))
    engine.register_excluded("ce", "c", ["a", "b"])
    assert engine.value_counts("ce", "v") == {None: ((2, 1),)}
