"""JSON conversion of result values: always valid JSON, deterministic, numpy-safe."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np

from mlcheck.results import Status, to_jsonable, worst


def test_non_finite_floats_become_strings_so_json_stays_valid() -> None:
    values = {"nan": float("nan"), "inf": np.inf, "ninf": -np.float32("inf")}
    out = to_jsonable(values)
    assert out == {"nan": "NaN", "inf": "inf", "ninf": "-inf"}
    json.dumps(out, allow_nan=False)


def test_numpy_scalars_and_zero_dimensional_arrays_become_plain_values() -> None:
    out = to_jsonable(
        {"a": np.int32(3), "b": np.array(2.5), "c": np.bool_(True), "d": np.arange(3)}
    )
    assert out == {"a": 3, "b": 2.5, "c": True, "d": [0, 1, 2]}


def test_floats_are_rounded_to_twelve_significant_digits() -> None:
    assert to_jsonable(0.1 + 0.2) == 0.3
    assert to_jsonable(1 / 3) == 0.333333333333


def test_sets_are_sorted_and_datetimes_iso() -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert to_jsonable({"s": {"b", "a"}, "t": stamp}) == {
        "s": ["a", "b"],
        "t": "2026-01-02T03:04:05+00:00",
    }


def test_worst_status_orders_error_above_fail_above_warn() -> None:
    assert worst([Status.PASS, Status.WARN]) is Status.WARN
    assert worst([Status.FAIL, Status.ERROR, Status.WARN]) is Status.ERROR
    assert worst([]) is Status.PASS
