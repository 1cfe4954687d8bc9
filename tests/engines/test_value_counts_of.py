"""`value_counts_of` on every engine: the value counts of many columns at once, checked against
counts made by hand (collections.Counter) whether the table is short (columns unpivoted and
grouped in one query per type) or long (one grouped query per column: forced here)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlcheck.engines import AggregateEngine, duck

Register = Callable[[str, pa.Table], str]


def by_hand(values: list[Any]) -> tuple[tuple[Any, int], ...]:
    """Non-null values with counts, most frequent first, ties by value."""
    counts = Counter(v for v in values if v is not None)
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@pytest.fixture(params=["short", "long"])
def layout(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "long":
        monkeypatch.setattr(duck, "WIDE_ROWS", 0)
    return str(request.param)


def test_counts_per_type(engine: AggregateEngine, register: Register, layout: str) -> None:
    """Text, dictionary text, integers, booleans, an all-null column and a column whose values
    all tie: most frequent first, ties by value; columns of one type share a query."""
    columns: dict[str, list[Any]] = {
        "s": ["b", "a", None, "b", "c", "a", "b"],
        "t": ["x", "x", "y", None, None, "y", "z"],
        "i": [3, 1, 3, None, 1, 3, 2],
        "flag": [True, False, True, True, None, False, True],
        "none": [None] * 7,
        "tie": ["q", "p", "r", "s", "t", "u", "v"],
    }
    table = pa.table(
        {
            **{k: pa.array(v) for k, v in columns.items() if k != "none"},
            "none": pa.array(columns["none"], pa.string()),
            "cat": pa.array(columns["s"]).dictionary_encode(),
        }
    )
    got = engine.value_counts_of(register("t", table), [*columns, "cat"])
    expected = {name: by_hand(values) for name, values in columns.items()}
    assert got == {**expected, "cat": expected["s"]}
    assert got["s"] == (("b", 3), ("a", 2), ("c", 1))


def test_float_values_keep_nan_apart_from_null(
    engine: AggregateEngine, register: Register, layout: str
) -> None:
    """A float column's NaN is a value (counted), null is not."""
    table = pa.table({"f": pa.array([0.5, math.nan, None, 0.5, math.nan, math.nan])})
    [(first, n_first), second] = engine.value_counts_of(register("t", table), ["f"])["f"]
    assert math.isnan(first) and n_first == 3 and second == (0.5, 2)


def test_many_text_columns(engine: AggregateEngine, register: Register, layout: str) -> None:
    """Text columns of 12 rows with nulls at random: 250 when short (more than one unpivot
    batch on Spark), 12 when long (a query per column: more columns would test nothing more,
    and cost Spark a job each)."""
    rng = np.random.default_rng(11)
    data = {
        f"col {i}": [None if rng.random() < 0.2 else str(rng.integers(0, 4)) for _ in range(12)]
        for i in range(250 if layout == "short" else 12)
    }
    got = engine.value_counts_of(register("wide", pa.table(data)), list(data))
    assert got == {name: by_hand(values) for name, values in data.items()}
    assert engine.value_counts_of("wide", []) == {}
