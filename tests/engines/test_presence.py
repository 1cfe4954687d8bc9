"""`presence` and `count_equal` on every engine: what of each column arrived (nulls, NaNs,
present extremes), the latest time each column was present, the time axis itself (timestamps,
dates, ISO-8601 text with and without offsets), and counts of given values. Expected answers
are computed by hand in each test, or with numpy over the same values."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from mlcheck.engines import AggregateEngine, duck
from mlcheck.engines.base import ColumnPresence, TimeAxis

Register = Callable[[str, pa.Table], str]
US = 1_000_000


def us(text: str) -> int:
    """Microseconds since the epoch of a UTC wall time."""
    return int(np.datetime64(text, "us").astype(np.int64))


def test_counts_and_present_extremes_per_type(engine: AggregateEngine, register: Register) -> None:
    """nulls count null cells only, nans float NaNs only; extremes skip both, -0.0 reads as
    0.0; a list column has no extremes; an all-null column has none either."""
    nan = math.nan
    table = pa.table(
        {
            "f": pa.array([-0.0, 2.5, nan, None, -1.5]),
            "zeros": pa.array([-0.0, -0.0, None, nan, -0.0]),
            "f32": pa.array([1.5, None, 0.25, 0.25, nan], pa.float32()),
            "i": pa.array([7, None, -3, 7, 12]),
            "b": pa.array([True, True, None, True, True]),
            "s": pa.array(["pear", "apple", None, "Zebra", "apple"]),
            "cat": pa.array(["b", None, "a", "b", "c"]).dictionary_encode(),
            "day": pa.array([date(2024, 1, 2), None, date(1900, 1, 1), None, None]),
            "stamp": pa.array([datetime(2024, 5, 1, 12), None, None, None, datetime(9999, 12, 31)]),
            "items": pa.array([[1], None, [2, 3], None, None]),
            "empty": pa.array([None] * 5, pa.float64()),
        }
    )
    got = engine.presence(register("t", table), list(table.column_names))
    assert got.rows == 5 and got.time is None
    assert got.columns == {
        "f": ColumnPresence(1, 1, -1.5, 2.5),
        "zeros": ColumnPresence(1, 1, 0.0, 0.0),
        "f32": ColumnPresence(1, 1, 0.25, 1.5),
        "i": ColumnPresence(1, 0, -3, 12),
        "b": ColumnPresence(1, 0, True, True),
        "s": ColumnPresence(1, 0, "Zebra", "pear"),  # byte order: capitals first
        "cat": ColumnPresence(1, 0, "a", "c"),
        "day": ColumnPresence(3, 0, date(1900, 1, 1), date(2024, 1, 2)),
        "stamp": ColumnPresence(3, 0, datetime(2024, 5, 1, 12), datetime(9999, 12, 31)),
        "items": ColumnPresence(3, 0, None, None),
        "empty": ColumnPresence(5, 0, None, None),
    }
    assert math.copysign(1.0, got.columns["zeros"].low) == 1.0


def test_latest_time_each_column_is_present(engine: AggregateEngine, register: Register) -> None:
    """Naive timestamps: `x` last present on day 2 (day 3 is NaN, day 4 null); `y` on day 4;
    `never` never; a row without a time counts for no column. The axis spans days 0..4."""
    days = [datetime(2024, 1, 1 + d) for d in range(5)] + [None]
    table = pa.table(
        {
            "t": pa.array(days, pa.timestamp("s")),
            "x": pa.array([1.0, 2.0, 3.0, math.nan, None, 9.0]),
            "y": pa.array(["a", None, None, None, "b", "c"]),
            "never": pa.array([None] * 6, pa.int64()),
        }
    )
    got = engine.presence(register("t", table), ["x", "y", "never"], time="t")
    assert got.rows == 6
    assert got.time == TimeAxis(5, us("2024-01-01"), us("2024-01-05"), 0, None, 0)
    assert got.columns["x"].last == us("2024-01-03")
    assert got.columns["y"].last == us("2024-01-05")
    assert got.columns["never"].last is None


def test_iso_text_times_offsets_and_unreadable(engine: AggregateEngine, register: Register) -> None:
    """Text with an offset is an instant (02:00+03:00 is 23:00Z the day before), naive text is
    read as UTC, a bare date as midnight; text not starting like an ISO date ("yesterday",
    "now") is unreadable, the least of it the example; 9999-12-31 is a time like any other."""
    text = [
        "2024-03-01T02:00:00+03:00",
        "2024-03-31T00:00:00Z",
        "2024-01-01 06:30:00",
        "2024-01-02",
        "yesterday",
        "now",
        None,
        "9999-12-31T00:00:00",
    ]
    table = pa.table(
        {"t": pa.array(text), "x": pa.array([1.0, None, 2.0, 3.0, 4.0, 5.0, 6.0, None])}
    )
    got = engine.presence(register("t", table), ["x"], time="t")
    expected = TimeAxis(5, us("2024-01-01T06:30"), us("9999-12-31"), 2, "now", 2)
    assert got.time == expected
    assert got.columns["x"].last == us("2024-02-29T23:00")


def test_zone_aware_times_and_dates(engine: AggregateEngine, register: Register) -> None:
    """Zone-aware timestamps are UTC instants whatever their zone; dates are midnight."""
    paris = pa.array([datetime(2024, 6, 1, 1, tzinfo=timezone.utc), None]).cast(
        pa.timestamp("us", "Europe/Paris")
    )
    table = pa.table(
        {
            "zoned": paris,
            "day": pa.array([date(2024, 6, 1), date(1900, 1, 1)]),
            "x": pa.array([1, 2]),
        }
    )
    name = register("t", table)
    assert engine.presence(name, ["x"], time="zoned").time == TimeAxis(
        1, us("2024-06-01T01:00"), us("2024-06-01T01:00")
    )
    got = engine.presence(name, ["x"], time="day")
    assert got.time == TimeAxis(2, us("1900-01-01"), us("2024-06-01"))
    assert got.columns["x"].last == us("2024-06-01")


def test_nanoseconds_truncate_to_microseconds(engine: AggregateEngine, register: Register) -> None:
    """-1.5 us truncates toward zero to -1 us, as Arrow's cast does (DuckDB: Spark holds
    microseconds and refuses nanosecond tables)."""
    if engine.name == "spark":
        pytest.skip("Spark holds timestamps in microseconds")
    table = pa.table(
        {"t": pa.array(np.array([-1500, 2999], dtype="datetime64[ns]")), "x": pa.array([1, None])}
    )
    got = engine.presence(register("t", table), ["x"], time="t")
    assert got.time == TimeAxis(2, -1, 2)
    assert got.columns["x"].last == -1


@pytest.mark.parametrize("side_by_side", [False, True])
def test_wide_table_matches_numpy(
    engine: AggregateEngine, register: Register, monkeypatch: pytest.MonkeyPatch, side_by_side: bool
) -> None:
    """450 float and 50 integer columns of 30 rows (several batches per type) with nulls and
    NaNs at random: every count, extreme and latest time equals numpy's, whether the columns
    are unpivoted (short tables) or aggregated side by side (long tables: forced here)."""
    if side_by_side:
        monkeypatch.setattr(duck, "WIDE_ROWS", 0)
    rng = np.random.default_rng(7)
    rows, floats, ints = 30, 450, 50
    times = np.datetime64("2024-01-01", "us") + rng.permutation(rows) * np.timedelta64(1, "h")
    data: dict[str, pa.Array] = {"t": pa.array(times)}
    for i in range(floats + ints):
        values = rng.normal(size=rows) if i < floats else rng.integers(-50, 50, rows)
        nulls = rng.random(rows) < 0.2
        nans = (rng.random(rows) < 0.1) & ~nulls if i < floats else np.zeros(rows, bool)
        values = np.where(nans, np.nan, values)
        data[f"c {i}"] = pa.array(values, mask=nulls)
    table = pa.table(data)
    names = table.column_names[1:]
    got = engine.presence(register("wide", table), names, time="t")
    ticks = times.astype(np.int64)
    for name in names:
        column = table.column(name)
        values = column.to_numpy(zero_copy_only=False).astype(float)
        null = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        nan = np.isnan(values) & ~null
        present = ~null & ~nan
        found = got.columns[name]
        assert (found.nulls, found.nans) == (int(null.sum()), int(nan.sum())), name
        assert (found.low, found.high) == (values[present].min(), values[present].max()), name
        assert found.last == int(ticks[present].max()), name


def test_count_equal(engine: AggregateEngine, register: Register) -> None:
    """Rows equal to a given value: numbers compare as numbers across integer and float."""
    table = pa.table(
        {
            "i": pa.array([1, 2, 2, None]),
            "f": pa.array([0.5, -0.0, 0.0, math.nan]),
            "s": pa.array(["a", "b", "a", None]),
            "b": pa.array([True, False, True, True]),
            "d": pa.array([date(2024, 1, 1), None, date(2024, 1, 1), date(2024, 1, 2)]),
        }
    )
    name = register("t", table)
    got = engine.count_equal(name, {"i": 2, "f": 0.0, "s": "a", "b": True, "d": date(2024, 1, 1)})
    assert got == {"i": 2, "f": 2, "s": 2, "b": 3, "d": 2}
    assert engine.count_equal(name, {"i": 2.0, "f": 0.5}) == {"i": 2, "f": 1}
    assert engine.count_equal(name, {"i": 2.5}) == {"i": 0}
    assert engine.count_equal(name, {}) == {}
