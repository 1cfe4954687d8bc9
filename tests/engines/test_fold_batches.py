"""`fold_batches`: a function over a relation's record batches, summed modulo 2**64 (s1)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlcheck.engines import AggregateEngine

Register = Callable[[str, pa.Table], str]


def test_fold_sums_every_batch(engine: AggregateEngine, register: Register) -> None:
    """300,000 rows (several batches on any engine): the sums equal numpy's over the table.
    (Folds are defined inside the tests: Spark's workers receive them by value.)"""

    def _count_sum_nulls(table: pa.Table) -> np.ndarray:
        """rows, sum of x (nulls as 0), nulls in x, rows where s is 'b': all additive."""
        x = table.column("x")
        return np.array(
            [
                table.num_rows,
                int(pc.sum(x).as_py() or 0) % 2**64,
                x.null_count,
                int(pc.sum(pc.equal(table.column("s"), "b")).as_py() or 0),
            ],
            dtype=np.uint64,
        )

    n = 300_000
    x = pa.array(np.arange(n, dtype=np.int64) * 7 - 5, mask=np.arange(n) % 1000 == 0)
    s = pa.array(np.where(np.arange(n) % 3 == 0, "b", "a"))
    register("t", pa.table({"x": x, "s": s, "unused": np.zeros(n)}))
    got = engine.fold_batches("t", ["x", "s"], _count_sum_nulls, 4)
    values = np.arange(n, dtype=np.int64) * 7 - 5
    kept = values[np.arange(n) % 1000 != 0]
    assert got == (n, int(kept.sum()) % 2**64, n // 1000, (n + 2) // 3)


def test_fold_wraps_modulo_2_64_and_sees_only_asked_columns(
    engine: AggregateEngine, register: Register
) -> None:
    """Each row contributes 2**63: an even number of rows sums to 0 modulo 2**64; the batch
    holds exactly the asked columns, even none (the row count still arrives)."""

    def half(table: pa.Table) -> np.ndarray:
        assert table.column_names == []
        return np.array([table.num_rows * 2**63 % 2**64, table.num_rows], dtype=np.uint64)

    register("t", pa.table({"x": list(range(10))}))
    assert engine.fold_batches("t", [], half, 2) == (0, 10)


def test_fold_of_an_empty_relation(engine: AggregateEngine, register: Register) -> None:
    def rows(table: pa.Table) -> np.ndarray:
        return np.array([table.num_rows], dtype=np.uint64)

    register("t", pa.table({"x": pa.array([], pa.int64())}))
    assert engine.fold_batches("t", ["x"], rows, 1) == (0,)
