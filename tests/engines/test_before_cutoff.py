"""`before_cutoff`: per group, rows earlier than the newest value of the cutoff groups, with
the first keys by key; text read as ISO 8601 times; checked by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pyarrow as pa

from mlcheck.engines import AggregateEngine

Register = Callable[[str, pa.Table], str]


def test_rows_before_the_newest_training_time(engine: AggregateEngine, register: Register) -> None:
    """Training days 5 and 3 (newest 5); test days 1 (key 3, earlier) and 9; validation has no
    time; a null split dated day 2 (key 6, earlier); key 7 is a second test row at day 4."""
    days = [5, 3, 1, 9, None, 2, 4]
    register(
        "t",
        pa.table(
            {
                "id": [1, 2, 3, 4, 5, 6, 7],
                "split": ["train", "train", "test", "test", "val", None, "test"],
                "t": pa.array([None if d is None else date(2024, 1, d) for d in days]),
            }
        ),
    )
    found = engine.before_cutoff("t", "t", "split", ["train"], ["id"], 5)
    assert found.cutoff == date(2024, 1, 5)
    test = found.groups["test"]
    assert (test.rows, test.values, test.unreadable, test.below, test.examples) == (
        3, 3, 0, 2, (3, 7)
    )  # fmt: skip
    assert found.groups["val"].values == 0 and found.groups["val"].below == 0
    assert found.groups[None].below == 1 and found.groups[None].examples == (6,)
    assert found.groups["train"].below == 1  # day 3 < day 5
    assert engine.before_cutoff("t", "t", "split", ["train"], ["id"], 1).groups[
        "test"
    ].examples == (3,)
    none = engine.before_cutoff("t", "t", "split", [], ["id"], 5)
    assert none.cutoff is None and sum(g.below for g in none.groups.values()) == 0


def test_text_times_and_unreadable_values(engine: AggregateEngine, register: Register) -> None:
    """ISO text: training newest 2024-02-09 (kept as its text), test 2024-01-15 earlier; a
    value 'last week' is counted as unreadable. Composite keys come back as records."""
    register(
        "t",
        pa.table(
            {
                "shop": ["a", "a", "b", "b"],
                "id": [1, 2, 1, 2],
                "split": ["train", "train", "test", "test"],
                "t": ["2024-02-09T00:00:00", "2024-02-01T00:00:00", "2024-01-15T00:00:00",
                      "last week"],
            }
        ),
    )  # fmt: skip
    found = engine.before_cutoff("t", "t", "split", ["train"], ["shop", "id"], 5, as_time=True)
    assert found.cutoff == "2024-02-09T00:00:00"
    test = found.groups["test"]
    assert (test.values, test.unreadable, test.below) == (1, 1, 1)
    assert test.examples == ({"shop": "b", "id": 1},)


def test_timestamps_and_numbers_compare_in_their_own_order(
    engine: AggregateEngine, register: Register
) -> None:
    """Microsecond timestamps down to the sentinel 9999-12-31, and plain integers (epochs)."""
    times = [datetime(1900, 1, 1), datetime(9999, 12, 31, 23, 59, 59), datetime(2024, 1, 1)]
    register(
        "t",
        pa.table({"id": [1, 2, 3], "split": ["test", "train", "test"],
                  "t": pa.array(times, pa.timestamp("us")), "n": [10, 30, 40]}),
    )  # fmt: skip
    found = engine.before_cutoff("t", "t", "split", ["train"], ["id"], 5)
    assert found.cutoff == datetime(9999, 12, 31, 23, 59, 59)
    assert found.groups["test"].examples == (1, 3)
    numbers = engine.before_cutoff("t", "n", "split", ["train"], ["id"], 5)
    assert numbers.cutoff == 30 and numbers.groups["test"].examples == (1,)
