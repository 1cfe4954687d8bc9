"""Stage 5 for multiclass models: columns tied to classes by name, estimation without labels.

The data is NannyML's synthetic multiclass ("credit card") dataset, a sample committed under
tests/data (from NannyML 0.13.1's bundled `mc_reference.csv`, `mc_analysis.csv` and
`mc_analysis_gt.csv`, Apache-2.0): every third row, reference 20,000 rows as research, analysis
20,000 rows as live traffic, whose second half lost accuracy (0.76 -> 0.56 realized) while the
inputs' relation to the label changed. The probability columns are written under their real
names and in the dataset's own order (prepaid, highstreet, upmarket), which is NOT the sorted
label order: tying columns to classes by position would pair two of them wrongly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn import metrics as skm

from mlcheck.checklist import load_checklist
from mlcheck.classes import ClassMappingError
from mlcheck.context import StageContext
from mlcheck.engine import LocalEngine
from mlcheck.registry import REGISTRY
from mlcheck.results import Finding, Status
from mlcheck.stages import performance_drop as pd_stage

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "nannyml_multiclass.parquet"
CARDS = ("prepaid_card", "highstreet_card", "upmarket_card")
COLUMNS = [f"y_pred_proba_{c}" for c in CARDS]
CHUNK = 2000
# NannyML 0.13.1 CBPE (chunk_size=2000) on the same sample: estimated accuracy per chunk.
NANNYML_ACCURACY = [
    0.755125, 0.761533, 0.764178, 0.754611, 0.755947,
    0.639847, 0.639529, 0.640372, 0.644702, 0.643561,
]  # fmt: skip


def sample() -> tuple[pa.Table, pa.Table]:
    """(research, live) tables: id, the three probability columns, y_pred, y_true (text)."""
    table = pq.read_table(DATA)
    analysis = np.asarray(table.column("analysis").to_numpy(), dtype=bool)
    data: dict[str, Any] = {"id": np.arange(table.num_rows)}
    for card, name in zip(CARDS, COLUMNS, strict=True):
        data[name] = table.column(f"p_{card}").to_numpy() / 100
    for name in ("y_pred", "y_true"):
        data[name] = table.column(name).cast(pa.string())
    full = pa.table(data)
    return full.filter(pa.array(~analysis)), full.filter(pa.array(analysis))


def write(
    tmp_path: Path,
    *,
    live_labels: bool | int,
    score: Any = None,
    metric: str | None = None,
    research: pa.Table | None = None,
) -> Path:
    reference, live = sample()
    reference = research if research is not None else reference
    pq.write_table(reference, tmp_path / "research.parquet")
    pq.write_table(live.drop_columns(["y_true"]), tmp_path / "live.parquet")
    production: dict[str, Any] = {"live": {"predictions": {"path": "live.parquet"}}}
    if live_labels:
        # True: every live row labelled; a number: only the oldest that many (delayed labels).
        labelled = live.select(["id", "y_true"])
        if live_labels is not True:
            labelled = labelled.slice(0, live_labels)
        pq.write_table(labelled, tmp_path / "live_labels.parquet")
        production["live"]["labels"] = {"path": "live_labels.parquet"}
    stage: dict[str, Any] = {"max_drop": 0.05, "chunk": {"size": CHUNK}}
    if metric:
        stage["metric"] = metric
    doc = {
        "key": "id",
        "task": "multiclass",
        "research": {"predictions": {"path": "research.parquet"}},
        "production": production,
        "columns": {"target": "y_true", "score": score or COLUMNS, "prediction": "y_pred"},
        "stages": {"performance_drop": stage},
    }
    path = tmp_path / "checklist.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def perf001(path: Path) -> Finding:
    checklist = load_checklist(path)
    ctx = StageContext(checklist, LocalEngine(checklist), pd_stage.STAGE)
    spec = REGISTRY.get("PERF001")
    assert spec is not None
    (found,) = list(spec.func(ctx))
    return found


def test_multiclass_without_labels_is_estimated_per_chunk_and_fails_the_drop(
    tmp_path: Path,
) -> None:
    """No live labels: before, PERF001 warned "cannot be estimated" and the run passed. Now
    each chunk's accuracy is estimated (within half a standard error of NannyML's estimate)
    and the second half, about 0.64 against a 0.75 baseline, fails beyond max_drop 0.05."""
    found = perf001(write(tmp_path, live_labels=False))
    assert found.status is Status.FAIL, found.message
    chunks = found.details["chunks"]
    assert [c["status"] for c in chunks] == ["pass"] * 5 + ["fail"] * 5
    for chunk, reference in zip(chunks, NANNYML_ACCURACY, strict=True):
        half_se = (chunk["upper"] - chunk["lower"]) / (2 * 1.959963984540054) / 2
        assert abs(chunk["estimated"] - reference) <= half_se, (chunk, reference)
        assert chunk["realized"] is None and chunk["n_labelled"] == 0
    assert found.details["estimated"]["method"] == "cbpe"


@pytest.mark.parametrize(
    ("metric", "reference"),
    [
        ("accuracy", skm.accuracy_score),
        ("macro_f1", lambda y, p: skm.f1_score(y, p, average="macro")),
        ("macro_precision", lambda y, p: skm.precision_score(y, p, average="macro")),
        ("macro_recall", lambda y, p: skm.recall_score(y, p, average="macro")),
    ],
)
def test_labelled_chunks_realize_what_scikit_learn_computes(
    tmp_path: Path, metric: str, reference: Any
) -> None:
    """Every live row labelled: each chunk's realized metric is scikit-learn's on that chunk,
    and the baseline is scikit-learn's on the research rows."""
    research, live = sample()
    found = perf001(write(tmp_path, live_labels=True, metric=metric))
    y, pred = live.column("y_true").to_numpy(), live.column("y_pred").to_numpy()
    for i, chunk in enumerate(found.details["chunks"]):
        rows = slice(CHUNK * i, CHUNK * (i + 1))
        assert chunk["realized"] == pytest.approx(reference(y[rows], pred[rows]), abs=1e-12)
    truth, decided = research.column("y_true").to_numpy(), research.column("y_pred").to_numpy()
    assert found.details["baseline"]["value"] == pytest.approx(reference(truth, decided))
    assert found.status is Status.FAIL


