"""Column names DuckDB cannot tell apart (`bureau_score` and `BUREAU_SCORE` in the raw bureau
tables): the engine refuses the table (engines/duck.py), and stage 1 compares it in memory
instead of answering for the wrong column (the fold of both names crashed every check, exit 3)."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow.compute as pc
from robustness_support import Outcome, Project


def _stage1(project: Project, run_cli: Callable[..., Outcome], shift: float) -> Outcome:
    """Both bureau tables gain BUREAU_SCORE = bureau_score, plus `shift` in production."""
    for side in ("research", "production"):
        name = f"{side}/raw/bureau.parquet"
        table = project.table(name)
        moved = pc.add(table["bureau_score"], shift if side == "production" else 0)
        project.files[name] = table.append_column("BUREAU_SCORE", moved)
    return run_cli(project.write(), "--only", "data_reproducibility")


def test_a_column_differing_only_in_case_is_compared_as_itself(
    project: Project, run_cli: Callable[..., Outcome]
) -> None:
    """Defect: production's BUREAU_SCORE is 1000 higher; bureau_score is unchanged."""
    outcome = _stage1(project, run_cli, 1000)
    assert outcome.code == 1, outcome.stderr
    checks = [c for c in outcome.checks() if c["source"] == "bureau"]
    assert not [c for c in checks if c["status"] == "error"]
    raw010 = next(c for c in checks if c["id"] == "RAW010")
    assert raw010["status"] == "fail" and "1000 of 1000 cells" in raw010["message"]
    raw001 = next(c for c in checks if c["id"] == "RAW001")
    assert raw001["message"] == "declared on both sides (1000 and 1000 rows)"


def test_the_same_columns_pass(project: Project, run_cli: Callable[..., Outcome]) -> None:
    """No defect: BUREAU_SCORE equal on both sides."""
    outcome = _stage1(project, run_cli, 0)
    assert outcome.code == 0, (outcome.stderr, outcome.stdout[-2000:])
