"""`LocalEngine.relation`: local parquet read in place by the engine with exactly the types the
pyarrow reader gives (dictionary columns, timestamp units and zones, hive partition columns,
`columns:` selections, split mappings); any other source as the reader's Arrow table. Checked on
both engines against the same slot registered as the reader's table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import yaml

from mlcheck.checklist import load_checklist
from mlcheck.compare import pair_kind
from mlcheck.engine import LocalEngine
from mlcheck.engines import AggregateEngine


def typed_table(spark: bool) -> pa.Table:
    """Three rows of every type a parquet source commonly holds (Spark holds microseconds, so
    its table has no nanosecond column); a null in most columns."""
    columns: dict[str, pa.Array] = {
        "id": pa.array([3, 1, 2], pa.int64()),
        "category": pa.array(["b", "a", None]).dictionary_encode(),
        "small": pa.array([1, None, 250], pa.uint8()),
        "wide": pa.array([7, -8, None], pa.int32()),
        "ratio": pa.array([0.5, float("nan"), None], pa.float32()),
        "score": pa.array([0.25, -0.0, 1e300], pa.float64()),
        "flag": pa.array([True, None, False]),
        "day": pa.array([0, 19000, None], pa.date32()),
        "seconds": pa.array([0, 1, None], pa.timestamp("s")),
        "millis": pa.array([1_000, None, 3], pa.timestamp("ms")),
        "zoned": pa.array([1, 2, None], pa.timestamp("us", "Europe/Paris")),
    }
    if not spark:
        columns["nanos"] = pa.array([1, None, 3], pa.timestamp("ns"))
        columns["zoned_nanos"] = pa.array([5, 6, None], pa.timestamp("ns", "America/New_York"))
    return pa.table(columns)


def over(tmp_path: Path, doc: dict[str, Any], engine: AggregateEngine) -> LocalEngine:
    path = tmp_path / "c.yaml"
    doc = {"version": 1, "key": "id", "production": {}, **doc}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return LocalEngine(load_checklist(path), aggregate_engine=engine)


def assert_same_relation(local: LocalEngine, slot: str) -> None:
    """The slot read in place holds the reader's table: same schema (exact types), and every
    column's profile and the whole rows equal to the reader's table registered as Arrow."""
    agg = local.aggregate
    name = local.relation(slot)
    assert not local._tables, "read in place: the pyarrow reader never ran"
    table = local.table(slot)
    assert agg.schema(name).equals(table.schema)
    agg.register("arrow", table)
    kinds = {f.name: pair_kind(f.type, f.type) for f in table.schema}
    assert agg.profiles(name, kinds, 5) == agg.profiles("arrow", kinds, 5)
    difference = agg.multiset_difference(name, "arrow", list(kinds), 3)
    assert (difference.lost, difference.extra) == (0, 0)
    assert agg.num_rows(name) == table.num_rows


def is_spark(engine: AggregateEngine) -> bool:
    return engine.name == "spark"


def test_a_file_keeps_every_type(tmp_path: Path, engine: AggregateEngine) -> None:
    pq.write_table(typed_table(is_spark(engine)), tmp_path / "f.parquet")
    local = over(tmp_path, {"research": {"features": {"path": "f.parquet"}}}, engine)
    assert_same_relation(local, "research.features")


def test_columns_selection_keeps_the_key(tmp_path: Path, engine: AggregateEngine) -> None:
    """`columns: [score, category]` gives those two and then the key, as the reader does."""
    pq.write_table(typed_table(is_spark(engine)), tmp_path / "f.parquet")
    spec = {"path": "f.parquet", "columns": ["score", "category"]}
    local = over(tmp_path, {"research": {"features": spec}}, engine)
    assert_same_relation(local, "research.features")
    assert local.aggregate.schema("research.features").names == ["score", "category", "id"]


def test_hive_folder_with_partition_columns(tmp_path: Path, engine: AggregateEngine) -> None:
    """year=2024/region=eu/...: the partition columns come back as pyarrow infers them
    (int32 and string), whatever the engine would infer on its own."""
    table = typed_table(is_spark(engine))
    for year, region, rows in ((2024, "eu", [0, 1]), (2025, "us", [2])):
        folder = tmp_path / "data" / f"year={year}" / f"region={region}"
        folder.mkdir(parents=True)
        pq.write_table(table.take(rows), folder / "part-0.parquet")
    local = over(tmp_path, {"research": {"features": {"path": "data"}}}, engine)
    assert_same_relation(local, "research.features")
    schema = local.aggregate.schema("research.features")
    assert schema.field("year").type == pa.int32() and schema.field("region").type == pa.string()


def test_split_mapping_is_one_relation_with_the_split_column(
    tmp_path: Path, engine: AggregateEngine
) -> None:
    table = typed_table(is_spark(engine))
    pq.write_table(table.take([0, 1]), tmp_path / "train.parquet")
    pq.write_table(table.take([2]), tmp_path / "test.parquet")
    splits = {"train": {"path": "train.parquet"}, "test": {"path": "test.parquet"}}
    local = over(tmp_path, {"research": {"splits": splits}}, engine)
    assert_same_relation(local, "research.splits")
    counts = local.aggregate.value_counts("research.splits", "split")
    assert counts == {None: (("train", 2), ("test", 1))}


def test_other_formats_arrive_as_the_readers_table(tmp_path: Path, engine: AggregateEngine) -> None:
    """An Arrow IPC file (csv and json lines too on DuckDB: tests/engines/test_text_sources.py)."""
    feather.write_feather(pa.table({"id": [1, 2], "x": [0.5, None]}), tmp_path / "f.arrow")
    local = over(tmp_path, {"research": {"features": {"path": "f.arrow"}}}, engine)
    name = local.relation("research.features")
    assert local._tables, "an Arrow file is read by the pyarrow reader"
    assert local.aggregate.schema(name).equals(local.table("research.features").schema)
    assert local.aggregate.profiles(name, {"x": "float"}, 0)["x"].nulls == 1


def test_parquet_the_engine_cannot_type_falls_back_to_the_table(tmp_path: Path) -> None:
    """A large_list column: DuckDB reads lists as `list`, so the slot arrives as the reader's
    table (the same values under the reader's types)."""
    from mlcheck.engines import EngineSettings, make_engine

    table = pa.table({"id": [1, 2], "xs": pa.array([[1], [2, 3]], pa.large_list(pa.int64()))})
    pq.write_table(table, tmp_path / "f.parquet")
    local = over(
        tmp_path,
        {"research": {"features": {"path": "f.parquet"}}},
        make_engine(EngineSettings("duckdb", threads=1)),
    )
    name = local.relation("research.features")
    assert local._tables
    assert local.aggregate.schema(name).equals(table.schema)


def test_release_after_drops_relations_no_later_stage_reads(
    tmp_path: Path, engine: AggregateEngine
) -> None:
    pq.write_table(pa.table({"id": [1, 2], "x": [0.5, 1.5]}), tmp_path / "f.parquet")
    side = {"raw": {"a": {"path": "f.parquet"}}, "features": {"path": "f.parquet"}}
    local = over(tmp_path, {"research": side, "production": side}, engine)
    raw, features = local.relation("research.raw.a"), local.relation("research.features")
    local.release_after("data_reproducibility")
    with pytest.raises(KeyError):
        local.aggregate.num_rows(raw)
    assert local.aggregate.num_rows(features) == 2
    assert local.aggregate.num_rows(local.relation("research.raw.a")) == 2  # registered again