def test_delayed_labels_realize_old_chunks_and_estimate_recent_ones(tmp_path: Path) -> None:
    """Labels arrived for the first half of live traffic only: those chunks are realized (as
    scikit-learn computes them) and pass; the unlabelled recent half is estimated with macro F1
    and fails, so the gate catches the drop before its labels arrive."""
    _, live = sample()
    found = perf001(write(tmp_path, live_labels=10_000, metric="macro_f1"))
    chunks = found.details["chunks"]
    y, pred = live.column("y_true").to_numpy(), live.column("y_pred").to_numpy()
    for i, chunk in enumerate(chunks[:5]):
        rows = slice(CHUNK * i, CHUNK * (i + 1))
        expected = skm.f1_score(y[rows], pred[rows], average="macro")
        assert chunk["realized"] == pytest.approx(expected, abs=1e-12)
        assert chunk["estimated"] is None and chunk["status"] == "pass"
    assert all(c["realized"] is None and c["n_labelled"] == 0 for c in chunks[5:])
    assert [c["status"] for c in chunks[5:]] == ["fail"] * 5
    assert found.status is Status.FAIL
    assert found.details["estimated"]["n"] == 10_000


def test_columns_listed_in_the_datasets_order_keep_their_classes(tmp_path: Path) -> None:
    """The issue's case: columns listed as the dataset orders them. Tied by sorted label they
    gave a baseline log loss of 4.75; tied by name it is scikit-learn's log loss with the
    columns in the model's class order. A mapping in yet another order gives the same."""
    research, _ = sample()
    found = perf001(write(tmp_path, live_labels=True, metric="log_loss"))
    ordered = sorted(CARDS)  # scikit-learn's column order: the sorted labels
    proba = np.column_stack([research.column(f"y_pred_proba_{c}").to_numpy() for c in ordered])
    expected = skm.log_loss(research.column("y_true").to_numpy(), proba, labels=ordered)
    assert found.details["baseline"]["value"] == pytest.approx(expected, rel=1e-9)
    assert expected < 1.0
    mapping = dict(zip(CARDS, COLUMNS, strict=True))
    reordered = dict(reversed(list(mapping.items())))
    again = perf001(write(tmp_path, live_labels=True, metric="log_loss", score=reordered))
    assert again.details["baseline"]["value"] == pytest.approx(expected, rel=1e-9)


def test_columns_without_class_names_need_the_mapping(tmp_path: Path) -> None:
    """Probability columns renamed p0/p1/p2: no class label in their names, so the stage stops
    with an input error (exit 2) naming them and the labels, instead of guessing by position."""
    research, _ = sample()
    renamed = research.rename_columns(["id", "p0", "p1", "p2", "y_pred", "y_true"])
    path = write(tmp_path, live_labels=False, score=["p0", "p1", "p2"], research=renamed)
    with pytest.raises(ClassMappingError, match=r"'p0', 'p1', 'p2'.*'highstreet_card'"):
        perf001(path)


def test_the_cli_gate_fails_on_the_unlabelled_multiclass_drop(tmp_path: Path) -> None:
    """The issue's run, end to end: no live labels, accuracy fell in half the chunks. The run
    used to exit 0 with a warning; it exits 1 on PERF001's estimate."""
    path = write(tmp_path, live_labels=False)
    proc = subprocess.run(
        [sys.executable, "-m", "mlcheck", "run", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 1, proc.stderr
    stage = next(s for s in json.loads(proc.stdout)["stages"] if s["id"] == pd_stage.STAGE)
    check = next(c for c in stage["checks"] if c["id"] == "PERF001")
    assert check["status"] == "fail"
