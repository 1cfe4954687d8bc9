"""`cell_causes`, `finite_ranges`, `round_trip_changes`: stage 2's diagnosis questions, the same
answer on every engine, against hand computations and numpy/pyarrow."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from mlcheck.engines import AggregateEngine
from mlcheck.engines.base import Tolerance
from mlcheck.engines.causes import CauseRule, Clip, FiniteRange
from mlcheck.feature_compare import _linear_quantiles, _median_without

Register = Callable[[str, pa.Table], str]
INF, NAN = float("inf"), float("nan")
TOL = Tolerance(rtol=1e-7, atol=1e-9)


def _pairs() -> tuple[pa.Table, pa.Table]:
    """Ids 1..12 (production in reverse order). Column x, by id:
    1 equal; 2 research null -> production 0.0 (filled); 3 research 5.0 -> null (emptied);
    4 null vs NaN (nulls); 5 6.0 -> +inf (inf_introduced); 6 -inf -> 1.0 (inf_removed);
    7 +inf -> -inf (inf_flipped); 8 within rtol (within); 9 3e-7 relative (precision at
    float32 scale); 10 and 11 production 0.0 where research 7.0 and 8.0; 12 10.0 -> 20.0.
    Text column s: id 2 null in research (filled), id 3 null in production (emptied), id 4 changed.
    """
    ids = list(range(1, 13))
    x_left = [1.0, None, 5.0, None, 6.0, -INF, INF, 2.0, 3.0, 7.0, 8.0, 10.0]
    x_right = [
        1.0,
        0.0,
        None,
        NAN,
        INF,
        1.0,
        -INF,
        2.0 * (1 + 1e-9),
        3.0 * (1 + 3e-7),
        0.0,
        0.0,
        20.0,
    ]
    s_left = ["a", None, "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]
    s_right = ["a", "b", None, "D", "e", "f", "g", "h", "i", "j", "k", "l"]
    left = pa.table({"id": ids, "x": x_left, "s": s_left})
    right = pa.table({"id": ids, "x": x_right, "s": s_right}).take(pa.array(range(11, -1, -1)))
    return left, right


def _rules(**extra: object) -> dict[str, CauseRule]:
    return {"x": CauseRule("float", precision_rtol=1e-6, **extra), "s": CauseRule("text")}  # type: ignore[arg-type]


def test_every_cause_counted_with_examples_by_key(
    engine: AggregateEngine, register: Register
) -> None:
    left, right = _pairs()
    register("l", left)
    register("r", right)
    found = engine.cell_causes("l", "r", ["id"], _rules(), TOL, 10, 3)
    x = found["x"]
    assert dict(x.counts) == {
        "filled": 1, "emptied": 1, "nulls": 1, "inf_introduced": 1, "inf_removed": 1,
        "inf_flipped": 1, "within": 1, "precision": 1, "other": 3,
    }  # fmt: skip
    causes_by_key = [(e["key"], e["cause"]) for e in x.examples]
    assert causes_by_key == [
        (2, "filled"), (3, "emptied"), (4, "nulls"), (5, "inf_introduced"), (6, "inf_removed"),
        (7, "inf_flipped"), (9, "precision"), (10, "other"), (11, "other"), (12, "other"),
    ]  # fmt: skip
    assert x.examples[0] == {"key": 2, "research": None, "production": 0.0, "cause": "filled"}
    # the largest |a - b| over differing non-null pairs is an infinity's; relative: 10 -> 20
    relative = [abs(a - b) / max(abs(a), abs(b)) for a, b in ((10.0, 20.0), (7.0, 0.0))]
    assert x.max_abs_diff == INF and x.max_rel_diff == max(relative)
    assert x.max_rel["precision"] == pytest.approx(3e-7 / (1 + 3e-7), rel=1e-6)
    # production's values in the unexplained cells: 0.0 twice, 20.0 once (ties by value)
    assert x.values["other"]["production"] == (2, ((0.0, 2), (20.0, 1)))
    assert x.values["other"]["research"] == (3, ((7.0, 1), (8.0, 1), (10.0, 1)))
    assert x.values["filled"]["production"] == (1, ((0.0, 1),))
    s = found["s"]
    assert dict(s.counts) == {"filled": 1, "emptied": 1, "other": 1}
    assert [e["key"] for e in s.examples] == [2, 3, 4] and s.max_abs_diff is None


def test_clip_and_fill_rules_take_their_cells(engine: AggregateEngine, register: Register) -> None:
    """With production's fill value 0.0 given, ids 10 and 11 become `refilled`; with a clip at
    research's max 10.0 (tails from 9.0), id 12 (10.0 vs 20.0) is `clipped_high`."""
    left, right = _pairs()
    register("l", left)
    register("r", right)
    clip = Clip(low_tail=-5.0, high_tail=9.0, research_min=-5.0, research_max=10.0,
                production_min=-5.0, production_max=30.0)  # fmt: skip
    found = engine.cell_causes("l", "r", ["id"], _rules(clip=clip, fill=(1, 0.0)), TOL, 10, 3)
    counts = found["x"].counts
    assert (counts["refilled"], counts["clipped_high"], counts.get("other", 0)) == (2, 1, 0)


