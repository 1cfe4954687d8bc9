"""JSON report in the spec's shape (SPEC section 5). Byte-identical across runs apart from timings."""

from __future__ import annotations

import json

from mlcheck.results import RunResult


def render(result: RunResult, *, timings: bool = True, **_: object) -> str:
    data = result.to_dict()
    if not timings:
        data["duration_s"] = 0.0
        for stage in data["stages"]:
            stage["duration_s"] = 0.0
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
