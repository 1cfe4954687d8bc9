"""`joint_crosstab`: counts of (left values, right values) over keys unique and non-null on
both sides, several columns per side, checked against pandas."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from mlcheck.engines import AggregateEngine

Register = Callable[[str, pa.Table], str]


def test_counts_pairs_of_value_tuples(engine: AggregateEngine, register: Register) -> None:
    """Left: id 5 twice (a duplicate, never paired), a null id. Right: id 9 only there.
    Pairs: 1 (a,0)->(a,0); 2 (a,1)->(b,1); 3 (b,null)->(b,null); 4 (null,2)->(a,null)."""
    register(
        "l", pa.table({"id": [1, 2, 3, 4, 5, 5, None], "s": ["a", "a", "b", None, "b", "a", "a"],
                       "f": [0, 1, None, 2, 0, 0, 0]})
    )  # fmt: skip
    register(
        "r", pa.table({"id": [4, 3, 2, 1, 5, 9], "s": ["a", "b", "b", "a", "b", "a"],
                       "f": [None, None, 1, 0, 0, 1]})
    )  # fmt: skip
    found = engine.joint_crosstab("l", "r", ["id"], ["s", "f"], ["s", "f"])
    assert found == {
        (("a", 0), ("a", 0)): 1,
        (("a", 1), ("b", 1)): 1,
        (("b", None), ("b", None)): 1,
        ((None, 2), ("a", None)): 1,
    }
    single = engine.joint_crosstab("l", "r", ["id"], ["s"], ["s"])
    assert {(a, b): n for ((a,), (b,)), n in single.items()} == engine.crosstab(
        "l", "r", ["id"], "s", "s"
    )


def test_matches_pandas_on_a_random_pair(engine: AggregateEngine, register: Register) -> None:
    """300 keys per side (shuffled, 30 only on one side, 5 duplicated on the right)."""
    rng = np.random.default_rng(11)
    left = pd.DataFrame({"id": np.arange(300), "a": rng.choice(["x", "y", "z"], 300),
                         "b": rng.integers(0, 3, 300)})  # fmt: skip
    right = pd.DataFrame({"id": np.arange(30, 330), "a": rng.choice(["x", "y"], 300),
                          "b": rng.integers(0, 2, 300)}).sample(frac=1, random_state=2)  # fmt: skip
    right = pd.concat([right, right.head(5)])
    register("l", pa.Table.from_pandas(left, preserve_index=False))
    register("r", pa.Table.from_pandas(right, preserve_index=False))
    unique = right[~right.id.duplicated(keep=False)]
    merged = left.merge(unique, on="id", suffixes=("_l", "_r"))
    expected = merged.groupby(["a_l", "b_l", "a_r", "b_r"]).size()
    found = engine.joint_crosstab("l", "r", ["id"], ["a", "b"], ["a", "b"])
    assert found == {((a, int(b)), (c, int(d))): int(n) for (a, b, c, d), n in expected.items()}


def test_unique_keys_give_the_same_counts_by_a_plain_join(
    engine: AggregateEngine, register: Register
) -> None:
    """Keys 0-99 once on each side (shuffled on the right): `unique=True` (a plain join) and the
    general path count the same cells."""
    rng = np.random.default_rng(5)
    register("l", pa.table({"id": np.arange(100), "a": rng.integers(0, 3, 100)}))
    order = rng.permutation(100)
    register("r", pa.table({"id": order, "a": rng.integers(0, 3, 100)}))
    general = engine.joint_crosstab("l", "r", ["id"], ["a"], ["a"])
    assert engine.joint_crosstab("l", "r", ["id"], ["a"], ["a"], unique=True) == general
    assert sum(general.values()) == 100
