"""JSON report in the spec's shape (SPEC section 5). Byte-identical across runs apart from timings.

`RunResult.to_dict` already turns every value into plain JSON (NaN and infinities become the
strings "NaN", "inf", "-inf"); `allow_nan=False` makes any slip a loud bug instead of invalid JSON.
"""

from __future__ import annotations

import json
from typing import Any

from mlcheck.results import RunResult


def render(result: RunResult, *, timings: bool = True, **_: object) -> str:
    """The report as indented UTF-8 JSON text; `timings=False` zeroes every duration."""
    data = result.to_dict()
    if not timings:
        _zero_timings(data)
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _zero_timings(data: dict[str, Any]) -> None:
    data["duration_s"] = 0.0
    for stage in data["stages"]:
        stage["duration_s"] = 0.0
