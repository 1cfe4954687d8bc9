"""`register_chunks` (a chunk number per row, by position or calendar period) and `counts`
(per group, each value with its count, as Arrow): the same answers on every engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlcheck.engines import AggregateEngine

Register = Callable[[str, pa.Table], str]


def _rows(table: pa.Table) -> list[tuple]:
    return list(zip(*(table.column(i).to_pylist() for i in range(3)), strict=True))


def test_size_chunks_follow_file_order(engine: AggregateEngine) -> None:
    """400,000 rows (40,000 on Spark) in record batches of 5,000, x descending: chunk =
    position // 7000, so chunk k holds x from n - 1 - 7000k down (the last chunk is short). Arrow, as `relation(slot)` hands
    slots over today."""
    n = 400_000 if engine.name == "duckdb" else 40_000
    table = pa.table({"x": np.arange(n)[::-1].copy()})
    engine.register("rows", pa.Table.from_batches(table.to_batches(max_chunksize=5_000)))
    _assert_position_chunks(engine, n)


def test_size_chunks_follow_parquet_file_order(engine: AggregateEngine, tmp_path: Path) -> None:
    """The same rows as a parquet file of 8 row groups read in place (a view: DuckDB numbers the
    rows while creating the chunk table with insertion order kept, so row groups keep file
    order; test_size_chunk_order.py does the same for a folder of files)."""
    n = 40_000
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"x": np.arange(n)[::-1].copy()}), path, row_group_size=5_000)
    engine.register("rows", path)
    _assert_position_chunks(engine, n)


def _assert_position_chunks(engine: AggregateEngine, n: int) -> None:
    engine.register_chunks("rows_c", "rows", "chunk", size=7_000)
    assert engine.schema("rows_c").names == ["x", "chunk"]
    found = engine.counts("rows_c", ["x"], by="chunk")["x"]
    chunk = np.asarray(found.column("g").to_numpy())
    x = np.asarray(found.column("v").to_numpy())
    np.testing.assert_array_equal(chunk, (n - 1 - x) // 7_000)
    assert found.column("n").to_pylist() == [1] * n


def test_time_chunks_are_calendar_periods(engine: AggregateEngine, register: Register) -> None:
    """Weeks from Monday 1970-01-05 (origin 4 days): 2024-01-01 is a Monday, so Sunday
    2023-12-31 23:59:59.999999 is in the week before it. Null times have no chunk; a time before
    1970 floors to a negative week (floor, not truncation)."""
    times = [
        dt.datetime(2024, 1, 1),
        dt.datetime(2023, 12, 31, 23, 59, 59, 999_999),
        None,
        dt.datetime(2024, 1, 7, 23, 0),
        dt.datetime(1969, 12, 31, 12, 0),
    ]
    register("t", pa.table({"at": pa.array(times, pa.timestamp("us")), "y": [1, 2, 3, 4, 5]}))
    engine.register_chunks("tc", "t", "week", timestamp="at", every_s=7 * 86400, origin_s=4 * 86400)
    found = _rows(engine.counts("tc", ["y"], by="week")["y"])
    monday = (dt.datetime(2024, 1, 1) - dt.datetime(1970, 1, 5)).days // 7
    assert found == [(-1, 5, 1), (monday - 1, 2, 1), (monday, 1, 1), (monday, 4, 1), (None, 3, 1)]


@pytest.mark.parametrize(
    ("column", "width"),
    [
        (pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2), None]), 86400),
        (pa.array(["2024-01-01T00:00:00", "2024-01-02T23:00:00+02:00", None]), 86400),
        (pa.array([dt.datetime(2024, 1, 1, 5), dt.datetime(2024, 1, 2, 1), None],
                  pa.timestamp("ms", tz="Europe/Paris")), 86400),
    ],
)  # fmt: skip
def test_dates_text_and_zoned_times(
    engine: AggregateEngine, register: Register, column: pa.Array, width: int
) -> None:
    """Days since the epoch: a date, ISO text (an offset is honoured: 23:00+02:00 is 21:00 UTC)
    and a zoned timestamp (an instant) all land on 2024-01-01 = day 19723 and the day after."""
    register("t", pa.table({"at": column, "y": [1, 2, 3]}))
    engine.register_chunks("tc", "t", "day", timestamp="at", every_s=width)
    assert _rows(engine.counts("tc", ["y"], by="day")["y"]) == [
        (19723, 1, 1),
        (19724, 2, 1),
        (None, 3, 1),
    ]


def test_counts_of_numbers_and_categories(engine: AggregateEngine, register: Register) -> None:
    """as_double: NaN, infinities and nulls are left out, -0.0 counts as 0.0, integers become
    floats; otherwise values keep their type and only nulls are left out."""
    register(
        "t",
        pa.table(
            {
                "f": [0.0, -0.0, float("nan"), float("inf"), None, 2.5, 2.5, -1.0],
                "i": [3, 3, 1, None, 2, 3, 1, 1],
                "s": ["b", "a", None, "b", "b", "c", "a", "b"],
                "g": [1, 1, 1, 1, 2, 2, 2, 2],
            }
        ),
    )
    found = engine.counts("t", ["f", "i"], as_double=True)
    assert _rows(found["f"]) == [(None, -1.0, 1), (None, 0.0, 2), (None, 2.5, 2)]
    assert found["i"].column("v").type == pa.float64()
    assert _rows(found["i"]) == [(None, 1.0, 3), (None, 2.0, 1), (None, 3.0, 3)]
    by_group = engine.counts("t", ["s"], by="g")["s"]
    assert _rows(by_group) == [(1, "a", 1), (1, "b", 2), (2, "a", 1), (2, "b", 2), (2, "c", 1)]


def test_nanoseconds_floor_to_their_second(engine: AggregateEngine) -> None:
    """One nanosecond before a day boundary stays in the day before (a cast to microseconds
    would round it up into the next day); one before the epoch is day -1."""
    if engine.name == "spark":
        pytest.skip("Spark holds timestamps in microseconds")
    day = 19723 * 86400 * 10**9
    ticks = [day - 1, day, -1]
    engine.register("t", pa.table({"at": pa.array(ticks, pa.timestamp("ns")), "y": [1, 2, 3]}))
    engine.register_chunks("tc", "t", "day", timestamp="at", every_s=86400)
    found = _rows(engine.counts("tc", ["y"], by="day")["y"])
    assert found == [(-1, 3, 1), (19722, 1, 1), (19723, 2, 1)]


def test_counts_of_numbers_grouped_by_text(engine: AggregateEngine, register: Register) -> None:
    """Groups are text (a split) with a null group last; values within a group ascending."""
    register(
        "t",
        pa.table({"x": [3.0, 1.0, 2.0, 1.0, 5.0], "s": ["train", "test", None, "train", "test"]}),
    )
    found = _rows(engine.counts("t", ["x"], by="s", as_double=True)["x"])
    assert found == [
        ("test", 1.0, 1),
        ("test", 5.0, 1),
        ("train", 1.0, 1),
        ("train", 3.0, 1),
        (None, 2.0, 1),
    ]
