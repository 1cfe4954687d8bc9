"""The terminal report in pieces (title, one panel per stage, tail) as the CLI prints it while
stages finish: the pieces add up to the whole report, `--only` prints one line instead of empty
panels, and the CLI's streamed output is the same report."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from mlcheck.checklist import load_checklist
from mlcheck.reporters import render, terminal
from mlcheck.results import RunResult, StageResult, Status
from mlcheck.runner import RunOptions, run_checklist

REPO = Path(__file__).resolve().parents[2]
DURATION = re.compile(r"\d+\.\d\ds")


def test_the_pieces_add_up_to_the_whole_report(full_result: RunResult) -> None:
    style = {"color": False, "width": 90}
    head = terminal.render_head(
        full_result.name, full_result.checklist, full_result.mlcheck_version, **style
    )
    first_two = [s.id for s in full_result.stages[:2]]
    streamed = head + "".join(terminal.render_stage(s, **style) for s in full_result.stages[:2])
    rest = terminal.render(full_result, printed=first_two, **style)
    assert streamed + rest == terminal.render(full_result, **style)
    assert not rest.startswith("mlcheck") and "data_reproducibility" not in rest


def test_stages_not_selected_are_one_line_not_empty_panels() -> None:
    stages = (
        StageResult("data_reproducibility", Status.SKIPPED, reason="not selected (--only)"),
        StageResult("feature_parity", Status.PASS, 0.1, None, ()),
        StageResult("split_reproducibility", Status.SKIPPED, reason="not selected (--only)"),
        StageResult("prediction_mismatch", Status.SKIPPED, reason="no predictions declared"),
    )
    result = RunResult("c.yaml", None, "ready", None, 0.1, stages)
    text = terminal.render(result, color=False)
    assert "not selected (--only): data_reproducibility, split_reproducibility" in text
    assert "SKIPPED  data_reproducibility" not in text
    assert "SKIPPED  prediction_mismatch" in text  # skipped for a reason, not by choice: a panel
    assert text.count("not selected") == 1


def test_the_cli_streams_the_same_report_it_would_print_at_once(tmp_path: Path) -> None:
    checklist = "checklists/broken/split_reproducibility.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "mlcheck", "run", checklist, "--only", "split_reproducibility"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    options = RunOptions(only=("split_reproducibility",))
    here = Path.cwd()
    try:
        os.chdir(REPO)
        result = run_checklist(load_checklist(checklist), options)
    finally:
        os.chdir(here)
    expected = render(result, "terminal", color=False)
    assert DURATION.sub("Xs", done.stdout) == DURATION.sub("Xs", expected)
    assert done.stdout.count("not selected (--only)") == 1 and "SKIPPED" not in done.stdout
