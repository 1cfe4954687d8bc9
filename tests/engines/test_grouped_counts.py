"""`grouped_counts`: rows of a relation counted per combination of values, looked up on the key
in other relations, optionally per chunk (consecutive rows, or calendar periods of a time)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable

import pyarrow as pa

from mlcheck.engines import AggregateEngine
from mlcheck.engines.base import Chunking

Register = Callable[[str, pa.Table], str]
WEEK = 7 * 86400
MONDAY = 4 * 86400  # 1970-01-05, a Monday: the origin of weekly chunks


def rows(table: pa.Table) -> list[tuple[object, ...]]:
    return [tuple(r.values()) for r in table.to_pylist()]


def test_lookup_counts_every_base_row_once(engine: AggregateEngine, register: Register) -> None:
    """Predictions: id 6 twice (duplicate), a null id. Labels: id 9 has no prediction, id 5 is
    twice in the labels. Only ids 1 and 3 get a label; every other prediction row counts with a
    null label, and a score group (0.2) splits by label."""
    register(
        "p",
        pa.table(
            {
                "id": [3, 1, None, 6, 5, 6, 2],
                "score": [0.2, 0.1, 0.9, 0.6, 0.5, 0.6, 0.2],
            }
        ),
    )
    register("l", pa.table({"id": [1, 3, 5, 9, 5, 6], "y": [0, 1, 1, 0, 0, 1]}))
    found = engine.grouped_counts("p", ["id"], [("p", "score"), ("l", "y")])
    assert found.column_names == ["c0", "c1", "n"]
    assert rows(found) == [
        (0.1, 0, 1),
        (0.2, 1, 1),
        (0.2, None, 1),
        (0.5, None, 1),
        (0.6, None, 2),
        (0.9, None, 1),
    ]


def test_counts_of_the_base_alone_need_no_key(engine: AggregateEngine, register: Register) -> None:
    """NaN is a value of its own, sorted after the numbers; null last."""
    register("p", pa.table({"s": [0.5, float("nan"), None, 0.5, 0.25], "d": [1, 0, 0, 1, 0]}))
    found = rows(engine.grouped_counts("p", [], [("p", "s"), ("p", "d")]))
    assert [r[1:] for r in found] == [(0, 1), (1, 2), (0, 1), (0, 1)]
    assert found[0][0] == 0.25 and found[1][0] == 0.5
    assert found[2][0] != found[2][0]  # NaN
    assert found[3][0] is None


def test_size_chunks_follow_the_row_order(engine: AggregateEngine, register: Register) -> None:
    """Ten rows whose keys are shuffled: chunks of 4 are positions 0-3, 4-7, 8-9, whatever the
    keys; the labels are looked up per row."""
    ids = [7, 2, 9, 0, 5, 3, 8, 1, 6, 4]
    register("p", pa.table({"id": ids, "d": [i % 2 for i in ids]}))
    register("l", pa.table({"id": [0, 1, 2, 3], "y": [1, 1, 0, 0]}))
    found = engine.grouped_counts("p", ["id"], [("p", "d"), ("l", "y")], Chunking(size=4))
    expected = Counter(
        (position // 4, i % 2, {0: 1, 1: 1, 2: 0, 3: 0}.get(i)) for position, i in enumerate(ids)
    )
    assert found.column_names == ["chunk", "c0", "c1", "n"]
    assert rows(found) == sorted(
        ((*k, n) for k, n in expected.items()),
        key=lambda r: (r[0], r[1], r[2] is None, r[2] or 0),
    )


def test_weekly_chunks_from_a_time_in_another_relation(
    engine: AggregateEngine, register: Register
) -> None:
    """Weeks start on Monday 00:00 UTC: Sunday 23:59:59 and the Monday after are in different
    weeks, a second before the epoch is in week -1 (floor, not truncation), a row without a
    time (null, or no feature row) has no chunk."""
    times = [
        dt.datetime(2024, 1, 7, 23, 59, 59),  # Sunday
        dt.datetime(2024, 1, 8),  # Monday
        dt.datetime(1969, 12, 31, 23, 59, 59),
        None,
        dt.datetime(2024, 1, 14, 12),
    ]
    register("p", pa.table({"id": [1, 2, 3, 4, 5, 6], "d": [1, 1, 0, 0, 1, 1]}))
    register("f", pa.table({"id": [1, 2, 3, 4, 5], "t": pa.array(times, pa.timestamp("ms"))}))
    weekly = Chunking(time=("f", "t"), width_s=WEEK, origin_s=MONDAY)
    found = rows(engine.grouped_counts("p", ["id"], [("p", "d")], weekly))

    def week(t: dt.datetime) -> int:
        seconds = int((t - dt.datetime(1970, 1, 1)).total_seconds())
        return (seconds - MONDAY) // WEEK  # Python's // floors

    monday = week(dt.datetime(2024, 1, 8))
    assert week(times[0]) == monday - 1 and week(times[2]) == -1  # the cases named above
    assert found == [(-1, 0, 1), (monday - 1, 1, 1), (monday, 1, 2), (None, 0, 1), (None, 1, 1)]


def test_daily_chunks_of_dates_and_zoned_times(engine: AggregateEngine, register: Register) -> None:
    """A date is its midnight UTC; a zoned timestamp is its UTC instant (23:30 at UTC-2 is the
    next day in UTC)."""
    zone = dt.timezone(dt.timedelta(hours=-2))
    register(
        "p",
        pa.table(
            {
                "day": pa.array([dt.date(2024, 3, 1), dt.date(2024, 3, 2)], pa.date32()),
                "at": pa.array(
                    [dt.datetime(2024, 3, 1, 23, 30, tzinfo=zone)] * 2, pa.timestamp("us", "UTC")
                ),
            }
        ),
    )
    first = (dt.date(2024, 3, 1) - dt.date(1970, 1, 1)).days
    by_day = engine.grouped_counts("p", [], [], Chunking(time=("p", "day"), width_s=86400))
    by_instant = engine.grouped_counts("p", [], [], Chunking(time=("p", "at"), width_s=86400))
    assert rows(by_day) == [(first, 1), (first + 1, 1)]
    assert rows(by_instant) == [(first + 1, 2)]


def test_nanosecond_times_are_floored_to_seconds(
    engine: AggregateEngine, register: Register
) -> None:
    """Nanosecond ticks (pandas' default), with a zone too: a nanosecond before midnight UTC is
    the day before, and before the epoch floors to day -1. Spark holds microseconds only."""
    if engine.name == "spark":
        return  # Spark refuses nanosecond timestamps when they are registered
    ticks = [86_400 * 10**9 - 1, 86_400 * 10**9, -1]
    table = pa.table(
        {
            "naive": pa.array(ticks, pa.timestamp("ns")),
            "zoned": pa.array(ticks, pa.timestamp("ns", "America/New_York")),
        }
    )
    register("p", table)
    for column in ("naive", "zoned"):
        found = engine.grouped_counts("p", [], [], Chunking(time=("p", column), width_s=86400))
        assert rows(found) == [(-1, 1), (0, 1), (1, 1)]
