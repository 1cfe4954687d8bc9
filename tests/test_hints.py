"""Every hint that names a setting does what it says.

For each such hint: a tiny fixture makes the check give it, the test applies the setting the
hint names (the value it names, where it names one), and the finding goes quiet. A hint that
promised more than its setting delivers (issue 16: "accept float32 by raising rtol to 1e-6" left
all twelve float32 warnings in place) fails here.

Fixtures (each function's docstring names its defect) are written to tmp_path as parquet.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlcheck.checklist import Checklist
from mlcheck.results import CheckResult, Status
from mlcheck.runner import RunOptions, run_checklist

PROBLEM = (Status.WARN, Status.FAIL)


def _write(folder: Path, name: str, **columns: Any) -> dict[str, str]:
    pq.write_table(pa.table(columns), folder / f"{name}.parquet")
    return {"path": f"{name}.parquet"}


def _run(folder: Path, stage: str, spec: dict[str, Any]) -> list[CheckResult]:
    checklist = Checklist.model_validate({**spec, "base_dir": str(folder)})
    result = run_checklist(checklist, RunOptions(only=(stage,)))
    return [c for s in result.stages for c in s.checks]


def _problem(results: list[CheckResult], check_id: str, hint: str) -> CheckResult:
    found = [r for r in results if r.id == check_id and r.status in PROBLEM and r.counts]
    assert found, f"{check_id} did not fire: {[(r.id, r.status.value) for r in results]}"
    assert hint in (found[0].hint or ""), found[0].hint
    return found[0]


def _quiet(results: list[CheckResult], check_id: str) -> None:
    loud = [
        (r.status.value, r.message)
        for r in results
        if r.id == check_id and r.status in PROBLEM and r.counts  # an accepted one is quiet
    ]
    assert not loud, loud
    assert any(r.id == check_id for r in results), f"{check_id} did not run"


def _named_value(hint: str, setting: str) -> float:
    match = re.search(rf"{re.escape(setting)} to ([0-9.e+-]+?)\.?(?:\s|$)", hint)
    assert match, f"the hint names no value for {setting}: {hint}"
    return float(match.group(1))


def _raw(folder: Path, research: dict[str, Any], production: dict[str, Any]) -> dict[str, Any]:
    return {
        "research": {"raw": {"t": _write(folder, "r", **research)}},
        "production": {"raw": {"t": _write(folder, "p", **production)}},
    }


def test_raw002_extra_columns_go_quiet_in_columns_ignore(tmp_path: Path) -> None:
    """Production has a column `note` research never had."""
    spec = _raw(tmp_path, {"id": [1, 2]}, {"id": [1, 2], "note": ["a", "b"]})
    spec["key"] = "id"
    _problem(_run(tmp_path, "data_reproducibility", spec), "RAW002", "columns.ignore")
    spec["columns"] = {"ignore": ["note"]}
    _quiet(_run(tmp_path, "data_reproducibility", spec), "RAW002")


def test_raw_keyless_float_noise_goes_quiet_when_key_is_declared(tmp_path: Path) -> None:
    """No key; production's `x` carries 1e-12 relative noise, so exact row matching sees lost
    and extra rows."""
    x = np.array([1.0, 2.0, 3.0])
    spec = _raw(tmp_path, {"id": [1, 2, 3], "x": x}, {"id": [1, 2, 3], "x": x * (1 + 1e-12)})
    lost = _problem(_run(tmp_path, "data_reproducibility", spec), "RAW007", "declare `key:`")
    assert lost.details["by"] == "row"
    spec["key"] = "id"
    results = _run(tmp_path, "data_reproducibility", spec)
    for check_id in ("RAW007", "RAW008", "RAW010"):
        _quiet(results, check_id)


def test_raw010_small_relative_differences_go_quiet_at_the_rtol_named(tmp_path: Path) -> None:
    """Production's `x` differs from research's by up to 3e-7 relative (precision noise)."""
    x = np.array([100.0, 200.0, 300.0, 400.0])
    noisy = x * (1 + np.array([3e-7, 1e-7, 0.0, 2e-7]))
    spec = {
        "key": "id",
        **_raw(tmp_path, {"id": [1, 2, 3, 4], "x": x}, {"id": [1, 2, 3, 4], "x": noisy}),
    }
    found = _problem(
        _run(tmp_path, "data_reproducibility", spec), "RAW010", "stages.data_reproducibility.rtol"
    )
    rtol = _named_value(found.hint or "", "stages.data_reproducibility.rtol")
    spec["stages"] = {"data_reproducibility": {"rtol": rtol}}
    _quiet(_run(tmp_path, "data_reproducibility", spec), "RAW010")


def test_raw006_duplicate_keys_go_quiet_with_the_full_composite_key(tmp_path: Path) -> None:
    """`a` alone repeats (a=1 twice on both sides); (a, b) is unique."""
    rows = {"a": [1, 1, 2], "b": [1, 2, 1], "x": [1.0, 2.0, 3.0]}
    spec = {"key": "a", **_raw(tmp_path, rows, rows)}
    _problem(_run(tmp_path, "data_reproducibility", spec), "RAW006", "full composite key")
    spec["key"] = ["a", "b"]
    _quiet(_run(tmp_path, "data_reproducibility", spec), "RAW006")


def _features(folder: Path, research: dict[str, Any], production: dict[str, Any]) -> dict[str, Any]:
    return {
        "research": {"features": _write(folder, "rf", **research)},
        "production": {"features": _write(folder, "pf", **production)},
    }


def test_feat012_float32_columns_go_quiet_by_the_accept_entry_the_hint_names(
    tmp_path: Path,
) -> None:
    """Production stores `x` and `y` as float32 (12 warnings in the issue were this)."""
    values = np.linspace(0.1, 10.0, 50)
    spec = _features(
        tmp_path,
        {"id": np.arange(50), "x": values, "y": values * 3},
        {"id": np.arange(50), "x": values.astype(np.float32), "y": (values * 3).astype(np.float32)},
    )
    spec["key"] = "id"
    found = _problem(_run(tmp_path, "feature_parity", spec), "FEAT012", "`accept:`")
    assert "rtol" not in (found.hint or "")  # no tolerance turns a float32 column into float64
    spec["stages"] = {"feature_parity": {"rtol": 1e-6}}  # what the old hint promised: still loud
    _problem(_run(tmp_path, "feature_parity", spec), "FEAT012", "`accept:`")
    spec["accept"] = [{"check": "FEAT012", "reason": "float32 feature store"}]
    _quiet(_run(tmp_path, "feature_parity", spec), "FEAT012")


def test_feat012_float32_noise_in_float64_columns_goes_quiet_at_the_rtol_named(
    tmp_path: Path,
) -> None:
    """Both sides float64; production's `x` went through float32 arithmetic (5e-7 relative)."""
    x = np.linspace(1.0, 50.0, 40)
    spec = _features(
        tmp_path, {"id": np.arange(40), "x": x}, {"id": np.arange(40), "x": x * (1 + 5e-7)}
    )
    spec["key"] = "id"
    found = _problem(
        _run(tmp_path, "feature_parity", spec), "FEAT012", "stages.feature_parity.rtol"
    )
    spec["stages"] = {
        "feature_parity": {"rtol": _named_value(found.hint or "", "stages.feature_parity.rtol")}
    }
    results = _run(tmp_path, "feature_parity", spec)
    _quiet(results, "FEAT012")
    _quiet(results, "FEAT008")


