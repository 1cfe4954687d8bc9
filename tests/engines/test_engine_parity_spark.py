"""SPEC 7.1 parity, Spark's second half: the other half of the bundled checklists' whole runs
on Spark against the DuckDB snapshots (the first half and the snapshots themselves are in
test_engine_parity.py). A file of its own, so that xdist's `--dist loadfile` runs the two
halves on two workers instead of every Spark run on one."""

from __future__ import annotations

from typing import Any

import pytest
from test_engine_parity import SPARK_HALVES, spark_report_matches


@pytest.mark.spark
@pytest.mark.parametrize("checklist", SPARK_HALVES[1])
def test_spark_report_is_the_duckdb_report(checklist: str, spark_session: Any) -> None:
    spark_report_matches(checklist, spark_session)
