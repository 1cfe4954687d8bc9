"""PERF002 per chunk, with chunks grouped by the engine: calendar weeks (the timestamp in live
features or in another live slot matched on the key) give the same per-chunk statistics as
scipy on the rows of each week. Scenarios from test_performance_drop.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_performance_drop import by_column, context, live_of, run, write_scenario

WEEK_S = 7 * 86400
MONDAY_1970_S = 4 * 86400


def _week_rows(n: int, start: str) -> dict[str, np.ndarray]:
    """Rows of each calendar week (Monday 00:00 UTC) of n rows one per 30 minutes."""
    seconds = np.datetime64(start, "s").astype(np.int64) + np.arange(n) * 1800
    weeks = (seconds - MONDAY_1970_S) // WEEK_S
    monday = lambda w: str(np.datetime64(int(w * WEEK_S + MONDAY_1970_S), "s"))  # noqa: E731
    return {monday(w): np.flatnonzero(weeks == w) for w in np.unique(weeks)}


def test_weekly_chunks_match_scipy_on_each_week(tmp_path: Path) -> None:
    """Defect: x1 moved by 0.4 sd from row 2000 on. Live rows start on a Wednesday, so the first
    week is short; each week's Wasserstein (in research sd) and n are scipy's on its rows."""
    from scipy import stats

    live = live_of()
    live["x1"][2000:] += 0.4
    start = "2025-01-08T13:00:00"
    path = write_scenario(tmp_path, live, stage={"chunk": {"every": "1w"}}, start=start)
    x1 = by_column(run("PERF002", context(path)))["x1"]
    train = pq.read_table(tmp_path / "research_features.parquet").column("x1").to_numpy()[:1800]
    weeks = _week_rows(len(live["x1"]), start)
    assert [c["start"] for c in x1.details["chunks"]] == list(weeks)
    for chunk, rows in zip(x1.details["chunks"], weeks.values(), strict=True):
        expected = stats.wasserstein_distance(train, live["x1"][rows]) / np.std(train, ddof=1)
        assert chunk["n"] == len(rows)
        assert chunk["statistic"] == pytest.approx(expected, rel=1e-9)
    assert x1.details["chunks"][0]["status"] == "pass"
    assert x1.details["chunks"][-1]["status"] == "warn"


def test_timestamp_from_another_live_slot_matched_on_the_key(tmp_path: Path) -> None:
    """The timestamp lives in live predictions, in another row order than live features:
    matched on the key, the weeks and their statistics are those of the timestamp in features."""
    live = live_of(x1_shift=0.3)
    path = write_scenario(tmp_path, live, stage={"chunk": {"every": "1w"}})
    in_features = by_column(run("PERF002", context(path)))
    features = pq.read_table(tmp_path / "live_features.parquet")
    predictions = pq.read_table(tmp_path / "live_predictions.parquet")
    times = features.select(["id", "event_time"])
    moved = predictions.join(times, "id").take(pc.sort_indices(predictions.column("score")))
    pq.write_table(moved, tmp_path / "live_predictions.parquet")
    pq.write_table(features.drop_columns(["event_time"]), tmp_path / "live_features.parquet")
    elsewhere = by_column(run("PERF002", context(path)))
    for name in ("x1", "x2", "cat"):
        assert elsewhere[name].details["chunks"] == in_features[name].details["chunks"]
    assert len(elsewhere["x1"].details["chunks"]) == 9


def test_categories_typed_differently_compare_as_text(tmp_path: Path) -> None:
    """No defect: research stores cat as text, live as a dictionary column of the same texts;
    the categories are the same, and nothing drifted."""
    path = write_scenario(tmp_path, live_of(), stage={"chunk": {"size": 1000}})
    table = pq.read_table(tmp_path / "live_features.parquet")
    index = table.schema.get_field_index("cat")
    encoded = table.set_column(index, "cat", pc.dictionary_encode(table.column("cat")))
    assert pa.types.is_dictionary(encoded.schema.field("cat").type)
    pq.write_table(encoded, tmp_path / "live_features.parquet")
    cat = by_column(run("PERF002", context(path)))["cat"]
    assert cat.details["kind"] == "categorical"
    assert cat.details["jensen_shannon"] < 0.05 and cat.status.value == "pass"
    assert [c["n"] for c in cat.details["chunks"]] == [1000, 1000, 1000]
