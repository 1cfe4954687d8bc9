"""Tying multiclass score columns to classes by name (`mlcheck.classes`), never by position.

Pure cases first (column names against label sets, each spelled out), then the run-level class
map read from real files through the engine, and `mlcheck validate` in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlcheck.checklist import load_checklist
from mlcheck.classes import (
    ClassMappingError,
    class_map,
    distinct_labels,
    label_sources,
    label_text,
    match_suffixes,
    resolve,
)
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine

REPO = Path(__file__).resolve().parents[1]
CARDS = ["highstreet_card", "prepaid_card", "upmarket_card"]


def test_columns_in_any_order_tie_to_the_label_their_name_ends_with() -> None:
    """The dataset's own column order (prepaid, highstreet, upmarket) is not the sorted label
    order: each column still gets its own class."""
    columns = [
        "y_pred_proba_prepaid_card",
        "y_pred_proba_highstreet_card",
        "y_pred_proba_upmarket_card",
    ]
    found = resolve(columns, CARDS)
    assert found.labels == ("prepaid_card", "highstreet_card", "upmarket_card")
    assert found.columns == tuple(columns) and found.by == "suffix"


def test_a_label_that_is_a_suffix_of_another_takes_the_longest_match() -> None:
    """`card` is a suffix of `upmarket_card`: p_upmarket_card is upmarket_card, p_card is card."""
    found = resolve(["p_upmarket_card", "p_card"], ["card", "upmarket_card"])
    assert found.as_mapping() == {"upmarket_card": "p_upmarket_card", "card": "p_card"}


def test_integer_labels_tie_by_name_too() -> None:
    """Labels 0..11 read as integers: `proba_10` ends with `0` and `10`; the longer one wins."""
    columns = [f"proba_{i}" for i in (3, 10, 0, 11, 1, 2, 4, 5, 6, 7, 8, 9)]
    found = resolve(columns, [str(i) for i in range(12)])
    assert found.labels == tuple(c.removeprefix("proba_") for c in columns)


@pytest.mark.parametrize(
    ("columns", "labels", "fragments"),
    [
        # Names that carry no label: position would be a guess.
        (
            ["p0", "p1", "p2"],
            ["setosa", "versicolor", "virginica"],
            ["columns 'p0', 'p1', 'p2' end with no label"],
        ),
        # Two columns end with the same longest label.
        (
            ["a_card", "b_card"],
            ["card", "x"],
            [
                "'a_card', 'b_card' all end with class 'card'",
                "classes 'card', 'x' without a column",
            ],
        ),
        # A class in the data without a column.
        (["p_a", "p_b"], ["a", "b", "c"], ["class 'c' without a column"]),
    ],
)
def test_columns_that_cannot_be_tied_ask_for_the_mapping(
    columns: list[str], labels: list[str], fragments: list[str]
) -> None:
    with pytest.raises(ClassMappingError) as raised:
        resolve(columns, labels)
    message = raised.value.message
    for fragment in [*fragments, *(repr(c) for c in columns), *(repr(lab) for lab in labels)]:
        assert fragment in message
    assert "`score: {" in message and "<column>" in message


def test_match_suffixes_reports_every_problem_at_once() -> None:
    matched, problems = match_suffixes(["x_a", "y_a", "zzz", "q_b"], ["a", "b"])
    assert matched == {"q_b": "b"}
    assert problems == [
        "column 'zzz' ends with no label",
        "columns 'x_a', 'y_a' all end with class 'a'",
    ]


def test_a_mapping_is_taken_as_written_and_must_cover_every_class_seen() -> None:
    """The mapping's order is the column order; a class never seen in the data is allowed, a
    class seen in the data but missing from the mapping is an error naming it."""
    mapping = {"virginica": "c2", "setosa": "c0", "versicolor": "c1"}
    found = resolve(mapping, ["setosa", "versicolor"])
    assert found.columns == ("c2", "c0", "c1") and found.labels == (
        "virginica",
        "setosa",
        "versicolor",
    )
    assert found.by == "mapping"
    with pytest.raises(ClassMappingError, match=r"also has class 'other'"):
        resolve(mapping, ["other", "setosa"])


def test_labels_compare_as_text_with_integral_floats_written_as_integers() -> None:
    """A label column read as float from CSV (1.0) and as int elsewhere (1) is one class."""
    assert label_text(pa.array([1.0, 2.0, None])).to_pylist() == ["1", "2", None]
    assert label_text(pa.array([1.5, 2.0])).to_pylist() == ["1.5", "2"]
    coded = pa.array(["b", "a", "b"]).dictionary_encode()
    assert label_text(coded).to_pylist() == ["b", "a", "b"]
    assert distinct_labels([pa.chunked_array([[2, 1, None]]), pa.array([1.0, 3.0])]) == [
        "1",
        "2",
        "3",
    ]


def test_labels_that_are_lists_are_an_input_error() -> None:
    with pytest.raises(ClassMappingError, match="text or numbers"):
        label_text(pa.array([[1, 2], [3]]))


def test_index_gives_each_value_its_column_position() -> None:
    found = resolve(["p_b", "p_a"], ["a", "b"])
    index = found.index(pa.chunked_array([["a", "b", None, "a"]]))
    np.testing.assert_array_equal(index, [1.0, 0.0, np.nan, 1.0])


# --------------------------------------------------------------------------- from files


def write_project(tmp_path: Path, score: Any, *, live_label: str = "b") -> Path:
    """Research predictions with text targets a/b/c (probability columns named after them) and
    live labels holding `live_label` in one row."""
    research = pa.table(
        {
            "id": [1, 2, 3],
            "score_c": [0.1, 0.1, 0.8],
            "score_a": [0.8, 0.1, 0.1],
            "score_b": [0.1, 0.8, 0.1],
            "y": ["a", "b", "c"],
            "decision": ["a", "b", "c"],
        }
    )
    pq.write_table(research, tmp_path / "research.parquet")
    pq.write_table(pa.table({"id": [9], "y": [live_label]}), tmp_path / "live_labels.parquet")
    pq.write_table(research.drop_columns(["y"]), tmp_path / "live.parquet")
    doc = {
        "key": "id",
        "task": "multiclass",
        "research": {"predictions": {"path": "research.parquet"}},
        "production": {
            "predictions": {"path": "research.parquet"},
            "live": {
                "predictions": {"path": "live.parquet"},
                "labels": {"path": "live_labels.parquet"},
            },
        },
        "columns": {"target": "y", "score": score, "prediction": "decision"},
    }
    path = tmp_path / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_class_map(path: Path) -> Any:
    checklist = load_checklist(path)
    return class_map(StageContext(checklist, LocalEngine(checklist), "performance_drop"))


def test_the_run_ties_columns_from_labels_in_every_label_slot(tmp_path: Path) -> None:
    found = run_class_map(write_project(tmp_path, ["score_c", "score_a", "score_b"]))
    assert found.as_mapping() == {"c": "score_c", "a": "score_a", "b": "score_b"}


def test_a_live_label_with_no_column_is_an_input_error(tmp_path: Path) -> None:
    """Live labels hold class `d`, which no score column ends with."""
    with pytest.raises(
        ClassMappingError,
        match=r"columns\.score \(.*checklist\.yaml:\d+\): .*class 'd' without a column",
    ):
        run_class_map(write_project(tmp_path, ["score_c", "score_a", "score_b"], live_label="d"))


def run_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcheck", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_validate_names_the_columns_and_labels_when_a_mapping_is_needed(tmp_path: Path) -> None:
    """Columns p0/p1/p2 carry no class label: validate exits 2 asking for the mapping."""
    path = write_project(tmp_path, ["score_c", "score_a", "score_b"])
    table = pq.read_table(tmp_path / "research.parquet")
    renamed = table.rename_columns(["id", "p0", "p1", "p2", "y", "decision"])
    pq.write_table(renamed, tmp_path / "research.parquet")
    doc = yaml.safe_load(path.read_text())
    doc["columns"]["score"] = ["p0", "p1", "p2"]
    doc["production"]["live"] = None
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = run_validate(path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    for name in ("'p0'", "'p1'", "'p2'", "'a'", "'b'", "'c'", "score: {"):
        assert name in output
    assert "Traceback" not in output
    doc["columns"]["score"] = {"c": "p0", "a": "p1", "b": "p2"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert run_validate(path).returncode == 0


def test_validate_passes_columns_named_after_their_class(tmp_path: Path) -> None:
    proc = run_validate(write_project(tmp_path, ["score_c", "score_a", "score_b"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_labels_come_from_the_first_table_per_side_that_has_the_target(tmp_path: Path) -> None:
    """Research has the target in labels and features: labels only (as stage 5 reads it). Live
    has it in features only: features. The prediction column: every predictions table."""
    checklist = load_checklist(write_project(tmp_path, ["score_c", "score_a", "score_b"]))
    present = {
        ("research.labels", "y"),
        ("research.features", "y"),
        ("production.live.features", "y"),
        ("research.predictions", "decision"),
        ("production.live.predictions", "decision"),
    }
    found = label_sources(checklist, lambda slot, column: (slot, column) in present)
    assert found == [
        ("research.labels", "y"),
        ("production.live.features", "y"),
        ("research.predictions", "decision"),
        ("production.live.predictions", "decision"),
    ]
