"""Size chunks of parquet read in place follow file order on every engine: a folder of three
files (listed in name order, as the source reader lists them), each of several row groups,
numbered by position across the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlcheck.engines import AggregateEngine


def test_size_chunks_follow_the_files_of_a_folder(engine: AggregateEngine, tmp_path: Path) -> None:
    """x counts down from n - 1 across part-0, part-1, part-2 (row groups of 3,000 rows), so the
    chunk of x is (n - 1 - x) // 7,000 only when rows are numbered in file order. Asked three
    times, on fresh chunk tables, to give thread timing its chances."""
    n = 120_000 if engine.name == "duckdb" else 30_000
    x = np.arange(n)[::-1].copy()
    folder = tmp_path / "rows"
    folder.mkdir()
    for i, part in enumerate(np.array_split(x, 3)):
        pq.write_table(pa.table({"x": part}), folder / f"part-{i}.parquet", row_group_size=3_000)
    engine.register("rows", folder)
    for attempt in range(3):
        name = f"rows_c{attempt}"
        engine.register_chunks(name, "rows", "chunk", size=7_000)
        found = engine.counts(name, ["x"], by="chunk")["x"]
        chunk = np.asarray(found.column("g").to_numpy())
        values = np.asarray(found.column("v").to_numpy())
        np.testing.assert_array_equal(chunk, (n - 1 - values) // 7_000)
