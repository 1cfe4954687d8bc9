"""PERF001 and PERF005 on grouped counts (SPEC 7.1): the aggregate engine counts research and
live rows per (chunk, score, decision, label), and the checks report exactly what reading the
columns row by row reports (the row path, still used where counts cannot serve)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_performance_drop import context, live_of, run, write_scenario

from mlcheck.engine import LocalEngine
from mlcheck.results import Finding, Status, to_jsonable
from mlcheck.stages import performance_drop as pd_stage

WEEKLY = {"chunk": {"every": "1w"}}


def as_json(findings: list[Finding]) -> str:
    """Findings as the JSON report writes them (12 significant digits)."""
    return json.dumps(to_jsonable([f.__dict__ for f in findings]), sort_keys=True)


def both_paths(
    path: Path, checks: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """The checks' findings from counts, then from rows (counting switched off)."""
    counted_ctx = context(path)
    assert pd_stage._counted(counted_ctx) is not None  # the counted path is the one taken
    counted = as_json([f for c in checks for f in run(c, counted_ctx)])
    with monkeypatch.context() as patch:
        patch.setattr(pd_stage, "_counted", lambda ctx: None)
        rows = as_json([f for c in checks for f in run(c, context(path))])
    return counted, rows


@pytest.mark.parametrize("metric", pd_stage.COUNTED_METRICS)
@pytest.mark.parametrize("chunk", [{"chunk": {"size": 700}}, WEEKLY], ids=["size", "weekly"])
def test_counted_findings_equal_the_row_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, metric: str, chunk: dict[str, Any]
) -> None:
    """Defect: live labels follow a weaker relation (strength 0.4), so PERF001 fails on the
    realized metric and PERF005 warns on calibration; labels (oldest 60%) and times live in
    other tables than the scores. Every number of both checks, window and chunks, matches."""
    path = write_scenario(
        tmp_path, live_of(strength=0.4), labelled=0.6, stage={"metric": metric, **chunk}
    )
    counted, rows = both_paths(path, ("PERF001", "PERF005"), monkeypatch)
    assert counted == rows
    perf001 = json.loads(counted)[0]
    assert perf001["status"] in ("fail", "warn") and perf001["details"]["chunks"]


def test_quiet_scenario_is_equal_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No defect: both checks pass, from counts as from rows."""
    path = write_scenario(tmp_path, live_of(), stage=WEEKLY)
    counted, rows = both_paths(path, ("PERF001", "PERF005"), monkeypatch)
    assert counted == rows
    assert [f["status"] for f in json.loads(counted)] == ["pass", "pass"]


def test_duplicate_and_missing_keys_are_matched_as_the_rows_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: live predictions repeat 50 keys (those rows get no label and no time: a key is
    matched only where it is unique on both sides) and the last 40 prediction rows have no
    feature row (no time: in no weekly chunk). Counts and rows agree on every number."""
    path = write_scenario(tmp_path, live_of(), labelled=0.7, stage=WEEKLY)
    predictions = pq.read_table(tmp_path / "live_predictions.parquet")
    ids = predictions.column("id").to_numpy().copy()
    ids[100:150] = ids[:50]
    pq.write_table(predictions.set_column(0, "id", pa.array(ids)), path.parent / "p.parquet")
    (tmp_path / "p.parquet").replace(tmp_path / "live_predictions.parquet")
    features = pq.read_table(tmp_path / "live_features.parquet")
    pq.write_table(features.slice(0, 2960), tmp_path / "live_features.parquet")
    counted, rows = both_paths(path, ("PERF001", "PERF005"), monkeypatch)
    assert counted == rows
    details = json.loads(counted)[0]["details"]
    assert details["n"] == 3000 and details["n_labelled"] == 2100 - 100
    assert sum(c["n"] for c in details["chunks"]) == 3000 - 40 - 100


def test_counted_checks_read_no_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PERF001 and PERF005 ask the aggregate engine only: reading a whole column or joining
    rows in memory would fail this run (registering a slot with the engine is the engine's
    business and allowed)."""
    path = write_scenario(tmp_path, live_of(strength=0.4), stage=WEEKLY)
    ctx = context(path)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a whole column was read: {args[1:]}")

    monkeypatch.setattr(LocalEngine, "column", refuse)
    monkeypatch.setattr(LocalEngine, "join", refuse)
    found = run("PERF001", ctx) + run("PERF005", ctx)
    assert [f.status for f in found] == [Status.FAIL, Status.WARN]


def test_rows_are_read_where_counts_cannot_serve(tmp_path: Path) -> None:
    """Text timestamps (parsed in Python), a row-bootstrap metric (its draws follow file order)
    and regression (the loss model learns from feature rows) keep the row path."""
    texts = write_scenario(tmp_path, live_of(), stage=WEEKLY)
    features = pq.read_table(tmp_path / "live_features.parquet")
    as_text = features.column("event_time").cast(pa.string())
    pq.write_table(
        features.set_column(4, "event_time", as_text), tmp_path / "live_features.parquet"
    )
    ctx = context(texts)
    assert pd_stage._counted(ctx) is None
    assert run("PERF001", ctx)[0].details["chunks"]
    bootstrap = context(write_scenario(tmp_path, live_of(), stage={"metric": "brier"}))
    assert not pd_stage._perf_data(bootstrap, pd_stage._metric(bootstrap)).counted
    rng = np.random.default_rng(0)
    research = {**live_of(seed=0), "y": rng.normal(size=3000)}
    regression = context(
        write_scenario(tmp_path, {**live_of(), "y": rng.normal(size=3000)}, research=research,
                       task="regression", stage={"metric": "rmse"})
    )  # fmt: skip
    assert not pd_stage._perf_data(regression, pd_stage._metric(regression)).counted
