"""The shared engine suite: every aggregate primitive, parametrized over every engine that
answers them (DuckDB today; Spark joins by adding its name to `ENGINES`) and over how a
relation arrives (an Arrow table, or a parquet file the engine reads in place)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcheck.engines import AggregateEngine, EngineSettings, make_engine

ENGINES = ["duckdb"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> AggregateEngine:
    return make_engine(EngineSettings(request.param, threads=2))


@pytest.fixture(params=["arrow", "parquet"])
def register(
    request: pytest.FixtureRequest, engine: AggregateEngine, tmp_path: Path
) -> Callable[[str, pa.Table], str]:
    """register(name, table) -> name: the table handed over as Arrow or written as parquet."""

    def add(name: str, table: pa.Table) -> str:
        if request.param == "arrow":
            engine.register(name, table)
        else:
            path = tmp_path / f"{name}.parquet"
            pq.write_table(table, path)
            engine.register(name, path)
        return name

    return add
