"""DuckDB's `key_comparison` pairs rows by position when both sides hold the same unique keys
in the same order, and by key otherwise: the same answer either way (a reordered production,
one swapped pair past the first rows, a lost row), checked against the key join's answer on
the same rows shuffled and against a hand count."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlcheck.compare import Kind
from mlcheck.engines import EngineSettings, make_engine
from mlcheck.engines.base import KeyComparison, Tolerance

N = 3000
KINDS: dict[str, Kind] = {"v": "float", "s": "text", "n": "integer"}
TOL = Tolerance(1e-9, 0.0)


def research() -> pa.Table:
    ids = np.arange(N, dtype=np.int64) * 7 % 10007  # unique, not sorted
    return pa.table(
        {
            "k": ids,
            "v": np.arange(N) / 8.0,
            "s": [f"s{i % 11}" for i in range(N)],
            "n": pa.array([None if i % 13 == 0 else i for i in range(N)], pa.int64()),
        }
    )


def production() -> pa.Table:
    """v: 0.0 -> -0.0 on row 0 (equal), scaled by 1 + 1e-12 on row 5 (within tolerance),
    +1 on rows 2500-2509 (beyond); s changed on row 2999; n emptied on row 1."""
    table = research()
    v = table.column("v").to_numpy().copy()
    v[0] = -0.0
    v[5] *= 1 + 1e-12
    v[2500:2510] += 1
    s = table.column("s").to_pylist()
    s[2999] = "changed"
    n = table.column("n").to_pylist()
    n[1] = None
    return (
        table.set_column(1, "v", pa.array(v))
        .set_column(2, "s", pa.array(s))
        .set_column(3, "n", pa.array(n, pa.int64()))
    )


def compared(left: pa.Table, right: pa.Table) -> tuple[KeyComparison, bool]:
    """The comparison and whether DuckDB found the sides in the same order."""
    engine: Any = make_engine(EngineSettings("duckdb", threads=2))
    try:
        engine.register("L", left)
        engine.register("R", right)
        found = engine.key_comparison("L", "R", ["k"], KINDS, TOL, 5)
        aligned = engine._same_order(engine._view("L"), engine._view("R"), ("k",))
        return found, aligned
    finally:
        engine.close()


def shuffled(table: pa.Table, seed: int) -> pa.Table:
    return table.take(np.random.default_rng(seed).permutation(table.num_rows))


def test_same_order_pairs_by_position_with_the_key_join_answer() -> None:
    by_position, aligned = compared(research(), production())
    by_key, reordered = compared(research(), shuffled(production(), 1))
    assert aligned and not reordered
    assert by_position == by_key
    v, s, n = (by_position.columns[c] for c in ("v", "s", "n"))
    assert (v.beyond, v.within, v.max_abs_diff) == (10, 1, 1.0)
    assert v.examples[0] == {"key": 2500 * 7 % 10007, "research": 312.5, "production": 313.5}
    assert (s.beyond, n.null_right_only, n.beyond) == (1, 1, 1)  # a null one side is beyond


def test_a_swap_past_the_first_rows_falls_back_to_the_key() -> None:
    """Rows 2000 and 2001 swapped in production: the first rows agree, the whole does not."""
    order = np.arange(N)
    order[[2000, 2001]] = order[[2001, 2000]]
    swapped, aligned = compared(research(), production().take(order))
    reference, _ = compared(research(), shuffled(production(), 2))
    assert not aligned
    assert swapped == reference


@pytest.mark.parametrize("lost", [0, N - 1])
def test_a_lost_row_is_paired_by_key(lost: int) -> None:
    kept = np.array([i for i in range(N) if i != lost])
    found, _ = compared(research(), production().take(kept))
    reference, _ = compared(research(), shuffled(production().take(kept), 3))
    assert found == reference and found.rows.lost == 1 and found.matched == N - 1
