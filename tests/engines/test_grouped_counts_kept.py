"""`grouped_counts` with a `GroupShape` that keeps rows (`finite`, `equal`): the engine drops
rows before binning and grouping, exactly the groups a caller would keep from the unfiltered
answer; checked by hand and against the unfiltered answer, on every engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from mlcheck.engines import AggregateEngine
from mlcheck.engines.base import Curve, GroupShape

Register = Callable[[str, pa.Table], str]
NAN, INF = float("nan"), float("inf")


def _rows(engine: AggregateEngine, shape: GroupShape) -> pa.Table:
    columns = [("p", "score"), ("p", "y"), ("s", "split"), ("p", "score"), ("p", "x")]
    return engine.grouped_counts("p", ["id"], columns, shape=shape)


def _register(register: Register) -> None:
    """id 2: NaN score; id 3: train; id 4: no label; id 5: infinite score; id 7: twice in
    the splits (no split); ids 1, 6 and 8 are kept: x bins 1, 0 and 1, labels 1, 0, 1."""
    register(
        "p",
        pa.table(
            {
                "id": [1, 2, 3, 4, 5, 6, 7, 8],
                "score": [0.5, NAN, 0.3, 0.4, INF, 0.25, 0.7, 1.0],
                "y": pa.array([1, 0, 1, None, 0, 0, 1, 1], pa.float64()),
                "x": [5.0, 6, 7, 8, 9, 2, 3, 4],
            }
        ),
    )
    splits = ["test", "test", "train", "test", "test", "test", "test", "test", "test"]
    register("s", pa.table({"id": [1, 2, 3, 4, 5, 6, 7, 7, 8], "split": splits}))


def test_kept_rows_are_grouped_alone(engine: AggregateEngine, register: Register) -> None:
    """Kept rows (ids 1, 6, 8): bins of x at edge 3 (1, 0, 1), curve 0.2 + 0.4 * score
    summed per group (ids 1 and 8: 0.4 + 0.6 = 1.0; id 6: 0.3), first row 0, 5 and 0."""
    _register(register)
    curve = Curve((0.0, 1.0), (0.2, 0.6))
    shape = GroupShape(
        bins={0: [], 4: [3.0]},
        curves={3: curve},
        alone=[4],
        first=True,
        finite=[0, 1],
        equal={2: "test"},
    )
    found = _rows(engine, shape).to_pylist()
    assert [(r["c0"], r["c1"], r["c2"], r["c4"], r["n"], r["first"]) for r in found] == [
        (0, 0.0, "test", 0, 1, 5),
        (0, 1.0, "test", 1, 2, 0),
    ]
    assert abs(found[0]["f3"] - 0.3) < 1e-15 and abs(found[1]["f3"] - 1.0) < 1e-15
    assert abs(found[1]["ff3"] - (0.16 + 0.36)) < 1e-15


def test_kept_rows_are_the_unfiltered_answers_groups(
    engine: AggregateEngine, register: Register
) -> None:
    """The same groups, counts and sums as the unfiltered answer's finite-score, labelled,
    'test' groups (what the stage kept before the engine could filter)."""
    _register(register)
    shape = GroupShape(bins={0: [], 4: [3.0, 6.0]}, curves={3: Curve((0.0, 1.0), (0.1, 0.9))})
    whole = _rows(engine, shape)
    keep = pc.and_(
        pc.and_(pc.equal(whole.column("c0"), 0), pc.is_finite(whole.column("c1"))),
        pc.equal(whole.column("c2"), "test"),
    )
    kept = replace(shape, finite=[0, 1], equal={2: "test"})
    assert _rows(engine, kept).to_pylist() == whole.filter(pc.fill_null(keep, False)).to_pylist()


def test_duplicated_keys_are_left_unmatched_on_every_question(
    engine: AggregateEngine, register: Register
) -> None:
    """Two-column keys: (1, a) twice in the base, (2, b) twice in the labels, (3, c) once on
    both; a null key part. Asked twice (DuckDB keeps each relation's duplicated keys): only
    (3, c) and (4, d) find their label, the same both times and in a registered lookup."""
    register(
        "p",
        pa.table(
            {
                "k": [1, 1, 2, 3, None, 4],
                "j": ["a", "a", "b", "c", "c", "d"],
                "s": [1, 2, 3, 4, 5, 6],
            }
        ),
    )
    register(
        "l", pa.table({"k": [1, 2, 2, 3, 4], "j": ["a", "b", "b", "c", "d"], "y": [0, 1, 1, 0, 1]})
    )
    columns = [("p", "s"), ("l", "y")]
    expected = [(1, None, 1), (2, None, 1), (3, None, 1), (4, 0, 1), (5, None, 1), (6, 1, 1)]
    for _ in range(2):
        found = engine.grouped_counts("p", ["k", "j"], columns)
        assert [tuple(r.values()) for r in found.to_pylist()] == expected
    engine.register_lookup("v", "p", ["k", "j"], columns, finite=[1])
    assert engine.sorted_values_many("v", ["c0"])["c0"][None].values.tolist() == [4.0, 6.0]


def test_many_duplicated_keys_are_grouped_as_before(
    register: Register, engine: AggregateEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the limit of duplicated keys DuckDB keeps (lowered to 1 here: ids 1 and 2 are both
    twice in the labels), the keys are grouped in the question as before: the same answer."""
    from mlcheck.engines import duck

    monkeypatch.setattr(duck, "_MAX_DUPLICATES", 1)
    register("p", pa.table({"id": [1, 2, 3], "s": [0.1, 0.2, 0.3]}))
    register("l", pa.table({"id": [1, 1, 2, 2, 3], "y": [0, 1, 0, 1, 1]}))
    found = engine.grouped_counts("p", ["id"], [("p", "s"), ("l", "y")])
    assert [tuple(r.values()) for r in found.to_pylist()] == [
        (0.1, None, 1),
        (0.2, None, 1),
        (0.3, 1, 1),
    ]
