"""`register_join`: two relations matched on keys unique and non-null on both sides."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from mlcheck.engines import AggregateEngine

Register = Callable[[str, pa.Table], str]


def test_join_pairs_only_unique_non_null_keys(engine: AggregateEngine, register: Register) -> None:
    """Left: id 3 twice (duplicate), a null id; right: id 4 twice, id 9 only on the right.
    Only ids 1, 2 and 5 pair. Right's `x` clashes with left's `x` and is left out."""
    left = pa.table({"id": [1, 2, 3, 3, None, 4, 5], "x": [10, 20, 30, 31, 0, 40, 50]})
    right = pa.table({"id": [5, 1, 2, 4, 4, 9], "x": [0] * 6, "y": [0.5, 0.1, 0.2, 0.4, 0.4, 0.9]})
    register("l", left)
    register("r", right)
    engine.register_join("lr", "l", "r", ["id"])
    assert engine.schema("lr").names == ["id", "x", "y"]
    assert engine.num_rows("lr") == 3
    counts = engine.value_counts("lr", "x", by="y")
    assert counts == {0.1: ((10, 1),), 0.2: ((20, 1),), 0.5: ((50, 1),)}


def test_join_on_a_composite_key(engine: AggregateEngine, register: Register) -> None:
    """(a, b) = (1, 'x') is on both sides; (1, 'y') only on the left; (2, None) has a null part."""
    register("l", pa.table({"a": [1, 1, 2], "b": ["x", "y", None], "v": [1, 2, 3]}))
    register("r", pa.table({"a": [1, 2], "b": ["x", None], "w": [7, 8]}))
    engine.register_join("lr", "l", "r", ["a", "b"])
    assert engine.num_rows("lr") == 1
    assert engine.value_counts("lr", "w") == {None: ((7, 1),)}
