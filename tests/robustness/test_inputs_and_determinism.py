"""Inputs are only read, and results do not wobble.

- The real CLI runs `checklists/credit.yaml` twice and a broken checklist once (subprocesses, each
  with its own string-hash seed): every input file keeps its bytes and mtime, no file appears in
  the input folders, and the two clean runs print the same JSON byte for byte apart from timings.
- Shuffling the rows of every input file (copies in tmp_path, the checklist copied beside them)
  changes no verdict, status, count, example or message. Both runs use calendar chunks
  (`chunk: {every: 2w}`): `chunk: {size: N}` takes rows in file order by definition, so its chunk
  statistics legitimately follow the order. Floats may differ by summation order only (1e-9).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from robustness_support import REPO, Outcome, file_states, run_processes, strip_durations

INPUT_FOLDERS = (REPO / "sample_data" / "credit", REPO / "checklists")
CLEAN = REPO / "checklists" / "credit.yaml"
BROKEN = REPO / "checklists" / "broken" / "variable_availability.yaml"
DURATION = re.compile(r'"duration_s": [0-9.eE+-]+')


@pytest.fixture(scope="module")
def real_runs() -> dict[str, Any]:
    """Input file states before and after three real runs, and the runs' outcomes."""
    before = {str(folder): file_states(folder) for folder in INPUT_FOLDERS}
    clean_1, clean_2, broken = run_processes([(CLEAN, ()), (CLEAN, ()), (BROKEN, ())])
    after = {str(folder): file_states(folder) for folder in INPUT_FOLDERS}
    return {"before": before, "after": after, "clean": (clean_1, clean_2), "broken": broken}


def test_runs_complete_with_their_verdicts(real_runs: dict[str, Any]) -> None:
    clean_1, _ = real_runs["clean"]
    broken: Outcome = real_runs["broken"]
    assert (clean_1.code, clean_1.report["verdict"]) == (0, "ready"), clean_1.stderr
    assert (broken.code, broken.report["stopped_at"]) == (1, "variable_availability"), broken.stderr
    assert "Traceback" not in clean_1.stderr + broken.stderr


def test_inputs_are_untouched(real_runs: dict[str, Any]) -> None:
    """Same files (no new one: no cache, lock or report beside the data), same bytes, same mtime."""
    for folder, before in real_runs["before"].items():
        after = real_runs["after"][folder]
        assert sorted(after) == sorted(before), f"files appeared or vanished in {folder}"
        changed = [name for name in before if after[name] != before[name]]
        assert not changed, f"modified in {folder}: {changed}"


def test_two_runs_print_the_same_json(real_runs: dict[str, Any]) -> None:
    clean_1, clean_2 = real_runs["clean"]
    assert DURATION.search(clean_1.stdout), "the report has timings to ignore"
    assert DURATION.sub("", clean_1.stdout) == DURATION.sub("", clean_2.stdout)


# --------------------------------------------------------------------------- shuffled rows


def copy_inputs(destination: Path, rng: np.random.Generator | None) -> None:
    """sample_data/credit under `destination` with the same names, rows permuted when `rng`.

    CSV lines are permuted as text (the header stays first), so every value keeps its spelling.
    """
    source_root = REPO / "sample_data" / "credit"
    for path in sorted(source_root.rglob("*")):
        if not path.is_file():
            continue
        target = destination / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        if rng is not None and path.suffix == ".parquet":
            table = pq.read_table(path)
            pq.write_table(table.take(rng.permutation(table.num_rows)), target)
        elif rng is not None and path.suffix == ".csv":
            header, *rows = path.read_bytes().rstrip(b"\n").split(b"\n")
            order = rng.permutation(len(rows))
            target.write_bytes(b"\n".join([header, *(rows[i] for i in order)]) + b"\n")
        else:
            shutil.copyfile(path, target)


def copy_checklist(checklist: Path, destination: Path) -> Path:
    """The checklist beside the copied data (same relative paths), chunked by calendar weeks."""
    target = destination / checklist.relative_to(REPO)
    target.parent.mkdir(parents=True, exist_ok=True)
    text, count = re.subn(r"chunk: \{size: \d+\}", "chunk: {every: 2w}", checklist.read_text())
    assert count == 1, "the checklist's chunk setting moved; update this test"
    target.write_text(text, encoding="utf-8")
    return target


def assert_same_report(ordered: Any, shuffled: Any, where: str = "report") -> None:
    """Equal apart from float summation noise (relative 1e-9); lists in the same order."""
    if isinstance(ordered, float) and isinstance(shuffled, float):
        assert ordered == pytest.approx(shuffled, rel=1e-9, abs=1e-12, nan_ok=True), where
    elif isinstance(ordered, dict) and isinstance(shuffled, dict):
        assert sorted(ordered) == sorted(shuffled), where
        for key in ordered:
            assert_same_report(ordered[key], shuffled[key], f"{where}.{key}")
    elif isinstance(ordered, list) and isinstance(shuffled, list):
        assert len(ordered) == len(shuffled), where
        for i, (a, b) in enumerate(zip(ordered, shuffled, strict=True)):
            assert_same_report(a, b, f"{where}[{i}]")
    else:
        assert ordered == shuffled, where


@pytest.mark.parametrize("checklist", [CLEAN, BROKEN], ids=["credit", "broken_availability"])
def test_shuffled_rows_change_nothing(checklist: Path, tmp_path: Path, run_cli) -> None:
    copy_inputs(tmp_path / "ordered", None)
    copy_inputs(tmp_path / "shuffled", np.random.default_rng(11))
    ordered = run_cli(copy_checklist(checklist, tmp_path / "ordered"))
    shuffled = run_cli(copy_checklist(checklist, tmp_path / "shuffled"))
    assert ordered.code == shuffled.code and ordered.code in (0, 1), ordered.stderr
    reports = [strip_durations(o.report) for o in (ordered, shuffled)]
    for report in reports:
        report.pop("checklist")  # the copies' own paths
    assert_same_report(*reports)
    permuted = (tmp_path / "shuffled" / "sample_data/credit/live/features.parquet").read_bytes()
    original = (REPO / "sample_data/credit/live/features.parquet").read_bytes()
    assert permuted != original, "the copy was not shuffled"
