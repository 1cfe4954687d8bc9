"""Reports of the real stages on the sample data: the clean checklist and every broken one.

- golden terminal and markdown reports for each (durations zeroed; regenerate with
  `MLCHECK_UPDATE_GOLDEN=1 pytest tests/reporters` and read the diff);
- JUnit test-case names do not depend on what passed or failed: the same set, and the same
  count, for the clean run and every broken one (stages that did not run keep their cases);
- at 80 columns the terminal report never splits a word across lines.
"""

from __future__ import annotations

import dataclasses
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from mlcheck.checklist import load_checklist
from mlcheck.reporters import render, terminal
from mlcheck.results import RunResult
from mlcheck.runner import RunOptions, run_checklist

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "sample"
UPDATE = os.environ.get("MLCHECK_UPDATE_GOLDEN") == "1"
NAMES = ["credit", *sorted(p.stem for p in (REPO / "checklists" / "broken").glob("*.yaml"))]


def _path(name: str) -> str:
    return "checklists/credit.yaml" if name == "credit" else f"checklists/broken/{name}.yaml"


def _untimed(result: RunResult) -> RunResult:
    stages = tuple(dataclasses.replace(s, duration_s=0.0) for s in result.stages)
    return dataclasses.replace(result, duration_s=0.0, stages=stages)


@pytest.fixture(scope="module")
def runs() -> dict[str, RunResult]:
    """Each sample checklist run as a user runs it (from the repository root, default options)."""
    here = Path.cwd()
    os.chdir(REPO)  # so the reports name the checklist by its relative path
    try:
        return {n: _untimed(run_checklist(load_checklist(_path(n)), RunOptions())) for n in NAMES}
    finally:
        os.chdir(here)


@pytest.mark.parametrize("suffix", [".txt", ".md"])
@pytest.mark.parametrize("name", NAMES)
def test_sample_report_matches_golden_file(
    runs: dict[str, RunResult], name: str, suffix: str
) -> None:
    fmt = "terminal" if suffix == ".txt" else "markdown"
    actual = render(runs[name], fmt, color=False)
    path = GOLDEN / f"{name}{suffix}"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
    assert path.exists(), f"{path} is missing; run MLCHECK_UPDATE_GOLDEN=1 pytest tests/reporters"
    assert actual == path.read_bytes().decode("utf-8")


def test_every_sample_golden_file_is_checked() -> None:
    expected = {f"{n}{s}" for n in NAMES for s in (".txt", ".md")}
    assert {p.name for p in GOLDEN.iterdir()} == expected


def _cases(result: RunResult) -> list[tuple[str, str]]:
    root = ET.fromstring(render(result, "junit").encode("utf-8"))
    return [(c.get("classname", ""), c.get("name", "")) for c in root.iter("testcase")]


def test_junit_case_names_are_the_same_whatever_passed_or_failed(
    runs: dict[str, RunResult],
) -> None:
    clean = _cases(runs["credit"])
    assert len(clean) == len(set(clean))  # one case per check: no name repeats
    for name in NAMES[1:]:
        broken = _cases(runs[name])
        assert broken == clean, name
        root = ET.fromstring(render(runs[name], "junit").encode("utf-8"))
        assert int(root.get("failures", "0")) > 0, name  # every broken checklist breaks something


def test_stages_that_did_not_run_keep_their_cases_as_skipped(runs: dict[str, RunResult]) -> None:
    root = ET.fromstring(render(runs["data_reproducibility"], "junit").encode("utf-8"))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    features = suites["feature_parity"]
    cases = features.findall("testcase")
    assert len(cases) > 1 and all(c.find("skipped") is not None for c in cases)
    assert features.get("skipped") == str(len(cases))
    assert {c.find("skipped").get("message") for c in cases} == {  # type: ignore[union-attr]
        "not run: data_reproducibility failed"
    }


def test_a_failing_case_lists_every_column_it_failed_on(runs: dict[str, RunResult]) -> None:
    root = ET.fromstring(render(runs["feature_parity"], "junit").encode("utf-8"))
    case = next(c for c in root.iter("testcase") if c.get("name", "").startswith("FEAT008 "))
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == (
        "3 findings: production.features: income, loan_amount, debt_to_income"
    )


_BOX = re.compile(r"[─-╿]+")  # box-drawing characters: panel borders and table rules


def _words(text: str) -> Counter[str]:
    # `·` separates the verdict from the stage counts, which a narrow terminal puts on a new line
    return Counter(w for w in _BOX.sub(" ", text).split() if w != "·")


@pytest.mark.parametrize("name", NAMES)
def test_at_80_columns_no_word_is_split(
    runs: dict[str, RunResult], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The words at 80 columns are exactly the words of the same layout on an endless line."""
    narrow = render(runs[name], "terminal", color=False, width=80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    monkeypatch.setattr(terminal, "TABLE_MIN_WIDTH", 10**6)  # the same stacked layout, unwrapped
    endless = render(runs[name], "terminal", color=False, width=5000)
    assert _words(narrow) == _words(endless)


@pytest.mark.parametrize("name", NAMES)
def test_at_the_default_width_no_slot_name_or_title_word_is_split(
    runs: dict[str, RunResult], name: str
) -> None:
    """Defect: at 110 columns the table folded `production.live.predictions` into
    `production.live.predicti` + `ons`. A table column is as wide as its longest word (up to
    MAX_WORD), so every slot name and title word appears whole."""
    report = render(runs[name], "terminal", color=False, width=110)
    words = set(_BOX.sub(" ", report).split())
    for stage in runs[name].stages:
        for check in stage.checks:
            for word in f"{check.title} {check.source or ''}".split():
                if len(word) <= terminal.MAX_WORD and stage.status.value != "not_run":
                    assert word in words or check.status.value == "pass", (check.id, word)
