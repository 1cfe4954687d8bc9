"""DuckDB keeps its tables in memory and evicts them to its spill folder past the memory limit:
a table larger than the limit (a registered view, materialized) is built, spilled and answered
exactly, and the spill folder is removed with the engine. (Joins, groups and sorts spilling:
test_engine_primitives.py::test_tables_larger_than_the_memory_limit_complete.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlcheck.engines import EngineSettings, make_engine


def test_a_table_larger_than_the_memory_limit_spills_and_answers_exactly(tmp_path: Path) -> None:
    """2M rows of 4 incompressible int64 columns; the materialized view keeps 3 of them and
    two sums on 3 rows in 4 (~48 MB), under a 24 MB limit: its blocks must live in spill
    files, and the counts and integer sums equal numpy's."""
    rng = np.random.default_rng(7)
    n = 2_000_000
    columns = {"id": np.arange(n), **{f"c{i}": rng.integers(0, 2**40, n) for i in range(3)}}
    pq.write_table(pa.table(columns), tmp_path / "t.parquet", row_group_size=100_000)
    settings = EngineSettings(
        "duckdb", memory_limit="24MB", threads=2, temp_directory=str(tmp_path)
    )
    engine = make_engine(settings)
    engine.register("T", tmp_path / "t.parquet")
    kept = {"id": "id", "c0": "c0", "c1": "c1", "s": "c0 + c1", "t": "c1 + c2"}
    engine.register_view("V", "T", kept, where="id % 4 <> 0")  # type: ignore[attr-defined]
    spill = next(tmp_path.glob("mlcheck-duckdb-*")) / "spill"
    assert sum(p.stat().st_size for p in spill.iterdir()) > 0  # the table's blocks left memory

    found = engine._rows(  # type: ignore[attr-defined]
        f"SELECT count(*), sum(c0), sum(s), sum(t) FROM {engine._view('V')}"  # type: ignore[attr-defined]
    )[0]
    rows = columns["id"] % 4 != 0
    c0, c1, c2 = (columns[f"c{i}"][rows] for i in range(3))
    expected = (1_500_000, int(c0.sum()), int((c0 + c1).sum()), int((c1 + c2).sum()))
    assert tuple(int(v) for v in found) == expected
    engine.close()  # type: ignore[attr-defined]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]  # the spill folder is gone
