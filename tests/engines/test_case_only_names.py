"""Names differing only in case (`age` and `AGE` in one table) in whole runs on both engines:
DuckDB binds identifiers ignoring case and Spark does by default, so each engine must keep such
columns apart. The oracle is the same checklist with the twin named `AGE_TWIN`: its report, with
that name spelled `AGE`, must be the report of the cased run (apart from durations and the
tables' fingerprints, which hash the column names). DuckDB's runs are real CLI processes;
Spark's run is in-process on the suite's warm session (its stages still ask from the runner's
threads, where the case-sensitive session must be made active): a CLI process would start a
cold JVM for a minute more, and test_engine_cli.py runs Spark from the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from mlcheck.checklist import load_checklist
from mlcheck.reporters import render
from mlcheck.runner import RunOptions, exit_code, run_checklist

ROOT = Path(__file__).resolve().parents[2]
CREDIT = ROOT / "sample_data" / "credit"
CASED, DISTINCT = "AGE", "AGE_TWIN"


def twin(table: pa.Table, name: str, source: str, changed: int) -> pa.Table:
    """`table` with a column `name`: `source` + 1, its first `changed` values + 100 more (the
    production side differs there, the research side has changed = 0)."""
    values = pc.add(table.column(source).cast(pa.float64()), 1.0).to_numpy().copy()
    values[:changed] += 100.0
    return table.append_column(name, pa.array(values))


def dataset(folder: Path, name: str) -> Path:
    """The credit example with a twin of `age` called `name` in the raw applications (csv),
    the features (parquet, both sides and live); production's twin differs in a few cells.
    Defects: 3 raw and 5 feature cells of the twin differ between research and production."""
    shutil.copytree(CREDIT / "research", folder / "research")
    shutil.copytree(CREDIT / "production", folder / "production")
    shutil.copytree(CREDIT / "live", folder / "live")
    for side, changed in (("research", (0, 0)), ("production", (3, 5))):
        raw = folder / side / "raw" / "applications.csv"
        pcsv.write_csv(twin(pcsv.read_csv(raw), name, "age", changed[0]), raw)
        features = folder / side / "features.parquet"
        pq.write_table(twin(pq.read_table(features), name, "age", changed[1]), features)
    live = folder / "live" / "features.parquet"
    pq.write_table(twin(pq.read_table(live), name, "age", 0), live)
    text = (ROOT / "checklists" / "credit.yaml").read_text(encoding="utf-8")
    checklist = folder / "checklist.yaml"
    checklist.write_text(text.replace("../sample_data/credit/", ""), encoding="utf-8")
    return checklist


def report(checklist: Path, engine: str) -> tuple[int, str, dict[str, Any]]:
    """Exit code, stderr and JSON report (durations, fingerprints dropped) of a real CLI run."""
    command = ["run", checklist.name, "--engine", engine, "--keep-going", "-f", "json", "-q"]
    done = subprocess.run(
        [sys.executable, "-m", "mlcheck", *command],
        capture_output=True,
        text=True,
        cwd=checklist.parent,
        env=dict(os.environ),
        timeout=560,
        check=False,
    )
    found = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, done.stderr[-2000:], comparable(found)


def comparable(value: Any) -> Any:
    """`value` without durations and fingerprints (a hash of names and values)."""
    if isinstance(value, dict):
        return {
            k: comparable(v)
            for k, v in value.items()
            if k != "duration_s" and not k.endswith("_fingerprint")
        }
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


@pytest.fixture(scope="module")
def distinct_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The oracle: the twin under a name no other column shares, then spelled `AGE`."""
    checklist = dataset(tmp_path_factory.mktemp("distinct"), DISTINCT)
    code, stderr, found = report(checklist, "duckdb")
    assert code == 1, stderr  # the twin's differing cells fail stages 1 and 2
    return json.loads(json.dumps(found).replace(DISTINCT, CASED))


def test_the_oracle_reports_the_twin(distinct_report: dict[str, Any]) -> None:
    """The twin's differences are in the report, so a run confusing `age` and `AGE` differs."""
    text = json.dumps(distinct_report)
    assert f'"{CASED}"' in text
    stages = {s["id"]: s["status"] for s in distinct_report["stages"]}
    assert stages["data_reproducibility"] == "fail" and stages["feature_parity"] == "fail"


def test_cased_names_give_the_distinct_names_report(
    distinct_report: dict[str, Any], tmp_path: Path
) -> None:
    code, stderr, found = report(dataset(tmp_path, CASED), "duckdb")
    assert code == 1, stderr
    assert found == distinct_report


@pytest.mark.spark
def test_cased_names_on_spark_give_the_distinct_names_report(
    distinct_report: dict[str, Any],
    tmp_path: Path,
    spark_session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlcheck.engines.spark import SparkEngine

    checklist = dataset(tmp_path, CASED)
    monkeypatch.chdir(checklist.parent)  # the checklist named as the CLI run names it
    engine = SparkEngine(session=spark_session)
    try:
        result = run_checklist(
            load_checklist(Path(checklist.name)), RunOptions(keep_going=True), aggregate=engine
        )
    finally:
        engine.close()
    assert exit_code(result) == 1
    assert comparable(json.loads(render(result, "json"))) == distinct_report
