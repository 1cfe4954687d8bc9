"""CI packaging: the GitHub Action (action.yml + scripts/action.sh) and the pre-commit hook.

The action's steps run here as GitHub would run them: each step's `run` in bash, its `env` with
`${{ inputs.* }}` filled from the inputs (or their defaults), `GITHUB_ACTION_PATH` set to this
repository and `GITHUB_STEP_SUMMARY` / `GITHUB_OUTPUT` pointing at files. The install step is
left out (it would download from the package index); `mlcheck` comes from the test environment.
The pre-commit hook's `entry` runs as pre-commit would, with the file names appended.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
_EXPRESSION = re.compile(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}")


def _environment() -> dict[str, str]:
    """PATH finds this environment's `mlcheck`; PYTHONPATH makes it import this tree."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}


def run_action(
    folder: Path, **given: str
) -> tuple[subprocess.CompletedProcess[str], str, dict[str, str]]:
    """Run the action's steps (but install); return the last step, the summary and the outputs."""
    inputs = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    inputs.update(given)
    summary, outputs = folder / "summary.md", folder / "outputs.txt"
    env = {
        **_environment(),
        "GITHUB_ACTION_PATH": str(REPO),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }
    proc = None
    for step in ACTION["runs"]["steps"]:
        if step["id"] == "install":
            continue
        step_env = {
            k: _EXPRESSION.sub(lambda m: inputs[m.group(1)], v) for k, v in step["env"].items()
        }
        proc = subprocess.run(
            ["bash", "-c", step["run"]],
            cwd=folder,
            env={**env, **step_env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert proc is not None
    lines = outputs.read_text().splitlines() if outputs.exists() else []
    written = dict(line.split("=", 1) for line in lines)
    return proc, summary.read_text() if summary.exists() else "", written


def test_action_definition() -> None:
    assert ACTION["runs"]["using"] == "composite"
    steps = ACTION["runs"]["steps"]
    referenced = {
        m for step in steps for v in step.get("env", {}).values() for m in _EXPRESSION.findall(v)
    }
    assert referenced == set(ACTION["inputs"])  # every input is used, and only declared ones
    assert ACTION["inputs"]["checklist"]["required"] is True
    for step in steps:  # inputs reach commands as variables, never pasted in (injection)
        assert "${{" not in step["run"]
    for name, output in ACTION["outputs"].items():
        assert output["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
    assert (REPO / "scripts" / "action.sh").is_file()


def test_ready_model_passes_and_fills_the_summary(tmp_path: Path) -> None:
    checklist = REPO / "checklists" / "credit.yaml"
    proc, summary, outputs = run_action(tmp_path, checklist=str(checklist))
    assert proc.returncode == 0, proc.stderr
    report = (tmp_path / "mlcheck-report.md").read_text()
    assert summary == report and "READY" in report.upper()
    assert outputs == {
        "exit-code": "0",
        "report": "mlcheck-report.md",
        "junit": "mlcheck-junit.xml",
        "html": "",
    }
    assert "<testsuites" in (tmp_path / "mlcheck-junit.xml").read_text()
    assert "::error::" not in proc.stdout


def test_not_ready_model_fails_the_step(tmp_path: Path) -> None:
    checklist = REPO / "checklists" / "broken" / "prediction_mismatch.yaml"
    proc, summary, outputs = run_action(tmp_path, checklist=str(checklist))
    assert proc.returncode == 1, proc.stderr
    assert outputs["exit-code"] == "1" and "NOT READY" in summary.upper()
    assert "::error::mlcheck:" in proc.stdout and "not ready" in proc.stdout


def test_json_format_and_extra_args(tmp_path: Path) -> None:
    checklist = REPO / "checklists" / "credit.yaml"
    args = "--only data_reproducibility --fail-on warn"
    proc, summary, outputs = run_action(
        tmp_path, checklist=str(checklist), format="json", junit="", args=args
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "mlcheck-report.json").read_text())
    ran = [s["id"] for s in report["stages"] if s["status"] != "skipped"]
    assert ran == ["data_reproducibility"]
    assert outputs["report"] == "mlcheck-report.json" and outputs["junit"] == ""
    assert summary.startswith("### mlcheck") and '"verdict": "ready"' in summary


def test_bad_checklist_fails_with_the_error_in_the_summary(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nresearch: {}\nproduction: {}\ncolumns: {targt: y}\n")
    proc, summary, outputs = run_action(tmp_path, checklist=str(bad))
    assert proc.returncode == 2
    assert outputs["exit-code"] == "2" and outputs["report"] == ""
    assert "could not run" in summary and "did you mean `target`" in summary
    assert "::error::" in proc.stdout


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    proc, _, _ = run_action(tmp_path, checklist="x.yaml", format="pdf")
    assert proc.returncode == 2 and "format must be markdown, json or terminal" in proc.stdout


# --------------------------------------------------------------------------- pre-commit


def _hook() -> dict[str, Any]:
    (hook,) = [h for h in HOOKS if h["id"] == "mlcheck-validate"]
    return hook


def test_hook_selects_checklist_files() -> None:
    files = re.compile(_hook()["files"])
    assert files.search("checklists/credit.yaml") and files.search("ci/model.mlcheck.yml")
    assert not files.search("sample_data/credit/research/environment.yaml")
    assert not files.search("checklists/README.md")


@pytest.mark.parametrize("good_only", [True, False])
def test_hook_entry_on_good_and_bad_checklists(tmp_path: Path, good_only: bool) -> None:
    bad = tmp_path / "checklists" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("version: 1\nresearch:\n  features: {path: missing.parquet}\nproduction: {}\n")
    files = ["checklists/credit.yaml"] + ([] if good_only else [str(bad)])
    proc = subprocess.run(
        [*shlex.split(_hook()["entry"]), *files],
        cwd=REPO,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == (0 if good_only else 1), proc.stderr
    assert "checklists/credit.yaml is valid" in proc.stderr
    assert good_only or "missing.parquet" in proc.stderr


def test_args_on_several_lines_all_reach_mlcheck(tmp_path: Path) -> None:
    """`args: |` in a workflow keeps its newlines: every line is arguments, not only the first."""
    checklist = REPO / "checklists" / "credit.yaml"
    args = "--fail-on warn\n--only data_reproducibility\n"
    proc, _, outputs = run_action(tmp_path, checklist=str(checklist), format="json", args=args)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "mlcheck-report.json").read_text())
    assert [s["id"] for s in report["stages"] if s["status"] != "skipped"] == [
        "data_reproducibility"
    ]
    assert outputs["exit-code"] == "0"


def test_a_report_left_by_an_earlier_step_is_not_shown_as_this_one(tmp_path: Path) -> None:
    """Two checklists checked in one job write the same default report: when the second cannot
    run, the summary says so instead of showing the first one's report as the second's."""
    (tmp_path / "mlcheck-report.md").write_text("## earlier checklist: READY\n")
    (tmp_path / "mlcheck-junit.xml").write_text("<testsuites/>\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nresearch: {}\nproduction: {}\ncolumns: {targt: y}\n")
    proc, summary, outputs = run_action(tmp_path, checklist=str(bad))
    assert proc.returncode == 2
    assert "earlier checklist" not in summary and "could not run" in summary
    assert outputs["report"] == "" and outputs["junit"] == ""
