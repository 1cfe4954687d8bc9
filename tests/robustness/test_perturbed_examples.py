"""Examples hypothesis found in test_properties.py::test_run_with_perturbed_tables, kept as fixed
cases so they run on every seed. Each ran the whole project with --keep-going and crashed
checks (exit 3); each now completes with the exit code its data dictates and no crash."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
from robustness_support import Outcome, Project


def _crashed(outcome: Outcome) -> list[str]:
    return [c["id"] for c in outcome.checks() if c["status"] == "error"]


def test_three_live_rows_and_an_unnamed_production_key(
    project: Project, run_cli: Callable[..., Outcome]
) -> None:
    """Defect: live features keep 3 rows; production features' key column is renamed "" (the
    shrunk example: FEAT001-FEAT012 crashed on DuckDB's `zero-length delimited identifier`)."""
    live = project.table("live/features.parquet")
    project.files["live/features.parquet"] = live.take(pa.array([0, 1, 2]))
    production = project.table("production/features.parquet")
    assert production.column_names[0] == "application_id"
    renamed = production.rename_columns(["", *production.column_names[1:]])
    project.files["production/features.parquet"] = renamed
    outcome = run_cli(project.write(), "--keep-going")
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.code == 1, (outcome.code, outcome.stderr)
    assert _crashed(outcome) == []
    feat001 = [c for c in outcome.checks() if c["id"] == "FEAT001" and c["status"] == "fail"]
    assert any("missing from production: application_id" in c["message"] for c in feat001)
