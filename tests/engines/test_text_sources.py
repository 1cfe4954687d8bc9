"""csv, tsv and json lines on both engines: Spark reads the file itself (its lines, split
across tasks, each batch converted by pyarrow's reader under the types pyarrow infers from the
first block); DuckDB gets the reader's Arrow table. Either way the relation holds exactly the
reader's table: same schema, same profiles, the same rows. A file whose later lines do not
convert under the first block's types (the reader widens the type) arrives as the reader's
table on Spark too."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import yaml

from mlcheck.checklist import load_checklist
from mlcheck.compare import pair_kind
from mlcheck.engine import LocalEngine
from mlcheck.engines import AggregateEngine

# Every type pyarrow's csv reader infers that Spark holds, with its quirks (" 5" and "0x10" are
# integers to pyarrow, "NA" and "" are nulls, a quoted field holds the delimiter and a doubled
# quote), so only pyarrow's own conversion gives these values.
CSV = (
    "id,x,n,flag,s,day,t\n"
    '1,0.5, 5,true,"a,""b""",2024-01-01,2024-01-01 10:00:00\n'
    "2,NA,0x10,False,,2024-02-01,\n"
    "3,inf,-7,,plain,,2024-01-01T11:00\n"
    "\n"
    "4,1e300,9007199254740993,TRUE,NA,2023-12-31,1969-12-31 23:59:59\n"
)
JSONL = (
    '{"id": 1, "x": 0.5, "b": true, "s": "a", "t": "2024-01-01 10:00:00"}\n'
    '{"id": 2, "x": 1, "b": null, "s": null}\n'
    "\n"
    '{"id": 3, "x": -0.0, "b": false, "s": "\\u00e9\\"q", "t": "1970-01-01T00:00:01"}\n'
)


def over(tmp_path: Path, doc: dict[str, Any], engine: AggregateEngine) -> LocalEngine:
    path = tmp_path / "c.yaml"
    doc = {"version": 1, "key": "id", "production": {}, **doc}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return LocalEngine(load_checklist(path), aggregate_engine=engine)


def assert_reader_relation(local: LocalEngine, slot: str, in_place: bool) -> pa.Table:
    """The slot's relation equals the reader's table (schema, profiles, rows); Spark read it
    itself (`in_place`) or got the reader's table."""
    agg = local.aggregate
    name = local.relation(slot)
    assert (not local._tables) == in_place
    table = local.table(slot)
    assert agg.schema(name).equals(table.schema)
    agg.register("reader", table)
    kinds = {f.name: pair_kind(f.type, f.type) for f in table.schema}
    assert repr(agg.profiles(name, kinds, 5)) == repr(agg.profiles("reader", kinds, 5))  # NaN
    difference = agg.multiset_difference(name, "reader", list(kinds), 3)
    assert (difference.lost, difference.extra) == (0, 0)
    assert agg.num_rows(name) == table.num_rows
    return table


def spark_reads(engine: AggregateEngine) -> bool:
    return engine.name == "spark"


@pytest.mark.parametrize(
    ("name", "text"), [("f.csv", CSV), ("f.jsonl", JSONL)], ids=["csv", "jsonl"]
)
def test_text_file_holds_the_readers_values(
    tmp_path: Path, engine: AggregateEngine, name: str, text: str
) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    local = over(tmp_path, {"research": {"features": {"path": name}}}, engine)
    table = assert_reader_relation(local, "research.features", in_place=spark_reads(engine))
    assert table.num_rows == (4 if name == "f.csv" else 3)


def test_csv_read_options_and_columns(tmp_path: Path, engine: AggregateEngine) -> None:
    """A gzipped tsv without a header, "-" as its only null, two columns selected (plus the
    key, f0): the reader's column names, nulls and order."""
    rows = "1\t-\tx\t2.5\n2\tNA\t-\t-\n3\tb\tz\t1\n"
    (tmp_path / "f.tsv.gz").write_bytes(gzip.compress(rows.encode()))
    options = {"header": False, "null_values": ["-"]}
    spec = {"path": "f.tsv.gz", "read_options": options, "columns": ["f3", "f1"], "key": "f0"}
    local = over(tmp_path, {"research": {"features": spec}}, engine)
    table = assert_reader_relation(local, "research.features", in_place=spark_reads(engine))
    assert table.column_names == ["f3", "f1", "f0"]
    assert table.column("f1").to_pylist() == [None, "NA", "b"]


def test_a_later_line_that_widens_the_type_falls_back(
    tmp_path: Path, engine: AggregateEngine
) -> None:
    """x is an integer in the first block (1 MiB: 10,000 lines of 110 bytes) and 0.5 on the
    last line: the reader of the whole file types x as double, so Spark's read under int64
    fails and the slot arrives as the reader's table."""
    pad = "p" * 100
    lines = [f"{i},{i % 7},{pad}" for i in range(10_000)]
    (tmp_path / "f.csv").write_text("id,x,pad\n" + "\n".join(lines) + f"\n10000,0.5,{pad}\n")
    first_block = pacsv.open_csv(tmp_path / "f.csv").schema
    assert first_block.field("x").type == pa.int64()
    spec = {"path": "f.csv", "columns": ["x"]}  # the padding is for the block size only
    local = over(tmp_path, {"research": {"features": spec}}, engine)
    table = assert_reader_relation(local, "research.features", in_place=False)
    assert table.schema.field("x").type == pa.float64()


@pytest.mark.spark
def test_csv_split_across_tasks_keeps_rows_and_drops_only_the_header(
    tmp_path: Path, spark_session: Any
) -> None:
    """A 30 KB file read as 2 KiB splits (most of them start and end inside a line): the header
    line is dropped once (the first line of the file's first split), every other line is a
    row, in the file's order."""
    from mlcheck.engines.spark import SparkEngine

    rows = 2_000
    lines = [f"{i},{i * 0.25},v{i % 13}" for i in range(rows)]
    (tmp_path / "f.csv").write_text("id,x,s\n" + "\n".join(lines) + "\n")
    key = "spark.sql.files.maxPartitionBytes"
    before = spark_session.conf.get(key)
    spark_session.conf.set(key, "2048")
    try:
        engine = SparkEngine(session=spark_session)
        local = over(tmp_path, {"research": {"features": {"path": "f.csv"}}}, engine)
        name = local.relation("research.features")
        frame = spark_session.table(engine._view(name))
        assert frame.rdd.getNumPartitions() > 10
        ids = [row[0] for row in frame.select("id").collect()]
        assert ids == list(range(rows))
        assert_reader_relation(local, "research.features", in_place=True)
        engine.close()
    finally:
        spark_session.conf.set(key, before)
