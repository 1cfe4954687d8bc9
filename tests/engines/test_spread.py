"""`spread`: entities whose rows hold more than one distinct value of a column, per
combination of values, with examples first by entity; checked by hand and against pandas."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from mlcheck.engines import AggregateEngine

Register = Callable[[str, pa.Table], str]


def test_combinations_counts_and_examples(engine: AggregateEngine, register: Register) -> None:
    """id 1: a, b (2 rows); id 2: a and a null value (2 rows); id 3: a, a, c (3 rows); id 4:
    a only; a row with a null id is left out; id 6: b, a (2 rows)."""
    register(
        "t", pa.table({"id": [1, 1, 2, 2, 3, 3, 3, None, 4, 6, 6],
                       "s": ["a", "b", "a", None, "a", "a", "c", "b", "a", "b", "a"]})
    )  # fmt: skip
    found = engine.spread("t", ["id"], "s", 1)
    assert found.entities == 5
    by_values = {c.values: c for c in found.combinations}
    assert set(by_values) == {("a", "b"), (None, "a"), ("a", "c")}
    ab = by_values[("a", "b")]
    assert (ab.entities, ab.rows, ab.examples) == (2, 4, ({"key": 1, "rows": 2},))
    assert by_values[(None, "a")].examples == ({"key": 2, "rows": 2},)
    assert by_values[("a", "c")].rows == 3
    assert engine.spread("t", ["id"], "s", 5).combinations[0].examples[-1]["key"] in (3, 6)
    assert engine.spread("t", ["id"], "s", 0).combinations[0].examples == ()


def test_composite_entities_skip_null_parts(engine: AggregateEngine, register: Register) -> None:
    """(shop, id): ('b', 2) is on two rows in two splits; (None, 1) has a null part."""
    register(
        "t", pa.table({"shop": [None, None, "b", "b", "a"], "id": [1, 1, 2, 2, 1],
                       "s": ["x", "y", "x", "y", "x"]})
    )  # fmt: skip
    found = engine.spread("t", ["shop", "id"], "s", 3)
    assert found.entities == 2
    (only,) = found.combinations
    assert only.values == ("x", "y")
    assert only.examples == ({"key": {"shop": "b", "id": 2}, "rows": 2},)


def test_matches_pandas_on_random_groups(engine: AggregateEngine, register: Register) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"g": rng.integers(0, 80, 400), "s": rng.choice(["tr", "te", "va"], 400)})
    register("t", pa.Table.from_pandas(frame, preserve_index=False))
    found = engine.spread("t", ["g"], "s", 2)
    sets = frame.groupby("g").s.agg(lambda v: tuple(sorted(set(v))))
    spanning = sets[sets.map(len) > 1]
    assert found.entities == frame.g.nunique()
    assert {c.values: c.entities for c in found.combinations} == spanning.value_counts().to_dict()
    rows = frame.groupby("g").size()
    for combination in found.combinations:
        members = sorted(spanning[spanning == combination.values].index)
        assert combination.rows == int(rows[members].sum())
        assert [e["key"] for e in combination.examples] == members[:2]
