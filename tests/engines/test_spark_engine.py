"""Spark-only behaviour: the same answers as DuckDB on every column type (temporal ticks,
booleans, binary, dates), sources Spark reads itself (csv, json lines), and the types Spark
cannot hold exactly handed back as `Unsupported`."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlcheck.engines import EngineSettings, Unsupported, make_engine
from mlcheck.engines.base import Tolerance

KINDS: dict[str, Any] = {
    "f": "float",
    "i": "integer",
    "b": "boolean",
    "s": "text",
    "y": "binary",
    "t": "temporal",
    "d": "temporal",
}


def typed_pair() -> tuple[pa.Table, pa.Table]:
    """Research vs production, key `id` 0..59; production changes f at ids 3, 7 (by 1e-13:
    within tolerance), i at 10, b at 11, s at 12, y at 13, t by 5 s at 14, d by a day at 15,
    nulls t at 16 in production; id 59 is lost and id 60 extra."""
    n = 60
    ids = np.arange(n)
    base = np.datetime64("2024-03-01T10:00:00", "s")
    research = pa.table(
        {
            "id": ids,
            "f": ids * 0.5,
            "i": ids * 3,
            "b": ids % 2 == 0,
            "s": [f"v{j % 7}" for j in ids],
            "y": [bytes([j % 5]) for j in ids],
            "t": pa.array(base + ids * 60, pa.timestamp("s")),
            "d": pa.array(np.datetime64("2024-01-01") + ids, pa.date32()),
        }
    )
    changed = {c: research.column(c).to_pylist() for c in research.column_names}
    changed["f"][3] += 1e-13
    changed["f"][7] = 99.0
    changed["i"][10] += 1
    changed["b"][11] = not changed["b"][11]
    changed["s"][12] = "other"
    changed["y"][13] = b"\xff"
    changed["t"][14] += dt.timedelta(seconds=5)
    changed["d"][15] += dt.timedelta(days=1)
    changed["t"][16] = None
    changed["id"][59] = 60
    production = pa.table(changed, schema=research.schema)
    return research, production


def answers(engine: Any, research: pa.Table, production: pa.Table) -> str:
    engine.register("L", research)
    engine.register("R", production)
    return repr(
        (
            engine.key_comparison("L", "R", ["id"], KINDS, Tolerance(1e-9, 0.0), 3),
            engine.profiles("R", KINDS, 3),
            engine.value_counts("R", "s", by="b"),
            engine.quantiles("R", "f", [0.0, 0.25, 0.5, 1.0], by="b"),
            engine.crosstab("L", "R", ["id"], "s", "s"),
            engine.multiset_difference("L", "R", ["s", "f"], 2),
        )
    )


@pytest.mark.spark
def test_every_type_answers_as_duckdb_does(spark_session: Any) -> None:
    from mlcheck.engines.spark import SparkEngine

    research, production = typed_pair()
    spark = answers(SparkEngine(session=spark_session), research, production)
    duck = answers(make_engine(EngineSettings("duckdb", threads=1)), research, production)
    assert spark == duck
    assert "beyond=1, within=1" in spark  # f: 99.0 beyond, 1e-13 within


@pytest.mark.spark
def test_csv_and_json_lines_are_read_by_spark(spark_session: Any, tmp_path: Path) -> None:
    from mlcheck.engines.spark import SparkEngine

    rows = [{"id": j, "x": j * 1.5, "c": "ab"[j % 2]} for j in range(20)]
    (tmp_path / "r.csv").write_text(
        "id,x,c\n" + "".join(f"{r['id']},{r['x']},{r['c']}\n" for r in rows), encoding="utf-8"
    )
    rows[4]["x"] = -1.0
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    engine = SparkEngine(session=spark_session)
    engine.register("L", tmp_path / "r.csv")
    engine.register("R", tmp_path / "p.jsonl")
    assert engine.num_rows("L") == engine.num_rows("R") == 20
    found = engine.key_comparison("L", "R", ["id"], {"x": "float"}, Tolerance(0, 0), 5)
    assert found.columns["x"].examples == ({"key": 4, "research": 6.0, "production": -1.0},)
    assert engine.value_counts("L", "c")[None] == (("a", 10), ("b", 10))


@pytest.mark.spark
def test_what_spark_cannot_hold_is_unsupported(spark_session: Any) -> None:
    from mlcheck.engines.spark import SparkEngine

    engine = SparkEngine(session=spark_session)
    nanos = pa.table({"t": pa.array([1, 2], pa.timestamp("ns"))})
    with pytest.raises(Unsupported, match="nanoseconds"):
        engine.register("T", nanos)
    with pytest.raises(Unsupported, match="unsigned 64-bit"):
        engine.register("U", pa.table({"u": pa.array([1], pa.uint64())}))


def test_without_pyspark_the_message_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An interpreter without pyspark (its import blocked): the engine says what to install."""
    from mlcheck.engines.spark import new_session

    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(Unsupported, match=r"pip install 'mlcheck\[spark\]'"):
        new_session(EngineSettings("spark"))