def test_only_pairs_unique_and_non_null_on_both_sides(
    engine: AggregateEngine, register: Register
) -> None:
    """Id 2 twice on the right and a null id on the left: only ids 1 and 3 pair (3 differs)."""
    register("l", pa.table({"id": [1, 2, 3, None], "v": [1, 2, 3, 4]}))
    register("r", pa.table({"id": [1, 2, 2, 3], "v": [1, 9, 9, 4]}))
    found = engine.cell_causes("l", "r", ["id"], {"v": CauseRule("integer")}, TOL, 5, 3)
    assert dict(found["v"].counts) == {"other": 1}
    assert found["v"].examples == ({"key": 3, "research": 3, "production": 4, "cause": "other"},)


def test_finite_ranges_match_numpy(engine: AggregateEngine, register: Register) -> None:
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=200), 1)
    x[[0, 5]] = INF
    x[7] = -INF
    x[9] = NAN
    table = pa.table({"x": pa.array(x), "n": pa.array([None] * 200, pa.float64())})
    register("t", table)
    found = engine.finite_ranges("t", ["x", "n"])
    finite = x[np.isfinite(x)]
    assert found["x"] == FiniteRange(
        float(finite.min()), float(finite.max()), int((finite == finite.min()).sum()),
        int((finite == finite.max()).sum()), len(finite), 2, 1,
    )  # fmt: skip
    assert found["n"] == FiniteRange(None, None, 0, 0, 0, 0, 0)


def test_round_trip_changes_match_a_pyarrow_cast(
    engine: AggregateEngine, register: Register
) -> None:
    """float64 values of which 2 are not float32 numbers (0.1, 1/3); int64 values of which 1
    is beyond int32; a column that fits: 0 changes."""
    f = pa.array([0.5, 0.1, 1 / 3, None, 2.0, NAN])
    i = pa.array([1, 2**40, -3, None], pa.int64())
    register("t", pa.table({"f": f, "i": pa.concat_arrays([i, pa.array([4, 5], pa.int64())])}))
    found = engine.round_trip_changes("t", {"f": pa.float32(), "i": pa.int32()})
    back = f.cast(pa.float32()).cast(pa.float64())
    expected = int(pc.sum(pc.and_(pc.not_equal(f, back), pc.invert(pc.is_nan(f)))).as_py())
    assert found == {"f": expected, "i": 1} and expected == 2


def test_quantiles_by_elements_equal_numpy_digit_for_digit(
    engine: AggregateEngine, register: Register
) -> None:
    """Linear quantiles and a median without some rows, rebuilt from exact elements asked past
    the infinities, equal numpy's on the finite values."""
    rng = np.random.default_rng(7)
    x = rng.lognormal(size=997) * 1000
    x[:3] = [INF, -INF, -INF]
    y = rng.normal(size=997)
    register("t", pa.table({"x": x, "y": y}))
    found = engine.finite_ranges("t", ["x", "y"])
    ranges = found["x"]
    finite = x[np.isfinite(x)]
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    assert _linear_quantiles(engine, "t", found, levels) == {
        "x": tuple(np.quantile(finite, levels)),
        "y": tuple(np.quantile(y, levels)),
    }
    v = float(np.sort(finite)[400])
    assert _median_without(engine, "t", "x", ranges, v, 1) == float(
        np.median(np.delete(finite, np.flatnonzero(finite == v)[:1]))
    )
