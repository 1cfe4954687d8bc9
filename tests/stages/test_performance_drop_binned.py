"""PERF006 from binned sums (SPEC 7.1): the engine groups labelled rows by a feature's bin and
sums the calibrated probability, and the residuals equal those of the row path (every feature
value, score and label read), on real data and on a fixture checked by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_performance_drop import _checklist, context, run
from test_performance_drop_counted import as_json

from mlcheck.engine import LocalEngine
from mlcheck.stages import performance_drop as pd_stage

PIXELS = ["p10", "p20", "p21", "p26", "p28", "p34", "p36", "p42", "p43", "p53"]


def write_tables(tmp_path: Path, tables: dict[str, pa.Table], columns: dict[str, Any]) -> Path:
    for name, table in tables.items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
    return _checklist(tmp_path, {"bins": 5}, columns, "binary")


def digits_project(tmp_path: Path) -> Path:
    """scikit-learn's digits (1,797 real 8x8 images; pixel intensities 0-16, many ties):
    y = digit >= 5, the score a logistic regression fitted on the research training rows.
    Research: the first 1,100 images (60% train, then test); live: the other 697, labelled.
    Pixel `band` as text is a categorical feature; a few live pixels are missing (null)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    images, digit = load_digits(return_X_y=True)
    y = (digit >= 5).astype(np.int64)
    n_r = 1100
    train = np.arange(len(y)) < 0.6 * n_r
    model = LogisticRegression(max_iter=2000).fit(images[train], y[train])
    score = model.predict_proba(images)[:, 1]
    ids = np.arange(len(y))
    features = {p: images[:, int(p[1:])] for p in PIXELS}
    band = np.array(["dark", "mid", "bright"])[np.digitize(images[:, 35], [5, 12])]
    side = {"r": slice(0, n_r), "l": slice(n_r, None)}

    def table(part: str, extra: dict[str, Any]) -> pa.Table:
        rows = side[part]
        return pa.table({"id": ids[rows], **{k: v[rows] for k, v in extra.items()}})

    live_features = table("l", {**features, "band": band})
    missing = pa.array(np.arange(live_features.num_rows) % 50 == 7)
    p10 = pc_if_else(missing, live_features.column("p10"))
    live_features = live_features.set_column(1, "p10", p10)
    times = np.datetime64("2025-01-06", "s") + np.arange(len(y) - n_r) * np.timedelta64(3600, "s")
    decision = (score >= 0.5).astype(np.int64)
    tables = {
        "research_features": table("r", {**features, "band": band}),
        "research_splits": table("r", {"split": np.where(train, "train", "test")}),
        "research_predictions": table("r", {"score": score, "decision": decision}),
        "research_labels": table("r", {"y": y}),
        "live_features": live_features.append_column("event_time", pa.array(times)),
        "live_predictions": table("l", {"score": score, "decision": decision}),
        "live_labels": table("l", {"y": y}),
    }
    columns = {"features": [*PIXELS, "band"], "categorical": ["band"]}
    return write_tables(tmp_path, tables, columns)


def pc_if_else(missing: pa.Array, values: pa.ChunkedArray) -> pa.Array:
    import pyarrow.compute as pc

    return pc.if_else(missing, pa.scalar(None, values.type), values)


def row_path(ctx: Any) -> pd_stage.SteadyResiduals:
    data = pd_stage._concept_data(ctx)
    assert data is not None
    return pd_stage._steady_feature_residuals(ctx, data)


def test_binned_residuals_equal_the_row_path_on_real_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = digits_project(tmp_path)
    binned = pd_stage._binned_steady_residuals(context(path))
    assert binned is not None
    rows = row_path(context(path))
    assert binned[0] == rows[0] and len(binned[0]) >= 8  # the same features and bin labels
    assert "band" in binned[0] and binned[0]["band"][-1] == "(null)"
    for name, expected in rows[1].items():  # features, not rows
        found = binned[1][name]
        np.testing.assert_array_equal(found.n_research, expected.n_research)
        np.testing.assert_array_equal(found.n_live, expected.n_live)
        for field in ("observed", "expected", "p_value"):
            np.testing.assert_allclose(
                getattr(found, field), getattr(expected, field), rtol=1e-9, equal_nan=True
            )
        np.testing.assert_allclose(binned[2][name], rows[2][name], rtol=1e-9, equal_nan=True)
    assert sum(int(r.n_live[-1]) for r in binned[1].values()) > 0  # the missing pixels
    from_bins = as_json(run("PERF006", context(path)))
    monkeypatch.setattr(pd_stage, "_binned_steady_residuals", lambda ctx: None)
    assert from_bins == as_json(run("PERF006", context(path)))


