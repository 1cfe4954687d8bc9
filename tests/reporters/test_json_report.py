"""The JSON report: the spec's exact shape, always-valid JSON, deterministic apart from timings."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from mlcheck.reporters import json_report
from mlcheck.results import CheckResult, RunResult, StageResult, Status


def _strict_loads(text: str) -> object:
    def reject(name: str) -> object:
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=reject)


def test_shape_is_exactly_the_spec(full_result: RunResult) -> None:
    data = _strict_loads(json_report.render(full_result))
    assert isinstance(data, dict)
    assert list(data) == [
        "schema_version",
        "mlcheck_version",
        "checklist",
        "verdict",
        "stopped_at",
        "duration_s",
        "stages",
    ]
    assert (
        data["schema_version"] == 1
        and data["verdict"] == "not_ready"
        and data["stopped_at"] is None
    )
    stage = data["stages"][2]
    assert list(stage) == ["id", "status", "duration_s", "reason", "checks"]
    assert list(stage["checks"][0]) == [
        "id",
        "title",
        "status",
        "source",
        "column",
        "message",
        "hint",
        "observed",
        "expected",
        "threshold",
        "details",
    ]
    assert [s["id"] for s in data["stages"]] == [s.id for s in full_result.stages]


def test_nan_and_infinities_become_strings_not_invalid_json(full_result: RunResult) -> None:
    data = _strict_loads(json_report.render(full_result))
    assert isinstance(data, dict)
    fail, infinite = data["stages"][2]["checks"][:2]
    assert fail["observed"] == "NaN"
    assert (infinite["observed"], infinite["threshold"]) == ("inf", "-inf")
    assert infinite["details"] == {"ratio": ["inf", "-inf", "NaN"]}


def test_numpy_arrow_and_datetime_values_serialise() -> None:
    details = {
        "count": np.int64(3),
        "share": np.float32(0.5),
        "flag": np.bool_(True),
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "scalar": pa.scalar(7),
        "array": np.array([1.0, np.nan, np.inf]),
        "keys": {3, 1, 2},
    }
    check = CheckResult(
        "RAW001", "t", Status.WARN, "m", observed=np.float64(-math.inf), details=details
    )
    result = RunResult(
        "c.yaml",
        None,
        "ready",
        None,
        0.0,
        (StageResult("data_reproducibility", Status.WARN, 0.0, None, (check,)),),
    )
    data = _strict_loads(json_report.render(result))
    assert isinstance(data, dict)
    out = data["stages"][0]["checks"][0]
    assert out["observed"] == "-inf"
    assert out["details"] == {
        "count": 3,
        "share": 0.5,
        "flag": True,
        "when": "2024-01-02T03:04:05+00:00",
        "scalar": 7,
        "array": [1.0, "NaN", "inf"],
        "keys": [1, 2, 3],
    }


def test_same_result_with_other_timings_renders_byte_identical(full_result: RunResult) -> None:
    slower = dataclasses.replace(
        full_result,
        duration_s=99.0,
        stages=tuple(
            dataclasses.replace(s, duration_s=s.duration_s + 1.234) for s in full_result.stages
        ),
    )
    assert json_report.render(full_result) != json_report.render(slower)
    assert json_report.render(full_result, timings=False) == json_report.render(
        slower, timings=False
    )


@pytest.mark.parametrize("fixture", ["full_result", "stopped_result", "ready_result"])
def test_output_is_utf8_text_ending_in_a_newline(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    text = json_report.render(request.getfixturevalue(fixture))
    assert text.endswith("}\n")
    text.encode("utf-8")  # raises on lone surrogates
