"""`grouped_counts` with a `GroupShape`: columns grouped by bin, curves of a column summed
exactly, columns grouped one at a time (grouping sets) and each group's first row; checked
against numpy (searchsorted, interp) and by hand, the same answer on every engine."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from mlcheck.engines import AggregateEngine
from mlcheck.engines.base import Curve, GroupShape

Register = Callable[[str, pa.Table], str]
NAN, INF = float("nan"), float("inf")


def rows(table: pa.Table) -> list[tuple[object, ...]]:
    return [tuple(r.values()) for r in table.to_pylist()]


def test_bins_count_the_edges_at_or_below(engine: AggregateEngine, register: Register) -> None:
    """Edges 1 and 2: 0.5 -> 0; 1.0 and 1.5 -> 1; 2.0 and 7 -> 2 (np.searchsorted, right);
    NaN and null -> null; +inf -> 3, -inf -> -1 (told apart from the finite ends)."""
    x = [0.5, 1.0, 1.5, 2.0, 7.0, NAN, None, INF, -INF]
    register("p", pa.table({"x": pa.array(x, pa.float64()), "d": [1, 1, 0, 0, 0, 0, 0, 0, 0]}))
    shape = GroupShape(bins={0: [1.0, 2.0]})
    found = rows(engine.grouped_counts("p", [], [("p", "x"), ("p", "d")], shape=shape))
    assert found == [
        (-1, 0, 1),
        (0, 1, 1),
        (1, 0, 1),
        (1, 1, 1),
        (2, 0, 2),
        (3, 0, 1),
        (None, 0, 2),
    ]
    finite = np.array([0.5, 1.0, 1.5, 2.0, 7.0])
    assert np.searchsorted([1.0, 2.0], finite, side="right").tolist() == [0, 1, 1, 2, 2]


def test_integer_and_looked_up_columns_bin_too(engine: AggregateEngine, register: Register) -> None:
    """A feature in another table, matched on the key (id 4 has none: null bin)."""
    register("p", pa.table({"id": [1, 2, 3, 4], "y": [0, 1, 1, 0]}))
    register("f", pa.table({"id": [1, 2, 3], "age": pa.array([20, 35, 50], pa.int32())}))
    shape = GroupShape(bins={1: [30.0, 50.0]})
    found = rows(engine.grouped_counts("p", ["id"], [("p", "y"), ("f", "age")], shape=shape))
    assert found == [(0, 0, 1), (0, None, 1), (1, 1, 1), (1, 2, 1)]


def test_curve_sums_match_numpy_interp(engine: AggregateEngine, register: Register) -> None:
    """Sums of interp(x) and interp(x)**2 per group over finite x; a group without a finite
    x sums to 0. The values: a flat stretch, a slope, clipping at both ends."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-1, 4, 500), [NAN, INF, -INF]])
    group = np.arange(len(x)) % 3
    group[-3:] = 3
    register("p", pa.table({"g": group, "s": x}))
    curve = Curve((0.0, 1.0, 1.5, 3.0), (0.1, 0.1, 0.6, 0.9))
    shape = GroupShape(curves={1: curve})
    found = engine.grouped_counts("p", [], [("p", "g"), ("p", "s")], shape=shape)
    assert found.column_names == ["c0", "n", "f1", "ff1"]
    assert found.column("c0").to_pylist() == [0, 1, 2, 3]
    for g in range(3):
        p = np.interp(x[group == g], curve.xp, curve.fp)
        np.testing.assert_allclose(found.column("f1")[g].as_py(), p.sum(), rtol=1e-14)
        np.testing.assert_allclose(found.column("ff1")[g].as_py(), (p * p).sum(), rtol=1e-14)
    assert found.column("f1")[3].as_py() == 0.0 and found.column("n")[3].as_py() == 3


def test_curve_sums_by_hand(engine: AggregateEngine, register: Register) -> None:
    """interp at 0.5 on (0, 0.2)-(1, 0.4) is 0.3, at 2 clipped to 0.4, at -1 to 0.2:
    sum 0.9, squares 0.09 + 0.16 + 0.04 = 0.29."""
    register("p", pa.table({"s": [0.5, 2.0, -1.0]}))
    shape = GroupShape(curves={0: Curve((0.0, 1.0), (0.2, 0.4))})
    found = engine.grouped_counts("p", [], [("p", "s")], shape=shape).to_pylist()
    assert len(found) == 1 and found[0]["n"] == 3
    assert abs(found[0]["f0"] - 0.9) < 1e-15 and abs(found[0]["ff0"] - 0.29) < 1e-15


def test_alone_columns_are_grouped_one_at_a_time(
    engine: AggregateEngine, register: Register
) -> None:
    """Grouping sets (y, a) and (y, b): `part` names the set; `first` is the least row
    position (0-based, the table's order) of the group."""
    register(
        "p",
        pa.table(
            {
                "y": [1, 0, 1, 1, 0],
                "a": ["u", "v", "u", "v", "u"],
                "b": pa.array([2.0, 9.0, 5.0, 1.0, 8.0]),
            }
        ),
    )
    shape = GroupShape(bins={2: [4.0]}, alone=[1, 2], first=True)
    found = rows(engine.grouped_counts("p", [], [("p", "y"), ("p", "a"), ("p", "b")], shape=shape))
    assert found == [
        (0, 0, "u", None, 1, 4),
        (0, 0, "v", None, 1, 1),
        (0, 1, "u", None, 2, 0),
        (0, 1, "v", None, 1, 3),
        (1, 0, None, 1, 2, 1),
        (1, 1, None, 0, 2, 0),
        (1, 1, None, 1, 1, 2),
    ]


def test_register_lookup_keeps_finite_rows_of_a_split(
    engine: AggregateEngine, register: Register
) -> None:
    """Kept: finite score, a label (looked up), split 'test' (looked up). id 2: NaN score;
    id 3: train; id 4: no label; id 5: infinite score; id 7: duplicated in the splits, so no
    split; ids 1 and 6 stay, their feature values 5 and 2 in order."""
    register(
        "p",
        pa.table(
            {"id": [1, 2, 3, 4, 5, 6, 7], "score": [0.1, NAN, 0.3, 0.4, INF, 0.6, 0.7]},
        ),
    )
    register("l", pa.table({"id": [1, 2, 3, 5, 6, 7], "y": [1, 0, 1, 0, 0, 1]}))
    register(
        "s",
        pa.table(
            {
                "id": [1, 2, 3, 4, 5, 6, 7, 7],
                "split": ["test", "test", "train", "test", "test", "test", "test", "test"],
            }
        ),
    )
    register("f", pa.table({"id": [1, 2, 3, 4, 5, 6, 7], "x": [5.0, 6, 7, 8, 9, 2, 3]}))
    columns = [("p", "score"), ("l", "y"), ("s", "split"), ("f", "x")]
    engine.register_lookup("v", "p", ["id"], columns, finite=[0, 1], equal={2: "test"})
    found = engine.sorted_values_many("v", ["c3", "c0"])
    assert found["c3"][None].values.tolist() == [2.0, 5.0]
    assert found["c0"][None].values.tolist() == [0.1, 0.6]
