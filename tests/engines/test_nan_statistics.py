"""A parquet file's statistics leave NaN out: counts of NaN must not be proved zero from them."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from mlcheck.engines import AggregateEngine

Register = Callable[[str, pa.Table], str]


def test_two_nan_counts_in_one_query(engine: AggregateEngine, register: Register) -> None:
    """65 of 100 scores are NaN. DuckDB 1.x/2.0 with statistics propagation answered 0 for both
    counts when the same query asked `isnan(x)` and `x IS NOT NULL AND isnan(CAST(x AS DOUBLE))`
    over parquet read in place."""
    scores = [float("nan")] * 65 + [i / 100 for i in range(35)]
    register("p", pa.table({"id": list(range(100)), "score": scores}))
    conditions = {
        "plain": "isnan(score)",
        "guarded": "(score IS NOT NULL AND isnan(CAST(score AS DOUBLE)))",
    }
    assert engine.count_where("p", conditions) == {"plain": 65, "guarded": 65}