def test_binned_path_reads_no_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PERF006 asks the engine only: reading a whole column or joining rows in memory fails."""
    path = digits_project(tmp_path)
    ctx = context(path)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a whole column was read: {args[1:]}")

    monkeypatch.setattr(LocalEngine, "column", refuse)
    monkeypatch.setattr(LocalEngine, "join", refuse)
    assert run("PERF006", ctx)


def hand_project(tmp_path: Path) -> Path:
    """Research ids 0-3 train (not the baseline: their x = 9 and cat 'z' must not count), ids
    4-7 test: scores .2 .2 .8 .8, labels 0 1 1 1, so the isotonic calibration is .2 -> 0.5,
    .8 -> 1.0 (linear between). Live: scores .5 .2 .8 .65 .2 -> p .75 .5 1 .875 .5."""
    r_ids, l_ids = np.arange(8), 100 + np.arange(5)
    r_score = np.array([0.1, 0.9, 0.3, 0.7, 0.2, 0.2, 0.8, 0.8])
    l_score = np.array([0.5, 0.2, 0.8, 0.65, 0.2])
    tables = {
        "research_features": pa.table(
            {
                "id": r_ids,
                "x": [9.0, 9, 9, 9, 1, 2, 3, 4],
                "cat": ["z", "z", "z", "z", "b", "a", "b", "a"],
            }
        ),
        "research_splits": pa.table({"id": r_ids, "split": ["train"] * 4 + ["test"] * 4}),
        "research_predictions": pa.table(
            {"id": r_ids, "score": r_score, "decision": (r_score >= 0.5).astype(np.int64)}
        ),
        "research_labels": pa.table({"id": r_ids, "y": [0, 1, 0, 1, 0, 1, 1, 1]}),
        "live_features": pa.table(
            {
                "id": l_ids,
                "x": [0.0, 2, 3, 5, None],
                "cat": ["c", "a", "b", "c", None],
                "event_time": np.datetime64("2025-01-06", "s") + np.arange(5) * 3600,
            }
        ),
        "live_predictions": pa.table(
            {"id": l_ids, "score": l_score, "decision": (l_score >= 0.5).astype(np.int64)}
        ),
        "live_labels": pa.table({"id": l_ids, "y": [1, 0, 1, 0, 1]}),
    }
    path = write_tables(tmp_path, tables, {"features": ["x", "cat"], "categorical": ["cat"]})
    text = path.read_text(encoding="utf-8").replace("bins: 5", "bins: 2")
    path.write_text(text, encoding="utf-8")
    return path


def test_binned_sums_by_hand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """x: the baseline's median 2.5 is the edge. Research bins: [1, 2] n 2, positives 1,
    sum p 1.0; [3, 4] n 2, positives 2, sum p 2.0 (residuals 0). Live: x 0 and 2 -> p .75
    and .5 (mean .625); 3 and 5 -> p 1 and .875 (mean .9375); null -> .5. cat: categories in
    first-row order b, a (research baseline), then c (live only)."""
    monkeypatch.setattr(pd_stage, "_steady_features", lambda ctx: ["x", "cat"])
    path = hand_project(tmp_path)
    labels, results, _ = pd_stage._binned_steady_residuals(context(path)) or ({}, {}, {})
    assert labels == {
        "x": ["[-inf, 2.5)", "[2.5, inf)", "(null)"],
        "cat": ["b", "a", "c", "(null)"],
    }
    x, cat = results["x"], results["cat"]
    assert x.n_research.tolist() == [2, 2, 0] and x.n_live.tolist() == [2, 2, 1]
    np.testing.assert_allclose(x.observed, [0.5, 0.5, 1.0], rtol=1e-12)
    np.testing.assert_allclose(x.expected, [0.625, 0.9375, 0.5], rtol=1e-12)
    assert cat.n_research.tolist() == [2, 2, 0, 0] and cat.n_live.tolist() == [1, 1, 2, 1]
    # research residuals: b (y 0, 1; p .5, 1) -> -0.25; a (y 1, 1; p .5, 1) -> +0.25
    np.testing.assert_allclose(cat.expected, [1.0 - 0.25, 0.5 + 0.25, 0.8125, 0.5], rtol=1e-12)
    np.testing.assert_allclose(cat.observed, [1.0, 0.0, 0.5, 1.0], rtol=1e-12)
    rows = row_path(context(path))
    assert rows[0] == labels
    for name in ("x", "cat"):
        np.testing.assert_allclose(results[name].expected, rows[1][name].expected, rtol=1e-12)
