"""`CellCauses.extremes`: each side's finite extremes per cause, the same on every engine,
against hand computations."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
from test_cell_causes import _pairs, _rules

from mlcheck.engines import AggregateEngine
from mlcheck.engines.base import Tolerance
from mlcheck.engines.causes import CauseRule

Register = Callable[[str, pa.Table], str]
TOL = Tolerance(rtol=1e-7, atol=1e-9)


def test_extremes_per_cause_of_finite_values(engine: AggregateEngine, register: Register) -> None:
    """`_pairs`: the unexplained pairs are ids 10, 11, 12 (research 7, 8, 10; production 0, 0,
    20); inf_removed (id 6: -inf -> 1.0) keeps only production's finite 1.0; a text column
    has none."""
    left, right = _pairs()
    register("l", left)
    register("r", right)
    found = engine.cell_causes("l", "r", ["id"], _rules(), TOL, 10, 3)
    x = found["x"].extremes
    assert x["other"] == (7.0, 10.0, 0.0, 20.0)
    assert x["inf_removed"] == (None, None, 1.0, 1.0)
    assert x["inf_flipped"] == (None, None, None, None)
    assert x["filled"] == (None, None, 0.0, 0.0)
    assert found["s"].extremes == {}


def test_integer_extremes_are_doubles(engine: AggregateEngine, register: Register) -> None:
    register("l", pa.table({"id": [1, 2, 3], "v": [1, -(2**40), 3]}))
    register("r", pa.table({"id": [1, 2, 3], "v": [1, 5, 2**41]}))
    found = engine.cell_causes("l", "r", ["id"], {"v": CauseRule("integer")}, TOL, 5, 3)
    assert found["v"].extremes == {"other": (float(-(2**40)), 3.0, 5.0, float(2**41))}
