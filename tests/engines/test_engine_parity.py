"""SPEC 7.1 parity: every bundled checklist (the sample and every broken one), run to the end
(`--keep-going`), gives the same JSON on every engine this machine has, apart from durations.

The DuckDB runs are also held to snapshots in tests/golden/keep_going/, so a change of any
stage's findings shows as a diff there (regenerate on purpose with `MLCHECK_UPDATE_GOLDEN=1`
and read it). The Spark runs share the test session (`-m spark`); half of them run from
test_engine_parity_spark.py, so that xdist (`--dist loadfile`) gives each worker one half.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from mlcheck.checklist import load_checklist
from mlcheck.reporters import render
from mlcheck.runner import RunOptions, run_checklist

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "keep_going"
UPDATE = os.environ.get("MLCHECK_UPDATE_GOLDEN") == "1"
CHECKLISTS = ["checklists/credit.yaml"] + [
    f"checklists/broken/{p.name}" for p in sorted((ROOT / "checklists" / "broken").glob("*.yaml"))
]


def report(checklist: str, aggregate: Any = None) -> str:
    """The JSON report of a whole run (every stage), durations zeroed."""
    loaded = load_checklist(ROOT / checklist)
    result = run_checklist(loaded, RunOptions(keep_going=True), aggregate=aggregate)
    return render(dataclasses.replace(result, checklist=checklist), "json", timings=False)


def golden_name(checklist: str) -> str:
    return checklist.removeprefix("checklists/").replace("/", "_").replace(".yaml", ".json")


# The Spark runs in two halves, one a test file (a file runs whole on one xdist worker): every
# other checklist, since each whole run costs about the same (110-175 s each at load 20; the
# halves 516 and 560 s, where all eight on one worker were the suite's longest path).
SPARK_HALVES = (CHECKLISTS[0::2], CHECKLISTS[1::2])


def spark_report_matches(checklist: str, session: Any) -> None:
    """The Spark engine's whole-run JSON is the DuckDB snapshot, digit for digit."""
    from mlcheck.engines.spark import SparkEngine

    engine = SparkEngine(session=session)
    try:
        actual = report(checklist, aggregate=engine)
    finally:
        engine.close()
    assert actual == (GOLDEN / golden_name(checklist)).read_text(encoding="utf-8")


@pytest.mark.parametrize("checklist", CHECKLISTS)
def test_duckdb_report_matches_its_snapshot(checklist: str) -> None:
    actual, path = report(checklist), GOLDEN / golden_name(checklist)
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run MLCHECK_UPDATE_GOLDEN=1 pytest {__file__}"
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.spark
@pytest.mark.parametrize("checklist", SPARK_HALVES[0])
def test_spark_report_is_the_duckdb_report(checklist: str, spark_session: Any) -> None:
    spark_report_matches(checklist, spark_session)


def test_every_snapshot_is_checked() -> None:
    assert {p.name for p in GOLDEN.glob("*.json")} == {golden_name(c) for c in CHECKLISTS}


def test_the_spark_halves_hold_every_checklist_once() -> None:
    first, second = SPARK_HALVES
    assert sorted(first + second) == sorted(CHECKLISTS) and not set(first) & set(second)
    assert first and second
