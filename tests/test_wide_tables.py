"""Wide, short tables (thousands of columns, few rows): per-column work stays linear.

Reading `pyarrow.Table.column_names` builds a new list of every name; reading it once per column
(in a membership test or a lookup) made stages 1-2 quadratic in the column count (20 rows x
5,000 columns took 75 s). The guard counts how often mlcheck's own code reads `column_names`
(an attribute load seen by opcode tracing) while stages 1 and 2 run on 40 and on 80 columns:
the count must not grow with the width. Speed itself is measured by benchmarks/wide.py.
"""

from __future__ import annotations

import dis
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import mlcheck
import mlcheck.engine
from mlcheck.checklist import load_checklist
from mlcheck.results import Status
from mlcheck.runner import RunOptions, run_checklist

PACKAGE = str(Path(mlcheck.__file__).parent)


def _wide_project(folder: Path, cols: int) -> Path:
    """`cols` float columns x 5 rows; production reversed, column c0 has one changed cell,
    research's last column is renamed in production (found by RAW002 as a rename)."""
    values = np.random.default_rng(cols).normal(size=(cols, 5))
    research = pa.table({"id": np.arange(5)} | {f"c{i}": values[i] for i in range(cols)})
    production = research.take([4, 3, 2, 1, 0])
    changed = production["c0"].to_numpy().copy()
    changed[0] += 1.0
    production = production.set_column(1, "c0", pa.array(changed))
    names = production.column_names
    production = production.rename_columns([*names[:-1], f"renamed_{names[-1]}"])
    doc: dict[str, Any] = {"version": 1, "key": "id"}
    for side, table in (("research", research), ("production", production)):
        pq.write_table(table, folder / f"{side}.parquet")
        doc[side] = {
            "raw": {"wide": {"path": f"{side}.parquet"}},
            "features": {"path": f"{side}.parquet"},
        }
    (folder / "wide.yaml").write_text(yaml.safe_dump(doc))
    return folder / "wide.yaml"


def _loads_of(code: CodeType, attribute: str) -> set[int]:
    """Bytecode offsets in `code` that load `attribute`."""
    return {
        i.offset for i in dis.get_instructions(code) if i.argval == attribute and "ATTR" in i.opname
    }


@contextmanager
def _attribute_loads(attribute: str) -> Iterator[list[int]]:
    """Count, in mlcheck's own frames, the executed opcodes that load `attribute`."""
    count = [0]
    offsets: dict[CodeType, set[int]] = {}

    def on_opcode(frame: FrameType, event: str, _: object) -> Any:
        if event == "opcode" and frame.f_lasti in offsets[frame.f_code]:
            count[0] += 1
        return on_opcode

    def on_call(frame: FrameType, event: str, _: object) -> Any:
        if not frame.f_code.co_filename.startswith(PACKAGE):
            return None
        if frame.f_code not in offsets:
            offsets[frame.f_code] = _loads_of(frame.f_code, attribute)
        if not offsets[frame.f_code]:
            return None
        frame.f_trace_opcodes = True
        return on_opcode

    sys.settrace(on_call)
    try:
        yield count
    finally:
        sys.settrace(None)


def _column_name_reads(folder: Path, cols: int) -> int:
    checklist = load_checklist(_wide_project(folder, cols))
    options = RunOptions(keep_going=True, only=("data_reproducibility", "feature_parity"))
    with _attribute_loads("column_names") as count:
        result = run_checklist(checklist, options)
    stages = {s.id: s for s in result.stages}
    assert stages["data_reproducibility"].status is Status.FAIL  # c0's cell and the rename
    renamed = [c for c in stages["data_reproducibility"].checks if c.id == "RAW002"]
    assert any("renamed_" in c.message for c in renamed), [c.message for c in renamed]
    return count[0]


def test_column_name_lists_are_not_rebuilt_per_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mlcheck.engine, "WORKERS", 1)  # one thread: the tracer sees every frame
    narrow, wide = tmp_path / "narrow", tmp_path / "wide"
    narrow.mkdir()
    wide.mkdir()
    reads = _column_name_reads(narrow, 40), _column_name_reads(wide, 80)
    assert reads[0] == reads[1], (
        f"column_names read {reads[0]} times at 40 columns, {reads[1]} at 80"
    )
