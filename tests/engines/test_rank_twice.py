"""`average_rank_twice` (rank() plus the rows at or below, from cume_dist) equals twice scipy's
average ranks, ties included, on every engine."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
from scipy.stats import rankdata

from mlcheck.engines import AggregateEngine
from mlcheck.stages import prediction_sql as sql

Register = Callable[[str, pa.Table], str]


def test_twice_the_average_rank_matches_scipy(engine: AggregateEngine, register: Register) -> None:
    """500 values drawn from 40 (many ties), a tenth NaN (left out: NULL rank)."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 40, size=500).astype(float) / 8
    x[rng.random(500) < 0.1] = np.nan
    register("t", pa.table({"id": np.arange(500), "x": x}))
    finite = sql.finite("x")
    engine.register_view(
        "v", "t", {"id": engine.quote("id"), "u": sql.average_rank_twice("x", finite)}
    )
    rows = engine.first_rows("v", ["id", "u"], ["id"], 500)
    kept = ~np.isnan(x)
    expected = np.full(500, None, dtype=object)
    expected[kept] = (2 * rankdata(x[kept])).astype(np.int64)
    assert [r["u"] for r in rows] == list(expected)
