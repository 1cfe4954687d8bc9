"""Stage 5's row-path checks read parquet columns one at a time (issue 14, memory at ten
million rows): the same findings as when every table is read whole, and no whole table read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from test_performance_drop import context, live_of, run, write_scenario

from mlcheck.engine import LocalEngine
from mlcheck.results import to_jsonable


@pytest.mark.parametrize(
    ("check", "live"),
    [
        ("PERF003", {"x1_shift": 0.6}),
        ("PERF004", {"intercept": 0.5}),
        ("PERF006", {"x2_effect": -1.0}),
        ("PERF006", {}),
    ],
)
def test_row_path_checks_read_no_whole_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, check: str, live: dict[str, Any]
) -> None:
    """Stage 5's row-path checks (score, label and target-rate drift), which still read
    columns, read them one at a time from parquet: the same findings as from whole tables
    (the scenarios of tests/stages/test_performance_drop.py: shifted scores fire PERF003, a
    moved base rate PERF004, x2's flipped effect PERF006; no defect keeps PERF006 quiet)."""
    path = write_scenario(tmp_path, live_of(**live), labelled=1.0)
    held = context(path)
    for slot in [
        "research.features",
        "research.splits",
        "research.predictions",
        "research.labels",
        "production.live.features",
        "production.live.predictions",
        "production.live.labels",
    ]:
        held.engine.table(slot)  # every table read whole first: the old way
    expected = json.dumps(to_jsonable([f.__dict__ for f in run(check, held)]), sort_keys=True)

    def refuse(self: LocalEngine, slot: str) -> pa.Table:
        raise AssertionError(f"the whole table of {slot} was read")

    monkeypatch.setattr(LocalEngine, "table", refuse)
    found = run(check, context(path))
    assert json.dumps(to_jsonable([f.__dict__ for f in found]), sort_keys=True) == expected
    assert {f.status.value for f in found} == ({"warn"} if live else {"pass"})
