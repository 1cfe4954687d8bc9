"""A value's hash of 0 or 0.0 is 0, so a column's multiset digest does not see zeros: when the
only rows a side lost hold 0 in a column, that column's digests agree although its counts do
not. Stage 1 must still profile it (equal digests prove equal multisets only with equal row
counts), as the in-memory reference does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from test_relation_compare import BASE, N, assert_same, both


def with_zero_column(table: pa.Table) -> pa.Table:
    """`z` is 0.0 on ids 3 and 150 (the rows production loses), i + 1 elsewhere; `c` is 0 on
    every row (an all-zero integer column)."""
    z = np.where(np.isin(np.arange(N), [3, 150]), 0.0, np.arange(N) + 1.0)
    return table.append_column("z", pa.array(z)).append_column("c", pa.array(np.zeros(N, np.int64)))


def test_lost_rows_holding_zero_change_the_column_statistics(tmp_path: Path) -> None:
    research = with_zero_column(BASE)
    production = research.filter(pa.array([i not in (3, 150) for i in range(N)]))
    seam, reference = both(tmp_path, research, production)
    assert_same(seam, reference)
    for column in ("z", "c"):
        stats = seam.stats[column]
        assert not stats.identical, column
        assert (stats.left.count, stats.right.count) == (N, N - 2), column


def test_same_rows_holding_zero_keep_identical_statistics(tmp_path: Path) -> None:
    research = with_zero_column(BASE)
    x = research.column("x").to_numpy().copy()
    x[7] += 1.0  # one changed cell elsewhere, so the tables are not identical
    production = research.set_column(1, "x", pa.array(x)).take(np.arange(N)[::-1])
    seam, reference = both(tmp_path, research, production)
    assert_same(seam, reference)
    assert seam.stats["z"].identical and seam.stats["c"].identical
