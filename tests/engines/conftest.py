"""The shared engine suite: every aggregate primitive, parametrized over every engine that
answers them (DuckDB today; Spark joins by adding its name to `ENGINES`) and over how a
relation arrives (an Arrow table, or a parquet file the engine reads in place)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcheck.engines import AggregateEngine, EngineSettings, make_engine

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]


def spark_missing() -> str | None:
    """Why the Spark engine cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'mlcheck[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and Path(java_home, "bin", "java").exists()):
        return "java is not installed (Spark needs a JRE; see .ci/java.sh)"
    return None


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One small local Spark for the whole run: one core, no UI, one shuffle partition."""
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("mlcheck-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.driver.memory", "512m")
        .config("spark.ui.showConsoleProgress", "false")
        # Tiny tables: interpreted plans and a quick JIT cost less than compiling each query.
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[AggregateEngine]:
    """The engine, closed after the test: DuckDB's connection and spill folder go at once, not
    when the garbage collector finds them; Spark's views are dropped (the session stays)."""
    if request.param == "spark":
        from mlcheck.engines.spark import SparkEngine

        started: AggregateEngine = SparkEngine(session=request.getfixturevalue("spark_session"))
    else:
        started = make_engine(EngineSettings(request.param, threads=2))
    yield started
    started.close()  # type: ignore[attr-defined]


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


# ---- the Spark share of the suite (spark7)

# Files whose Arrow tables carry what only the Arrow hand-over has (dictionary columns,
# timestamps with a zone or in seconds, the casts of `register_cast`): they keep both
# hand-overs on Spark.
HERE = Path(__file__).resolve().parent
ARROW_ON_SPARK = {"test_value_counts_of.py", "test_presence.py", "test_register_cast.py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On Spark the primitives are asked of parquet files Spark reads itself (its usual input);
    the Arrow hand-over (`createDataFrame`) is the same view to the primitive's SQL and is held
    to DuckDB's answers on every column type by test_spark_engine.py, so the parquet run alone
    keeps each primitive's Spark test (both run on DuckDB, and in ARROW_ON_SPARK's files)."""
    dropped, kept = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        arrow_on_spark = params.get("engine") == "spark" and params.get("register") == "arrow"
        here = item.path.parent == HERE  # the hook sees every directory's items
        if here and arrow_on_spark and item.path.name not in ARROW_ON_SPARK:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
