"""`register_join` tests uniqueness on the key columns alone (one grouping of both sides' keys,
no window over whole rows) and keeps only the columns asked for: pairs checked against a hand
computation on random keys with duplicates and nulls on both sides, on every engine."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from mlcheck.engines import AggregateEngine

Register = Callable[[str, pa.Table], str]


def _sides() -> tuple[pa.Table, pa.Table]:
    """Keys drawn from 0..599 (many repeat), 5% null; `x` and `y` number each side's rows,
    so every pair the join makes names its two rows. Rows whose other columns are equal but
    whose key repeats are still duplicates (uniqueness is of the key, not of the row)."""
    rng = np.random.default_rng(14)
    tables = []
    for n, column in ((400, "x"), (350, "y")):
        keys = rng.integers(0, 600, n)
        nulls = rng.random(n) < 0.05
        tables.append(
            pa.table({"id": pa.array(keys, mask=nulls), column: np.arange(n), "same": np.zeros(n)})
        )
    return tables[0], tables[1]


def _expected_pairs(left: pa.Table, right: pa.Table) -> dict[int, int]:
    """By hand: y -> x for keys present exactly once, non-null, on both sides."""
    lk, rk = left.column("id").to_pylist(), right.column("id").to_pylist()
    lcount, rcount = (
        Counter(k for k in lk if k is not None),
        Counter(k for k in rk if k is not None),
    )
    single = {k for k in lcount if lcount[k] == 1 and rcount.get(k) == 1}
    x_of = {k: i for i, k in enumerate(lk) if k in single}
    return {j: x_of[k] for j, k in enumerate(rk) if k in single}


def test_pairs_are_the_keys_unique_on_both_sides(
    engine: AggregateEngine, register: Register
) -> None:
    left, right = _sides()
    expected = _expected_pairs(left, right)
    assert 50 < len(expected) < 200  # keys unique on both sides, and many that are not
    register("l", left)
    register("r", right)
    engine.register_join("lr", "l", "r", ["id"])
    assert engine.schema("lr").names == ["id", "x", "same", "y"]
    assert engine.num_rows("lr") == len(expected)
    found = engine.value_counts("lr", "x", by="y")
    assert found == {y: ((x, 1),) for y, x in sorted(expected.items())}


def test_only_the_columns_asked_for_are_kept(engine: AggregateEngine, register: Register) -> None:
    """`columns`: the key, then those columns in the sides' order; the rows are the same."""
    left, right = _sides()
    register("l", left)
    register("r", right)
    engine.register_join("lr", "l", "r", ["id"], columns=["y", "x"])
    assert engine.schema("lr").names == ["id", "x", "y"]
    assert engine.num_rows("lr") == len(_expected_pairs(left, right))
    engine.register_join("ly", "l", "r", ["id"], columns=["y"])
    assert engine.schema("ly").names == ["id", "y"]


def test_a_composite_key_is_unique_as_a_whole(engine: AggregateEngine, register: Register) -> None:
    """a = 1 repeats on the left, but (1, 'x') and (1, 'y') are each unique: both pair; (2, 'z')
    is twice on the right and does not; (3, None) has a null part."""
    register("l", pa.table({"a": [1, 1, 2, 3], "b": ["x", "y", "z", None], "v": [1, 2, 3, 4]}))
    register(
        "r", pa.table({"a": [1, 1, 2, 2, 3], "b": ["y", "x", "z", "z", None], "w": [5, 6, 7, 8, 9]})
    )
    engine.register_join("lr", "l", "r", ["a", "b"], columns=["v", "w"])
    assert engine.schema("lr").names == ["a", "b", "v", "w"]
    assert engine.value_counts("lr", "v", by="w") == {5: ((2, 1),), 6: ((1, 1),)}