def test_feat003_unkeyed_features_go_quiet_when_key_is_declared(tmp_path: Path) -> None:
    """No key declared for identical feature tables."""
    spec = _features(tmp_path, {"id": [1, 2], "x": [1.0, 2.0]}, {"id": [1, 2], "x": [1.0, 2.0]})
    _problem(_run(tmp_path, "feature_parity", spec), "FEAT003", "Declare `key:`")
    spec["key"] = "id"
    _quiet(_run(tmp_path, "feature_parity", spec), "FEAT003")


def test_prd004_tiny_uniform_differences_go_quiet_at_the_atol_named(tmp_path: Path) -> None:
    """Production's scores are research's plus up to 4e-6 on every row (a library change)."""
    n = 200
    score = np.linspace(0.05, 0.95, n)
    noise = 1e-6 + 3e-6 * (np.arange(n) % 2)
    spec = {
        "key": "id",
        "columns": {"score": "p"},
        "research": {"predictions": _write(tmp_path, "rp", id=np.arange(n), p=score)},
        "production": {"predictions": _write(tmp_path, "pp", id=np.arange(n), p=score + noise)},
    }
    found = _problem(
        _run(tmp_path, "prediction_mismatch", spec), "PRD004", "stages.prediction_mismatch.atol"
    )
    assert found.details["pattern"] == "tiny_uniform"
    atol = _named_value(found.hint or "", "stages.prediction_mismatch.atol")
    spec["stages"] = {"prediction_mismatch": {"atol": atol}}
    _quiet(_run(tmp_path, "prediction_mismatch", spec), "PRD004")


def test_temporal_split_without_timestamp_goes_quiet_when_columns_timestamp_is_declared(
    tmp_path: Path,
) -> None:
    """`temporal: true` but no timestamp column declared; the data is split at a cutoff."""
    n = 20
    rows = {
        "id": np.arange(n),
        "split": ["train"] * 15 + ["test"] * 5,
        "t": pa.array(np.arange(n).astype("datetime64[D]")),
    }
    spec: dict[str, Any] = {
        "key": "id",
        "columns": {"split": "split"},
        "research": {"splits": _write(tmp_path, "rs", **rows)},
        "production": {"splits": _write(tmp_path, "ps", **rows)},
        "stages": {"split_reproducibility": {"temporal": True}},
    }
    results = _run(tmp_path, "split_reproducibility", spec)
    leak = next(r for r in results if "columns.timestamp" in (r.hint or ""))
    assert leak.status is Status.WARN
    spec["columns"]["timestamp"] = "t"
    _quiet(_run(tmp_path, "split_reproducibility", spec), leak.id)


