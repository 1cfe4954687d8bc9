"""Choosing the engine from the command line and the checklist, in real CLI processes: Spark
gives DuckDB's JSON, a missing pyspark is a usage error with the install command, and the
settings (memory limit, Spark master and conf) reach the engine."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlcheck.checklist import load_checklist
from mlcheck.engine import settings_of
from mlcheck.engines import EngineSettings, make_engine
from mlcheck.engines.base import default_memory_limit

ROOT = Path(__file__).resolve().parents[2]
CREDIT = ROOT / "checklists" / "credit.yaml"


def run_cli(*args: str, pythonpath: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    if pythonpath is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            p for p in (pythonpath, os.environ.get("PYTHONPATH")) if p
        )
    return subprocess.run(
        [sys.executable, "-m", "mlcheck", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=560,
        check=False,
    )


def without_durations(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_durations(v) for k, v in value.items() if k != "duration_s"}
    if isinstance(value, list):
        return [without_durations(v) for v in value]
    return value


@pytest.mark.spark
def test_credit_on_spark_gives_duckdbs_json() -> None:
    """The command line's Spark: its own session (`local[*]`, local defaults) and DuckDB's JSON.
    One stage: every stage of every bundled checklist is held to DuckDB's JSON in-process by
    test_engine_parity.py; a whole run here would repeat it in a cold JVM (two minutes)."""
    if importlib.util.find_spec("pyspark") is None or not shutil.which("java"):
        pytest.skip("needs pyspark and java")
    stage = ("--only", "feature_parity")
    duck = run_cli("run", str(CREDIT), *stage, "--engine", "duckdb", "-f", "json", "-q")
    spark = run_cli("run", str(CREDIT), *stage, "--engine", "spark", "-f", "json", "-q")
    assert duck.returncode == spark.returncode, spark.stderr[-2000:]
    assert duck.returncode in (0, 1), duck.stderr[-2000:]
    assert without_durations(json.loads(spark.stdout)) == without_durations(json.loads(duck.stdout))


def test_spark_without_pyspark_is_a_usage_error(tmp_path: Path) -> None:
    """pyspark hidden by a sitecustomize on PYTHONPATH (None in sys.modules: not importable)."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nsys.modules['pyspark'] = None\n", encoding="utf-8"
    )
    done = run_cli("run", str(CREDIT), "--engine", "spark", "-q", pythonpath=str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "pip install 'mlcheck[spark]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_spark_master_goes_with_the_spark_engine() -> None:
    done = run_cli("run", str(CREDIT), "--engine", "duckdb", "--spark-master", "local[1]")
    assert done.returncode == 2 and "--spark-master goes with --engine spark" in done.stderr


def test_command_line_wins_over_the_checklist(tmp_path: Path) -> None:
    text = CREDIT.read_text(encoding="utf-8") + (
        "\nengine:\n  name: spark\n  memory_limit: 2GB\n"
        "  spark: {master: 'local[2]', conf: {spark.sql.shuffle.partitions: '4'}}\n"
    )
    checklist_path = tmp_path / "credit.yaml"
    checklist_path.write_text(text.replace("path: ", f"path: {CREDIT.parent}/"), "utf-8")
    checklist = load_checklist(checklist_path)
    assert settings_of(checklist) == EngineSettings(
        "spark", "2GB", spark_master="local[2]", spark_conf=(("spark.sql.shuffle.partitions", "4"),)
    )
    chosen = settings_of(checklist, EngineSettings("duckdb", memory_limit="1GB"))
    assert (chosen.name, chosen.memory_limit, chosen.spark_master) == ("duckdb", "1GB", "local[2]")


def test_duckdb_takes_most_of_the_memory_by_default() -> None:
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = default_memory_limit()
    assert limit is not None and limit.endswith("MiB")
    assert 0.5 * total / 2**20 <= int(limit[:-3]) <= 0.8 * total / 2**20 + 1
    engine = make_engine(EngineSettings("duckdb", threads=1))
    found = engine._rows("SELECT current_setting('memory_limit')")[0][0]  # type: ignore[attr-defined]
    assert found.endswith("GiB") and float(found[:-4]) == pytest.approx(
        int(limit[:-3]) / 1024, 0.02
    )


@pytest.mark.spark
def test_checklist_spark_conf_reaches_the_session(spark_session: Any) -> None:
    """`engine.spark.conf` is set on the session (here the suite's session, which getOrCreate
    returns; a runtime setting so it applies to a running session too)."""
    settings = EngineSettings(
        "spark", spark_conf=(("spark.sql.shuffle.partitions", "1"), ("spark.mlcheck.probe", "yes"))
    )
    engine = make_engine(settings)
    assert engine._spark.conf.get("spark.mlcheck.probe") == "yes"  # type: ignore[attr-defined]


def test_spark_remote_is_honoured() -> None:
    """SPARK_REMOTE makes the engine a Spark Connect client; without the Connect extras (as
    here) that is a usage error naming them, in a fresh process (the session builder is shared
    process-wide, so this test does not touch the suite's)."""
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("needs pyspark")
    if importlib.util.find_spec("grpc") is not None:
        pytest.skip("Spark Connect is installed here: SPARK_REMOTE would be dialled")
    code = (
        "from mlcheck.engines import EngineSettings, Unsupported, make_engine\n"
        "try:\n    make_engine(EngineSettings('spark'))\n"
        "except Unsupported as exc:\n    print(exc)\n"
    )
    env = {**os.environ, "SPARK_REMOTE": "sc://localhost:1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert "SPARK_REMOTE is set" in done.stdout and "pyspark[connect]" in done.stdout, done
