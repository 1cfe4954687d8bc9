"""Stage 4, PRD007: a multiclass prediction column must be the most probable class of its row.

Tiny prediction tables (six keys, classes cat/dog/emu, probability columns named after them);
each scenario's defect is written in its docstring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlcheck.checklist import load_checklist
from mlcheck.classes import ClassMappingError
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.registry import REGISTRY
from mlcheck.results import Finding, Status
from mlcheck.stages import prediction_mismatch as pm

PROBABILITIES = {
    "p_cat": [0.7, 0.1, 0.2, 0.5, 0.3, 0.2],
    "p_dog": [0.2, 0.8, 0.1, 0.5, 0.3, 0.3],
    "p_emu": [0.1, 0.1, 0.7, 0.0, 0.4, 0.5],
}
# The arg-max of each row; row 4 ties cat and dog, so either is the most probable.
ARGMAX = ["cat", "dog", "emu", "dog", "emu", "emu"]


def table(prediction: list[str], probabilities: dict[str, list[float]] | None = None) -> pa.Table:
    return pa.table({"id": range(1, 7), **(probabilities or PROBABILITIES), "decision": prediction})


def prd007(tmp_path: Path, research: pa.Table, production: pa.Table, score: Any) -> list[Finding]:
    for name, data in (("research", research), ("production", production)):
        pq.write_table(data, tmp_path / f"{name}.parquet")
    doc = {
        "key": "id",
        "task": "multiclass",
        "research": {"predictions": {"path": "research.parquet"}},
        "production": {"predictions": {"path": "production.parquet"}},
        "columns": {"score": score, "prediction": "decision"},
    }
    path = tmp_path / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    checklist = load_checklist(path)
    spec = REGISTRY.get("PRD007")
    assert spec is not None and spec.stage == pm.STAGE
    return list(spec.func(StageContext(checklist, LocalEngine(checklist), pm.STAGE)))


def test_predictions_that_are_the_argmax_pass_ties_included(tmp_path: Path) -> None:
    """No defect: every prediction is its row's most probable class (row 4 picks cat of a
    cat/dog tie); the columns are listed in another order than the classes sort."""
    tied = ["cat", "dog", "emu", "cat", "emu", "emu"]
    found = prd007(tmp_path, table(ARGMAX), table(tied), ["p_emu", "p_cat", "p_dog"])
    assert [f.status for f in found] == [Status.PASS, Status.PASS]
    assert [f.details["checked"] for f in found] == [6, 6]
    assert found[0].details["tied_by"] == "suffix"
    assert found[0].details["classes"] == {"emu": "p_emu", "cat": "p_cat", "dog": "p_dog"}


def test_a_prediction_below_the_argmax_fails_with_its_pair(tmp_path: Path) -> None:
    """Defect: production predicts dog on row 1 (cat 0.7 is the most probable) and cat on row
    6 (emu 0.5). Research is clean."""
    production = ["dog", "dog", "emu", "dog", "emu", "cat"]
    research, prod = prd007(tmp_path, table(ARGMAX), table(production), ["p_cat", "p_dog", "p_emu"])
    assert research.status is Status.PASS
    assert prod.status is Status.FAIL and prod.observed == 2
    assert prod.details["pairs"] == {"cat->dog": 1, "emu->cat": 1}
    assert [e["key"] for e in prod.details["examples"]] == [1, 6]
    assert prod.details["examples"][0]["most_probable"] == "cat"
    assert prod.details["examples"][0]["prediction"] == "dog"
    assert prod.hint is not None and "score: {class: column}" in prod.hint


def test_a_mapping_that_swaps_two_classes_is_caught(tmp_path: Path) -> None:
    """Defect: the checklist's mapping ties cat to p_dog and dog to p_cat. The predictions are
    right, so every cat or dog row contradicts its (wrongly tied) probabilities, both sides."""
    swapped = {"cat": "p_dog", "dog": "p_cat", "emu": "p_emu"}
    found = prd007(tmp_path, table(ARGMAX), table(ARGMAX), swapped)
    assert [f.status for f in found] == [Status.FAIL, Status.FAIL]
    assert found[1].details["pairs"] == {"cat->dog": 1, "dog->cat": 1}
    assert found[1].details["tied_by"] == "mapping"


def test_binary_and_undeclared_predictions_are_not_checked(tmp_path: Path) -> None:
    """PRD007 needs a multiclass task and a prediction column: the binary fixture yields none."""
    data = pa.table({"id": [1, 2], "score": [0.2, 0.9], "decision": ["x", "y"]})
    for name in ("research", "production"):
        pq.write_table(data, tmp_path / f"{name}.parquet")
    doc = {
        "key": "id",
        "research": {"predictions": {"path": "research.parquet"}},
        "production": {"predictions": {"path": "production.parquet"}},
        "columns": {"score": "score", "prediction": "decision"},
    }
    path = tmp_path / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc))
    checklist = load_checklist(path)
    spec = REGISTRY.get("PRD007")
    assert spec is not None
    assert list(spec.func(StageContext(checklist, LocalEngine(checklist), pm.STAGE))) == []


def test_a_predicted_class_without_a_column_is_an_input_error(tmp_path: Path) -> None:
    """Defect: production predicts `yak`, a class no probability column ends with."""
    production = ["cat", "dog", "emu", "dog", "emu", "yak"]
    with pytest.raises(ClassMappingError, match=r"class 'yak' without a column"):
        prd007(tmp_path, table(ARGMAX), table(production), ["p_cat", "p_dog", "p_emu"])