def test_undefined_baseline_goes_quiet_when_baseline_is_given(tmp_path: Path) -> None:
    """Research labels hold one class only, so the baseline roc_auc cannot be computed."""
    n = 300
    rng = np.random.default_rng(7)
    score = rng.uniform(size=n)
    live_labels = (rng.uniform(size=n) < score).astype(np.int64)
    spec: dict[str, Any] = {
        "key": "id",
        "columns": {"score": "p", "target": "y"},
        "research": {
            "predictions": _write(tmp_path, "rp", id=np.arange(n), p=score, y=np.zeros(n, np.int64))
        },
        "production": {
            "live": {
                "predictions": _write(tmp_path, "lp", id=np.arange(n), p=score),
                "labels": _write(tmp_path, "ll", id=np.arange(n), y=live_labels),
            }
        },
    }
    results = _run(tmp_path, "performance_drop", spec)
    found = next(r for r in results if "give `baseline:`" in (r.hint or ""))
    assert found.status is Status.WARN
    spec["stages"] = {"performance_drop": {"baseline": 0.7, "max_drop": 0.5}}
    results = _run(tmp_path, "performance_drop", spec)
    assert not [r for r in results if "give `baseline:`" in (r.hint or "")]
    _quiet(results, found.id)


def test_missing_live_timestamp_goes_quiet_without_max_staleness(tmp_path: Path) -> None:
    """`columns.timestamp` is `t`, which the live features lack, so staleness cannot be measured."""
    spec: dict[str, Any] = {
        "key": "id",
        "columns": {"timestamp": "t"},
        "research": {"features": _write(tmp_path, "rf", id=[1, 2], x=[1.0, 2.0], t=[1, 2])},
        "production": {"live": {"features": _write(tmp_path, "lf", id=[3, 4], x=[1.5, 2.5])}},
    }
    found = _problem(
        _run(tmp_path, "variable_availability", spec), "VAR007", "max_staleness to null"
    )
    assert "stages.variable_availability.max_staleness" in (found.hint or "")
    spec["stages"] = {"variable_availability": {"max_staleness": None}}
    results = _run(tmp_path, "variable_availability", spec)
    assert not [r for r in results if r.id == "VAR007"]  # the check no longer runs at all


# Each setting a stage's hint may name -> the test above that applies it.
COVERED = {
    "columns.ignore": test_raw002_extra_columns_go_quiet_in_columns_ignore,
    "declare `key:`": test_raw_keyless_float_noise_goes_quiet_when_key_is_declared,
    "stages.data_reproducibility.rtol": test_raw010_small_relative_differences_go_quiet_at_the_rtol_named,
    "full composite key": test_raw006_duplicate_keys_go_quiet_with_the_full_composite_key,
    "`accept:`": test_feat012_float32_columns_go_quiet_by_the_accept_entry_the_hint_names,
    "stages.feature_parity.rtol": test_feat012_float32_noise_in_float64_columns_goes_quiet_at_the_rtol_named,
    "Declare `key:`": test_feat003_unkeyed_features_go_quiet_when_key_is_declared,
    "stages.prediction_mismatch.atol": test_prd004_tiny_uniform_differences_go_quiet_at_the_atol_named,
    "Declare columns.timestamp": test_temporal_split_without_timestamp_goes_quiet_when_columns_timestamp_is_declared,
    "give `baseline:`": test_undefined_baseline_goes_quiet_when_baseline_is_given,
    "stages.variable_availability.max_staleness": test_missing_live_timestamp_goes_quiet_without_max_staleness,
}
# How a hint names a setting: a dotted stages./columns. path, a `key:`-style key, `accept:`.
SETTING = re.compile(r"stages\.[a-z_]+\.[a-z_0-9]+|columns\.[a-z_]+|`[a-z_]+:`|composite key")


def _hint_texts() -> list[str]:
    """Every string (f-string parts joined) in the stage modules that is not a docstring."""
    import ast

    texts = []
    for path in sorted((Path(__file__).parents[1] / "mlcheck" / "stages").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                texts.append("".join(v.value for v in node.values if isinstance(v, ast.Constant)))
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
            ):
                texts.append(node.value)
    return texts


def test_every_hint_naming_a_setting_has_a_test_applying_it() -> None:
    hints = [
        t for t in _hint_texts() if re.search(r"(?i)\b(set|declare|add|give|accept|raise)\b", t)
    ]
    naming = [t for t in hints if SETTING.search(t)]
    uncovered = [t for t in naming if not any(phrase in t for phrase in COVERED)]
    # Messages (not hints) that mention a setting to say what was not checked are fine:
    uncovered = [t for t in uncovered if not t.startswith(("temporal: true", "`chunk:"))]
    assert not uncovered, uncovered
