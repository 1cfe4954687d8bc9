"""Derived relations and their small answers: `register_view`, `register_membership`,
`count_where` and `first_rows`, the same on every engine (hand-computed expectations)."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from mlcheck.engines import AggregateEngine
from mlcheck.stages import prediction_sql as sql

Register = Callable[[str, pa.Table], str]
NAN, INF = float("nan"), float("inf")


def scores() -> pa.Table:
    """id 1-6: score 0.2, null, NaN, +inf, 1.5, 0.7; region a, b, a, c, None, b."""
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
            "score": pa.array([0.2, None, NAN, INF, 1.5, 0.7], pa.float64()),
            "region": ["a", "b", "a", "c", None, "b"],
        }
    )


def test_count_where_counts_each_condition_in_one_answer(
    engine: AggregateEngine, register: Register
) -> None:
    register("t", scores())
    x = sql.double(engine.quote, "score")
    found = engine.count_where(
        "t",
        {
            "rows": "TRUE",
            "null": f"{engine.quote('score')} IS NULL",
            "missing": sql.missing(x),
            "finite": sql.finite(x),
            "above_one": f"{sql.finite(x)} AND {x} > 1",
            "none": "FALSE",
        },
    )
    assert found == {"rows": 6, "null": 1, "missing": 2, "finite": 3, "above_one": 1, "none": 0}
    assert engine.count_where("t", {}) == {}


def test_a_view_is_a_filtered_projection_with_windows(
    engine: AggregateEngine, register: Register
) -> None:
    """Twice the average rank of the finite scores (0.2, 0.7, 1.5 -> 2, 4, 6) and the rows per
    region, over the rows with a region."""
    register("t", scores())
    q = engine.quote
    x = sql.double(q, "score")
    engine.register_view(
        "v",
        "t",
        {
            "id": q("id"),
            "twice_rank": sql.average_rank_twice(x, sql.finite(x)),
            "in_region": f"count(*) OVER (PARTITION BY {q('region')})",
        },
        where=f"{q('region')} IS NOT NULL",
    )
    assert engine.num_rows("v") == 5
    rows = engine.first_rows("v", ["id", "twice_rank", "in_region"], ["id"], 10)
    assert rows == [
        {"id": 1, "twice_rank": 2, "in_region": 2},
        {"id": 2, "twice_rank": None, "in_region": 2},
        {"id": 3, "twice_rank": None, "in_region": 2},
        {"id": 4, "twice_rank": None, "in_region": 1},
        {"id": 6, "twice_rank": 4, "in_region": 2},
    ]


def test_average_ranks_of_ties_are_shared(engine: AggregateEngine, register: Register) -> None:
    """Values 3, 1, 3, 2, 3: ranks 4, 1, 4, 2, 4 (3 is tied on ranks 3-5): twice 8, 2, 8, 4, 8."""
    register("t", pa.table({"id": [1, 2, 3, 4, 5], "x": [3.0, 1.0, 3.0, 2.0, 3.0]}))
    engine.register_view(
        "v", "t", {"id": engine.quote("id"), "u": sql.average_rank_twice("x", "TRUE")}
    )
    rows = engine.first_rows("v", ["id", "u"], ["id"], 10)
    assert [r["u"] for r in rows] == [8, 2, 8, 4, 8]


def test_first_rows_order_nulls_last_and_break_ties(
    engine: AggregateEngine, register: Register
) -> None:
    """Ordered by region (nulls last), ties by the other columns (id), cut at `limit`."""
    register("t", scores())
    rows = engine.first_rows("t", ["region", "id"], ["region"], 4)
    assert rows == [
        {"region": "a", "id": 1},
        {"region": "a", "id": 3},
        {"region": "b", "id": 2},
        {"region": "b", "id": 6},
    ]
    last = engine.first_rows("t", ["region", "id"], ["region"], 6)[-1]
    assert last == {"region": None, "id": 5}
    assert engine.first_rows("t", ["id"], ["id"], 0) == []


def test_membership_flags_values_seen_in_the_reference(
    engine: AggregateEngine, register: Register
) -> None:
    """Reference regions a, b (and a null); `code` is text on one side and integer on the
    other, so it compares as text. Region c is unseen, a null region has no flag."""
    register("t", scores().append_column("code", pa.array(["1", "2", "3", "4", "5", "6"])))
    reference = pa.table(
        {"region": ["a", "b", None, "a"], "code": pa.array([1, 2, 2, 9], pa.int64())}
    )
    register("ref", reference)
    engine.register_membership("m", "t", "ref", {"region": "seen_region", "code": "seen_code"})
    rows = engine.first_rows("m", ["id", "seen_region", "seen_code"], ["id"], 10)
    assert [(r["seen_region"], r["seen_code"]) for r in rows] == [
        (True, True),
        (True, True),
        (True, False),
        (False, False),
        (None, False),
        (True, False),
    ]
    assert engine.schema("m").names[:3] == ["id", "score", "region"]
    assert engine.count_where("m", {"unseen": "NOT seen_region"}) == {"unseen": 1}


def test_text_literals_read_the_same_on_every_engine(
    engine: AggregateEngine, register: Register
) -> None:
    """Quotes, backslashes and non-ASCII text are written as chr(n) pieces."""
    words = ["it's", "back\\slash", "naïve", "", "plain text"]
    register("t", pa.table({"w": words}))
    for word in words:
        found = engine.count_where("t", {"same": f"{engine.quote('w')} = {sql.text(word)}"})
        assert found == {"same": 1}, word
